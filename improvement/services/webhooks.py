"""Writes of outbound webhooks: registering receivers, and delivering events to them.

Events are rows written by `event_emit` in the transaction of the change they report.
After commit, `event_dispatch` fans an event out into one WebhookDelivery per subscribed
webhook; each delivery is attempted by its own task (`webhook_deliver`), retried with
exponential back-off until it succeeds or CIR_WEBHOOK_MAX_ATTEMPTS is reached, and every
attempt is logged. `events_dispatch_pending` (periodic) catches up on events and retries
that a broker outage left behind. Every step is idempotent: a task run twice sends nothing
twice, because a delivery is claimed before it is attempted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import permissions
from ..choices import EventType
from ..exceptions import InvalidInput
from ..models import Event, Webhook, WebhookAttempt, WebhookDelivery
from ..webhooks import (
    DeliveryStatus,
    generate_secret,
    secret_fingerprint,
    send,
    signed_headers,
    url_problem,
)
from .common import apply_fields, require, save_validated
from .metrics import metrics_count
from .notifications import notifications_route

log = logging.getLogger(__name__)

WEBHOOK_FIELDS = ("name", "url", "event_types", "active")
#: deliveries and events handled per run of the periodic dispatcher
SWEEP_BATCH = 500


# --- settings --------------------------------------------------------------------------


def _allow_private() -> bool:
    return bool(getattr(settings, "CIR_WEBHOOK_ALLOW_PRIVATE", False))


def max_attempts() -> int:
    """How many attempts a delivery gets before it is given up."""
    return max(1, int(getattr(settings, "CIR_WEBHOOK_MAX_ATTEMPTS", 6)))


def backoff_seconds(attempts_made: int) -> float:
    """The wait before the next attempt: 10 s, 30 s, 90 s, 270 s … (base × 3^(n-1)).

    The base is CIR_WEBHOOK_BACKOFF_SECONDS (10 by default; tests set 0).
    """
    base = float(getattr(settings, "CIR_WEBHOOK_BACKOFF_SECONDS", 10))
    return base * 3 ** max(0, attempts_made - 1)


# --- registering webhooks --------------------------------------------------------------


def _validate(webhook: Webhook) -> None:
    errors = {}
    if not isinstance(webhook.event_types, list) or not all(
        isinstance(t, str) for t in webhook.event_types
    ):
        errors["event_types"] = ["A list of event types is required."]
    else:
        unknown = [t for t in webhook.event_types if t not in EventType.values]
        if unknown:
            errors["event_types"] = [
                f"Unknown event type(s): {', '.join(unknown)}. "
                f"Choose from: {', '.join(EventType.values)}."
            ]
        webhook.event_types = sorted(set(webhook.event_types))
    if isinstance(webhook.url, str) and webhook.url:
        problem = url_problem(webhook.url, allow_private=_allow_private())
        if problem:
            errors["url"] = [problem]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)


def webhook_create(
    *, actor, name: str, url: str, event_types: Iterable[str] = (), active: bool = True
) -> Webhook:
    """Register a webhook (CSI managers) with a fresh signing secret.

    URLs on private, loopback or reserved addresses are refused unless the operator
    setting CIR_WEBHOOK_ALLOW_PRIVATE is on.
    """
    require(permissions.may_manage(actor), "Only a CSI manager manages webhooks.")
    webhook = Webhook(
        name=name,
        url=url,
        event_types=list(event_types),
        active=active,
        created_by=actor,
        secret=generate_secret(),
    )
    webhook.secret_fingerprint = secret_fingerprint(webhook.secret)
    _validate(webhook)
    save_validated(webhook, actor=actor)
    return webhook


def webhook_update(*, webhook: Webhook, actor, **data) -> Webhook:
    """Change a webhook's name, URL, event types or active flag (CSI managers)."""
    require(permissions.may_manage(actor), "Only a CSI manager manages webhooks.")
    if "event_types" in data and data["event_types"] is not None:
        data["event_types"] = list(data["event_types"])
    apply_fields(webhook, data, WEBHOOK_FIELDS)
    _validate(webhook)
    save_validated(webhook, actor=actor)
    return webhook


