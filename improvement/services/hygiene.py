"""Register hygiene: activity stamps, stale initiatives, duplicates.

`initiatives_touch` is what every write on an initiative or its records calls: one UPDATE
of `last_activity_at` (and clears the stale flag, so a later lapse is reported again).
`initiatives_flag_stale` is the periodic job that reports newly stale initiatives once.
`initiative_close_as_duplicate` ends an initiative as a duplicate of another.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .. import permissions
from ..choices import OPEN_STEPS, EventType, Step
from ..exceptions import Conflict, InvalidInput
from ..models import Event, Initiative, stale_condition
from .common import events_schedule_dispatch, require


def initiatives_touch(initiative_ids: Iterable[int], *, at: dt.datetime | None = None) -> None:
    """Record activity on the initiatives now: one UPDATE, no history row, no event."""
    ids = [i for i in initiative_ids if i is not None]
    if ids:
        Initiative.objects.filter(pk__in=ids).update(
            last_activity_at=at or timezone.now(), stale_since=None
        )


def initiatives_touch_for_kpis(kpi_ids: Iterable[int]) -> None:
    """Record activity on the initiatives of these KPIs (new measurements): one UPDATE."""
    ids = list(kpi_ids)
    if ids:
        Initiative.objects.filter(kpis__in=ids).update(
            last_activity_at=timezone.now(), stale_since=None
        )


def initiatives_flag_stale(*, now: dt.datetime | None = None) -> int:
    """Flag the initiatives that went stale since the last run, and emit one
    `initiative.stale` event for each. An initiative is reported again only after new
    activity cleared its flag and it went stale once more. Returns how many were flagged."""
    now = now or timezone.now()
    with transaction.atomic():
        newly = list(
            Initiative.objects.select_for_update()
            .filter(stale_condition(now), stale_since__isnull=True)
            .only("pk", "reference", "accountable_id", "last_activity_at")
            .order_by("pk")
        )
        if not newly:
            return 0
        events = [
            Event(
                id=uuid.uuid4(),
                type=EventType.INITIATIVE_STALE,
                payload={
                    "initiative": i.pk,
                    "reference": i.reference,
                    "owner": i.accountable_id,
                    "days_inactive": max(0, (now - i.last_activity_at).days),
                },
            )
            for i in newly
        ]
        Initiative.objects.filter(pk__in=[i.pk for i in newly]).update(stale_since=now)
        Event.objects.bulk_create(events)
        events_schedule_dispatch(e.id for e in events)
    return len(newly)


#: states a duplicate may point at: an initiative still open, or one that ended well
DUPLICATE_TARGET_STEPS = (*OPEN_STEPS, Step.CLOSED)


def initiative_close_as_duplicate(
    *, initiative: Initiative, actor, duplicate_of: Initiative, reason: str = ""
) -> Initiative:
    """End `initiative` as a duplicate of `duplicate_of` (CSI managers): rejected while it
    is proposed, cancelled otherwise, with the link kept on both (`duplicate_of`, and
    `duplicates` on the other) and in the history and transition log."""
    from .initiatives import initiative_transition

    require(permissions.may_manage(actor), "Only a CSI manager may close a duplicate.")
    if duplicate_of is None or duplicate_of.pk == initiative.pk:
        message = "Choose another initiative: one cannot duplicate itself."
        raise InvalidInput(message, errors={"duplicate_of": [message]})
    if duplicate_of.step not in DUPLICATE_TARGET_STEPS:
        message = f"{duplicate_of.reference} has been {duplicate_of.step}: choose one that is open."
        raise InvalidInput(message, errors={"duplicate_of": [message]})
    if duplicate_of.duplicate_of_id == initiative.pk:
        message = f"{duplicate_of.reference} is itself a duplicate of this initiative."
        raise InvalidInput(message, errors={"duplicate_of": [message]})
    if initiative.is_final:
        raise Conflict(f"{initiative.reference} has already ended.")
    words = f"Duplicate of {duplicate_of.reference}."
    reason = f"{words} {reason.strip()}".strip() if reason and reason.strip() else words
    to = Step.REJECTED if initiative.step == Step.PROPOSED else Step.CANCELLED
    with transaction.atomic():
        moved = initiative_transition(
            initiative=initiative,
            to=to,
            actor=actor,
            reason=reason,
            lessons_learned=words,
        )
        moved.duplicate_of = duplicate_of
        moved._history_user = actor
        moved._change_reason = words
        moved.save(update_fields=["duplicate_of", "updated_at"])
    return moved
