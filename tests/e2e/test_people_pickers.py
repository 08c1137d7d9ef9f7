"""The people pickers in a real browser: an owner picked by typing part of a name, and a
person consulted found with the filter box, with the keyboard only. Fixtures and helpers
from test_browser."""

import re

import pytest

from improvement.choices import Role, Step
from improvement.models import Initiative
from tests import factories

from .test_browser import people, sign_in, swapped  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_an_owner_and_a_person_consulted_are_picked_with_the_keyboard(open_page, people):  # noqa: F811
    # given an initiative owned by Tina, a service owner who may own it and a viewer
    initiative = factories.InitiativeFactory(title="Pick people", accountable=people["tina"])
    initiative.responsible.add(people["tina"])
    Initiative.objects.filter(pk=initiative.pk).update(step=Step.PLAN)
    factories.UserFactory(
        username="sosei", first_name="Samira", last_name="Osei", roles=[Role.SERVICE_OWNER]
    )
    page = open_page()
    sign_in(page, "csi")
    page.goto(f"/initiatives/{initiative.reference}/")
    # when the CSI manager opens the details with the keyboard
    page.get_by_text("Edit details, owner and RACI").focus()
    page.keyboard.press("Enter")
    owner = page.get_by_role("combobox", name="Accountable (owner)")
    # the list offers who may own it, not the viewer
    options = owner.evaluate("e => [...e.list.options].map(o => o.value)")
    assert "Samira Osei (sosei)" in options and not any("victor" in o for o in options)
    # types part of a name over the owner (headless Chromium draws no suggestions to pick
    # from: the part typed is what is sent, and the one person it names is the owner)
    owner.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Osei")
    # finds Victor to consult with the filter box, ticks him, and saves
    consulted = page.get_by_role("group", name="Consulted")
    consulted.get_by_role("searchbox").focus()
    page.keyboard.type("lund")
    assert consulted.get_by_role("checkbox", name="Victor Lund (victor)").is_visible()
    assert not consulted.get_by_role("checkbox", name="Samira Osei (sosei)").is_visible()
    page.keyboard.press("Enter")  # to the first match, not a submit
    page.keyboard.press("Space")
    swapped(
        page, "initiative", lambda: page.get_by_role("button", name="Save details").press("Enter")
    )
    # then both are saved
    assert "Details saved." in page.locator("#initiative").inner_text()
    initiative.refresh_from_db()
    assert initiative.accountable.username == "sosei"
    assert [u.username for u in initiative.consulted.all()] == ["victor"]
    assert re.search(r"Samira Osei", page.locator("#details").inner_text())