def webhook_rotate_secret(*, webhook: Webhook, actor) -> Webhook:
    """Give the webhook a new signing secret; the old one stops working at once."""
    require(permissions.may_manage(actor), "Only a CSI manager manages webhooks.")
    webhook.secret = generate_secret()
    webhook.secret_fingerprint = secret_fingerprint(webhook.secret)
    # the history shows the rotation (a new fingerprint, this reason), never the secret
    webhook._change_reason = "Signing secret rotated"
    save_validated(webhook, actor=actor)
    return webhook


def webhook_delete(*, webhook: Webhook, actor) -> None:
    """Remove a webhook with its delivery log (CSI managers)."""
    require(permissions.may_manage(actor), "Only a CSI manager manages webhooks.")
    webhook._history_user = actor  # the history's deletion row names who
    webhook.delete()


# --- dispatching events ----------------------------------------------------------------


def event_body(event: Event) -> bytes:
    """The JSON body sent for an event: {"id", "type", "timestamp", "data"}."""
    message = {
        "id": str(event.id),
        "type": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.payload,
    }
    return json.dumps(message, cls=DjangoJSONEncoder, separators=(",", ":")).encode("utf-8")


def _schedule_deliveries(delivery_ids: list[int]) -> None:
    """After commit, start one delivery task each; a broker outage is left to the sweep."""
    if not delivery_ids:
        return

    def enqueue() -> None:
        from ..tasks import webhook_deliver
        from ..tasks.publish import publish

        for delivery_id in delivery_ids:
            if not publish(webhook_deliver, args=[delivery_id]):
                break

    transaction.on_commit(enqueue, robust=True)


def events_dispatch(*, event_ids: Iterable) -> list[WebhookDelivery]:
    """Fan events out to the active webhooks that want them, and into the people's
    notifications, each event once, set-based: a handful of statements whatever the
    number of events.

    Creates the deliveries, marks the events dispatched and starts delivery after commit.
    Events already dispatched (a task delivered twice, two tasks racing) create nothing:
    the events are locked, and a second dispatcher finds them dispatched.
    """
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update()
            .filter(pk__in=list(event_ids), dispatched_at__isnull=True)
            .order_by("pk")  # one lock order: two dispatchers cannot deadlock
            .only("pk", "type", "payload")
        )
        if not events:
            return []
        # the people's notifications of these events, in this transaction: once, like
        # the deliveries (services/notifications.py). A fault there (a malformed payload)
        # is logged and must not hold up the webhooks: it is rolled back to a savepoint.
        try:
            with transaction.atomic():
                notifications_route(events=events)
        except Exception:
            log.exception("could not route the notifications of %d event(s)", len(events))
        webhooks = list(Webhook.objects.filter(active=True))
        attempt_limit = max_attempts()
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    webhook=w, event=event, next_attempt_at=now, attempt_limit=attempt_limit
                )
                for event in events
                for w in webhooks
                if w.wants(event.type)
            ]
        )
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
        _schedule_deliveries([d.pk for d in deliveries])
    return deliveries


