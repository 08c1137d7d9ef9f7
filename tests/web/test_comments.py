"""The discussion on the initiative page, the hygiene panel, and duplicates while proposing."""

import pytest

from improvement.choices import Step
from improvement.models import Comment, Initiative

from .. import factories
from ..conftest import force_step
from .conftest import HTMX, after_redirect, page, text, url

pytestmark = pytest.mark.django_db


def post_comment(client, initiative, body, **extra):
    return client.post(url("comment-create", initiative.reference), {"body": body}, **extra)


def test_a_comment_is_escaped_with_links_and_mentions(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    body = "See https://example.org/x?a=1&b=2. <script>alert(1)</script> @tina javascript:x @ghost"
    response = post_comment(client, initiative, body)
    assert response["Location"].endswith("#comments")
    html = after_redirect(client, response).content.decode()
    thread = html.split('id="comments"')[1]
    assert '<a href="https://example.org/x?a=1&amp;b=2" rel="nofollow noopener ugc"' in thread
    assert "<script>alert" not in thread and "&lt;script&gt;alert(1)&lt;/script&gt;" in thread
    assert '<span class="mention">@tina</span>' in thread
    assert '<span class="mention">@ghost</span>' not in thread and "@ghost" in thread
    assert "javascript:x" in thread and 'href="javascript' not in thread


def test_htmx_posts_answer_with_the_thread(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    response = post_comment(client, initiative, "Via htmx", **HTMX)
    assert response.status_code == 200
    assert text(response).lstrip().startswith('<section id="comments"')
    assert "Via htmx" in text(response)
    # an empty comment is refused in place, nothing written
    response = post_comment(client, initiative, "  ", **HTMX)
    assert response.status_code == 422 and "cannot be empty" in text(response)
    assert Comment.objects.count() == 1


def test_edit_and_delete_own_and_csi_deletes_any(client_for, team_member, csi, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    post_comment(client, initiative, "Typo here")
    comment = Comment.objects.get()
    client.post(url("comment-update", initiative.reference, comment.pk), {"body": "Fixed"})
    comment.refresh_from_db()
    assert comment.body == "Fixed" and comment.edited_at
    # a CSI manager cannot edit it (403) but may delete it
    csi_client = client_for(csi)
    update = url("comment-update", initiative.reference, comment.pk)
    assert csi_client.post(update, {"body": "Mine now"}).status_code == 403
    csi_client.post(url("comment-delete", initiative.reference, comment.pk))
    comment.refresh_from_db()
    assert comment.is_deleted and comment.body == "Fixed"
    html = text(csi_client.get(page(initiative)))
    assert "Comment deleted" in html and "Fixed" not in html.split('id="comments"')[1]


def test_a_viewer_reads_the_thread_without_a_form(client_for, viewer, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    post_comment(client_for(team_member), initiative, "Visible to all")
    client = client_for(viewer)
    html = text(client.get(page(initiative)))
    assert "Visible to all" in html and "Post the comment" not in html
    assert post_comment(client, initiative, "Me too").status_code == 403
    assert Comment.objects.count() == 1


@pytest.mark.parametrize("comments", [1, 5])
def test_the_page_with_comments_runs_a_fixed_number_of_queries(
    client_for, team_member, make_user, initiative_at, comments, django_assert_num_queries
):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    for n in range(comments):
        post_comment(client, initiative, f"Comment {n} for @tina")
    client.get(page(initiative))
    # as test_initiative.py's page (40), + the comments' mentions 1
    with django_assert_num_queries(41):
        assert client.get(page(initiative)).status_code == 200


def test_the_page_shows_days_in_step_and_the_duplicate_links(client_for, csi, initiative_at):
    keeper = initiative_at(Step.PLAN)
    dup = initiative_at(Step.VISION)
    client = client_for(csi)
    html = text(client.get(page(keeper)))
    assert "Days in this step" in html and "Close as a duplicate" in html
    response = client.post(
        url("close-duplicate", dup.reference), {"duplicate_of": keeper.reference.lower()}
    )
    assert response.status_code == 302
    dup.refresh_from_db()
    assert dup.step == Step.CANCELLED and dup.duplicate_of == keeper
    assert f'Duplicate of</dt><dd><a href="/initiatives/{keeper.reference}/"' in text(
        client.get(page(dup))
    )
    assert dup.reference in text(client.get(page(keeper))).split('id="hygiene"')[1]


def test_closing_as_a_duplicate_is_for_csi_managers(client_for, team_member, initiative_at):
    keeper = initiative_at(Step.PLAN)
    dup = initiative_at(Step.VISION)
    client = client_for(team_member)
    assert "Close as a duplicate" not in text(client.get(page(dup)))
    response = client.post(
        url("close-duplicate", dup.reference), {"duplicate_of": keeper.reference}
    )
    assert response.status_code == 403
    assert Initiative.objects.get(pk=dup.pk).step == Step.VISION


def test_an_unknown_reference_is_a_message_not_an_error(client_for, csi, initiative_at):
    dup = initiative_at(Step.VISION)
    client = client_for(csi)
    response = client.post(url("close-duplicate", dup.reference), {"duplicate_of": "CIR-99999"})
    assert "No initiative has the reference CIR-99999" in text(after_redirect(client, response))
    assert Initiative.objects.get(pk=dup.pk).step == Step.VISION


def test_proposing_shows_similar_open_initiatives(client_for, team_member):
    similar = factories.InitiativeFactory(title="Payroll service restores take too long")
    force_step(factories.InitiativeFactory(title="Payroll service restores are slow"), Step.CLOSED)
    client = client_for(team_member)
    html = text(client.get(url("propose")))
    assert 'id="possible-duplicates"' in html and 'hx-get="/propose/duplicates/"' in html
    found = text(client.get(url("propose-duplicates"), {"title": "payroll restores too long"}))
    assert similar.reference in found and "Similar open initiative" in found
    assert found.count("<li>") == 1
    none = text(client.get(url("propose-duplicates"), {"title": "Printer toner"}))
    assert "No similar open initiative" in none


def test_the_duplicate_lookup_is_for_proposers(client_for, viewer):
    assert client_for(viewer).get(url("propose-duplicates"), {"title": "x"}).status_code == 403


def test_the_propose_page_prefilled_shows_the_duplicates_without_script(client_for, team_member):
    similar = factories.InitiativeFactory(title="Payroll service restores take too long")
    html = text(client_for(team_member).get(url("propose"), {"title": "Payroll restores too long"}))
    assert 'value="Payroll restores too long"' in html
    assert similar.reference in html.split('id="possible-duplicates"')[1]
