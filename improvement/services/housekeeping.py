"""Periodic housekeeping writes: overdue actions."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..choices import EventType
from ..models import Action, Event
from .common import events_schedule_dispatch


def actions_flag_overdue(*, today: dt.date | None = None) -> int:
    """Emit one action.overdue event per unfinished action past its due date.

    An action is reported once per due date (moving the due date re-arms it).
    Returns how many actions were flagged.
    """
    today = today or timezone.localdate()
    with transaction.atomic():
        overdue = list(
            Action.objects.overdue(today)
            .filter(Q(overdue_notified_on__isnull=True) | Q(overdue_notified_on__lt=F("due_date")))
            .select_related("initiative", "owner")
        )
        events = [
            Event(
                id=uuid.uuid4(),
                type=EventType.ACTION_OVERDUE,
                payload={
                    "action_id": action.pk,
                    "title": action.title,
                    "due_date": action.due_date.isoformat(),
                    "owner": action.owner.get_username() if action.owner else None,
                    "initiative_id": action.initiative_id,
                    "initiative": action.initiative.reference,
                    "status": action.status,
                },
            )
            for action in overdue
        ]
        for action in overdue:
            action.overdue_notified_on = today
        Event.objects.bulk_create(events)
        Action.objects.bulk_update(overdue, ["overdue_notified_on"])
        events_schedule_dispatch(e.id for e in events)
    return len(overdue)