def event_dispatch(*, event_id) -> list[WebhookDelivery]:
    """Fan one event out (see events_dispatch)."""
    return events_dispatch(event_ids=[event_id])


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of one `webhook_deliver` call (None attempt: nothing was due)."""

    attempt: WebhookAttempt | None
    delivery: WebhookDelivery | None
    retry_in: float | None = None


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    """Take a due delivery for one attempt, so that a duplicate task sends nothing."""
    timeout = float(getattr(settings, "CIR_WEBHOOK_TIMEOUT", 5.0))
    lease = now + dt.timedelta(seconds=2 * timeout + 30)
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=lease)
    )


def webhook_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """Make one attempt of a due delivery: sign, POST, log the attempt, plan the next one.

    2xx is success. Anything else (an error status, a timeout, a refused address) is a
    failed attempt; the delivery is due again after `backoff_seconds`, or given up after
    its `attempt_limit` (CIR_WEBHOOK_MAX_ATTEMPTS). The URL's safety is checked again
    here. Returns the outcome, whose `retry_in` tells the task when to try again.
    """
    now = timezone.now()
    if not _claim(delivery_id, now):
        return DeliveryOutcome(None, None)
    delivery = WebhookDelivery.objects.select_related("webhook", "event").filter(pk=delivery_id)
    delivery = delivery.first()
    if delivery is None:  # its webhook was deleted meanwhile
        return DeliveryOutcome(None, None)
    webhook, event = delivery.webhook, delivery.event
    number = delivery.attempt_count + 1
    if not webhook.active:
        result_kwargs = {"error": "The webhook is inactive; not sent."}
        succeeded = False
        final = True
    else:
        body = event_body(event)
        headers = signed_headers(webhook.secret, str(event.id), body)
        timeout = float(getattr(settings, "CIR_WEBHOOK_TIMEOUT", 5.0))
        result = send(webhook.url, body, headers, timeout=timeout, allow_private=_allow_private())
        result_kwargs = {
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
            "response_excerpt": result.response_excerpt,
            "error": result.error,
        }
        succeeded = result.succeeded
        final = succeeded or number >= delivery.attempt_limit
    finished = timezone.now()
    retry_in = None
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, number=number, at=finished, succeeded=succeeded, **result_kwargs
        )
        delivery.attempt_count = number
        if succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
        elif final:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            retry_in = backoff_seconds(number)
            delivery.next_attempt_at = finished + dt.timedelta(seconds=retry_in)
        delivery.save(
            update_fields=[
                "attempt_count",
                "status",
                "delivered_at",
                "next_attempt_at",
                "updated_at",
            ]
        )
        metrics_count(
            webhook_attempts_succeeded=int(succeeded),
            webhook_attempts_failed=int(not succeeded),
            webhook_deliveries_failed=int(final and not succeeded),
        )
    if not succeeded:
        log.info(
            "webhook %s: attempt %s of event %s failed (%s)",
            webhook.pk,
            number,
            event.pk,
            result_kwargs.get("status_code") or result_kwargs.get("error"),
        )
    return DeliveryOutcome(attempt, delivery, retry_in)


def webhook_delivery_retry(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Try a delivery again now (CSI managers), even one that was given up: it gets
    max_attempts() more attempts, on top of those already logged."""
    require(permissions.may_manage(actor), "Only a CSI manager retries webhook deliveries.")
    if delivery.status == DeliveryStatus.SUCCEEDED:
        raise InvalidInput("This delivery has already succeeded.")
    with transaction.atomic():
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.attempt_limit = delivery.attempt_count + max_attempts()
        delivery.save(update_fields=["status", "next_attempt_at", "attempt_limit", "updated_at"])
        _schedule_deliveries([delivery.pk])
    return delivery


@dataclass(frozen=True)
class SweepSummary:
    """What one run of the periodic dispatcher did."""

    events: int
    deliveries: int


def events_dispatch_pending(*, grace_seconds: float = 30, limit: int = SWEEP_BATCH):
    """Catch up on what the broker never ran: events never dispatched, and deliveries due
    for a retry (overdue by more than `grace_seconds`, so their own retry task goes first).

    Safe to run at any time and any number of times: dispatch and delivery are idempotent.
    """
    cutoff = timezone.now() - dt.timedelta(seconds=grace_seconds)
    event_ids = list(
        Event.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    events_dispatch(event_ids=event_ids)
    due = list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__lte=cutoff)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    from ..tasks import webhook_deliver
    from ..tasks.publish import publish

    for delivery_id in due:
        try:
            if not publish(webhook_deliver, args=[delivery_id]):  # broker down: next sweep
                break
        except Exception:  # run in-process, the delivery failed: the next sweep tries again
            log.warning("could not run webhook delivery %s", delivery_id, exc_info=True)
            break
    return SweepSummary(events=len(event_ids), deliveries=len(due))
