"""The people loop in a real browser: a comment posted in place (htmx) with its mention and
link, and the propose page listing similar open initiatives as the title is typed."""

import pytest

from improvement.choices import Step
from improvement.models import Comment
from tests import factories

from ..conftest import force_step
from .test_browser import people, sign_in  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_comment_is_posted_in_place(open_page, people):  # noqa: F811
    initiative = force_step(
        factories.InitiativeFactory(title="Discussed one", accountable=people["tina"]), Step.PLAN
    )
    page = open_page()
    sign_in(page, "tina")
    page.goto(f"/initiatives/{initiative.reference}/")
    page.evaluate("document.getElementById('comments').dataset.stale = '1'")
    page.get_by_label("Comment").fill("Ready for @csi: https://example.org/cab")
    page.get_by_role("button", name="Post the comment").click()
    page.wait_for_function("() => !document.getElementById('comments').dataset.stale")
    thread = page.locator("#comments")
    assert thread.locator(".mention").inner_text() == "@csi"
    assert thread.get_by_role("link", name="https://example.org/cab").count() == 1
    assert Comment.objects.get().mentions.get().username == "csi"


def test_proposing_lists_similar_open_initiatives_as_the_title_is_typed(open_page, people):  # noqa: F811
    similar = factories.InitiativeFactory(title="Payroll service restores take too long")
    page = open_page()
    sign_in(page, "tina")
    page.goto("/propose/")
    page.get_by_label("What should improve?").fill("Payroll restores too long")
    duplicates = page.locator("#possible-duplicates")
    duplicates.get_by_role("link", name=similar.reference, exact=False).wait_for()
    assert "Similar open initiative" in duplicates.inner_text()
