"""Tasks that deliver outbound events to webhooks. Each takes ids and calls a service.

`events_dispatch` runs after the commit of the change that emitted the events (a task per
1 000; `event_dispatch`, for one event, is kept for messages queued by earlier versions);
`webhook_deliver` makes one attempt and schedules the next with exponential back-off;
`events_dispatch_pending` (every minute, django-celery-beat) catches up on anything a
broker outage left behind.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ..services import webhooks as webhook_services

__all__ = ["event_dispatch", "events_dispatch", "events_dispatch_pending", "webhook_deliver"]

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
RETRY_TRANSIENT = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": settings.CIR_TASK_MAX_COUNTDOWN,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(name="improvement.tasks.events_dispatch", **RETRY_TRANSIENT)
def events_dispatch(event_ids: list[str]) -> int:
    """Fan events out into deliveries (each once); returns how many were created."""
    return len(webhook_services.events_dispatch(event_ids=event_ids))


@shared_task(name="improvement.tasks.event_dispatch", **RETRY_TRANSIENT)
def event_dispatch(event_id: str) -> int:
    """Fan one event out into deliveries (once); returns how many were created."""
    return len(webhook_services.event_dispatch(event_id=event_id))


@shared_task(bind=True, name="improvement.tasks.webhook_deliver", max_retries=None, acks_late=True)
def webhook_deliver(self, delivery_id: int) -> str:
    """One attempt of a delivery; on failure, retry after the back-off the service set.

    Run eagerly (no broker), the retry is not made inline — that would hold up the
    request that emitted the event — but left to `events_dispatch_pending`; so is a retry
    due later than CIR_TASK_MAX_COUNTDOWN (a task waiting in a worker longer than that
    could outlive the broker's visibility timeout and be delivered twice).
    """
    outcome = webhook_services.webhook_deliver(delivery_id=delivery_id)
    if outcome.delivery is None:
        return "not due"
    if (
        outcome.retry_in is not None
        and outcome.retry_in <= settings.CIR_TASK_MAX_COUNTDOWN
        and not (self.request.is_eager or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))
    ):
        try:
            self.retry(countdown=outcome.retry_in, throw=False)
        except Exception:  # broker trouble: the periodic sweep retries it when it is due
            log.warning("could not schedule the retry of delivery %s", delivery_id, exc_info=True)
    return outcome.delivery.status


@shared_task(bind=True, name="improvement.tasks.events_dispatch_pending")
def events_dispatch_pending(self) -> dict:
    """Dispatch events never dispatched and deliveries overdue for a retry.

    With a worker, a failed delivery has its own retry task, so the sweep leaves it a grace
    period; run in-process (the embedded default) no retry task exists, and a delivery is
    retried here as soon as it is due.
    """
    eager = self.request.is_eager or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    summary = webhook_services.events_dispatch_pending(grace_seconds=0 if eager else 30)
    return {"events": summary.events, "deliveries": summary.deliveries}
