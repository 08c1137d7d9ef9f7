"""Watchers: following an initiative to hear of its moves, KPI verdicts and comments.

The Informed of an initiative are its watchers by role: they are told as watchers and
cannot unfollow while they are Informed (they stop being watchers when removed from the
Informed list). Anyone who may read the register may follow any initiative.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .. import permissions
from ..exceptions import Conflict
from ..models import Initiative, Watcher
from .common import require


def initiative_watch(*, actor, initiative: Initiative) -> bool:
    """Follow the initiative; True when the actor was not following it yet (idempotent)."""
    require(permissions.may_view(actor), permissions.NEED_VIEW)
    try:
        with transaction.atomic():
            _, created = Watcher.objects.get_or_create(user=actor, initiative=initiative)
    except IntegrityError:  # a concurrent follow of the same person won
        return False
    return created


def initiative_unwatch(*, actor, initiative: Initiative) -> bool:
    """Stop following; True when a follow was removed. The Informed cannot unfollow
    (Conflict): they are watchers as long as they are Informed."""
    require(permissions.may_view(actor), permissions.NEED_VIEW)
    if initiative.informed.filter(pk=actor.pk).exists():
        raise Conflict(
            "You are Informed on this initiative, so you watch it: ask its owner to remove "
            "you from the Informed list to stop."
        )
    deleted, _ = Watcher.objects.filter(user=actor, initiative=initiative).delete()
    return bool(deleted)
