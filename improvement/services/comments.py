"""Comments on an initiative: post, edit and delete (soft, kept in the history).

A comment is plain text; `@username` mentions are resolved to the active users who may see
the initiative and stored with it (`Comment.mentions`). Posting one records a
`comment.created` event for the notifications.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import permissions
from ..choices import EventType, Role
from ..exceptions import Conflict, InvalidInput
from ..models import Comment, Initiative
from .common import event_emit, require, text_problem
from .hygiene import initiatives_touch

#: the longest comment
MAX_COMMENT_LENGTH = 10_000
#: the excerpt of a comment an event carries
EXCERPT_LENGTH = 200
#: @username, not inside a word or an e-mail address; Django usernames use letters, digits
#: and @ . + - _ (a trailing full stop ends the sentence, not the name)
MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]+[\w+-]|[\w+-])")

NEED_COMMENT = (
    "Only the Improvement team, Service owners, Process owners and CSI managers may comment."
)
NEED_AUTHOR = "Only its author may edit a comment."
NEED_AUTHOR_OR_CSI = "Only its author or a CSI manager may delete a comment."


def mentioned_usernames(body: str) -> list[str]:
    """The usernames written as @username in `body`, in order, each once."""
    seen: dict[str, None] = {}
    for name in MENTION.findall(body or ""):
        seen.setdefault(name, None)
    return list(seen)


def mentionable_users(usernames):
    """The active users among `usernames` who may see an initiative (any CIR role, or a
    superuser): one query."""
    User = get_user_model()
    names = list(usernames)
    if not names:
        return User.objects.none()
    return (
        User.objects.filter(username__in=names, is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=Role.values))
        .distinct()
        .order_by("username")
    )


def may_comment(user) -> bool:
    """Those who work on initiatives take part in the discussion (Improvement team, Service
    and Process owners, CSI managers); Viewers read it (SPEC §5: they read only)."""
    return permissions.may_contribute(user)


def may_edit_comment(user, comment: Comment) -> bool:
    """Its author, while it is not deleted."""
    return comment.deleted_at is None and user is not None and comment.author_id == user.pk


def may_delete_comment(user, comment: Comment) -> bool:
    """Its author or a CSI manager, while it is not deleted."""
    return comment.deleted_at is None and (
        (user is not None and comment.author_id == user.pk) or permissions.is_csi_manager(user)
    )


def _clean_body(body) -> str:
    problem = text_problem(body, MAX_COMMENT_LENGTH)
    if problem is None and not body.strip():
        problem = "Write something: a comment cannot be empty."
    if problem:
        raise InvalidInput(problem, errors={"body": [problem]})
    return body.strip()


def comment_create(*, initiative: Initiative, actor, body: str) -> Comment:
    """Post a comment on the initiative; emits `comment.created` with the people it
    mentions (active users who may see the initiative)."""
    require(may_comment(actor), NEED_COMMENT)
    body = _clean_body(body)
    mentioned = list(mentionable_users(mentioned_usernames(body)))
    with transaction.atomic():
        comment = Comment(initiative=initiative, author=actor, body=body)
        comment._history_user = actor
        comment.save()
        comment.mentions.set(mentioned)
        initiatives_touch([initiative.pk])
        event_emit(
            type=EventType.COMMENT_CREATED,
            payload={
                "initiative": initiative.pk,
                "reference": initiative.reference,
                "comment": comment.pk,
                "author": actor.pk,
                "mentions": [u.pk for u in mentioned],
                "excerpt": body[:EXCERPT_LENGTH],
            },
        )
    return comment


def comment_update(*, comment: Comment, actor, body: str) -> Comment:
    """Change one's own comment; the earlier text stays in the history. Mentions are
    resolved again (no new event: notifications are for new comments)."""
    if comment.deleted_at is not None:
        raise Conflict("This comment was deleted.")
    require(may_edit_comment(actor, comment), NEED_AUTHOR)
    body = _clean_body(body)
    if body == comment.body:
        return comment
    mentioned = list(mentionable_users(mentioned_usernames(body)))
    with transaction.atomic():
        comment.body = body
        comment.edited_at = timezone.now()
        comment._history_user = actor
        comment.save(update_fields=["body", "edited_at", "updated_at"])
        comment.mentions.set(mentioned)
        initiatives_touch([comment.initiative_id])
    return comment


def comment_delete(*, comment: Comment, actor) -> Comment:
    """Delete a comment (its author, or a CSI manager): it stays in the thread as deleted,
    its text kept in the history only."""
    if comment.deleted_at is not None:
        raise Conflict("This comment was already deleted.")
    require(may_delete_comment(actor, comment), NEED_AUTHOR_OR_CSI)
    with transaction.atomic():
        comment.deleted_at = timezone.now()
        comment.deleted_by = actor
        comment._history_user = actor
        comment.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
        initiatives_touch([comment.initiative_id])
    return comment
