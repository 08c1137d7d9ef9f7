"""Comments in the admin: a list with each comment's history; deleting keeps the text."""

import pytest

from improvement.choices import Step
from improvement.models import Comment
from improvement.services import comments

pytestmark = pytest.mark.django_db


def test_comments_are_listed_with_their_history_and_deleted_softly(
    csi_client, initiative_at, team_member
):
    initiative = initiative_at(Step.PLAN)
    comment = comments.comment_create(initiative=initiative, actor=team_member, body="First text")
    comments.comment_update(comment=comment, actor=team_member, body="Second text")
    listing = csi_client.get("/admin/improvement/comment/").content.decode()
    assert "Second text" in listing and initiative.reference in listing
    history = csi_client.get(f"/admin/improvement/comment/{comment.pk}/history/")
    assert history.status_code == 200
    # the bulk action deletes through the service: kept, marked deleted
    response = csi_client.post(
        "/admin/improvement/comment/",
        {"action": "delete_comments", "_selected_action": [comment.pk]},
    )
    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.is_deleted and Comment.objects.count() == 1
    assert comment.history.count() == 3


def test_comments_cannot_be_added_or_changed_in_the_admin(csi_client, initiative_at, team_member):
    comment = comments.comment_create(
        initiative=initiative_at(Step.PLAN), actor=team_member, body="Text"
    )
    assert csi_client.get("/admin/improvement/comment/add/").status_code == 403
    csi_client.post(f"/admin/improvement/comment/{comment.pk}/change/", {"body": "Changed"})
    comment.refresh_from_db()
    assert comment.body == "Text"
