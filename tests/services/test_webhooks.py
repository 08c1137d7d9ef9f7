"""Outbound webhooks: Standard Webhooks signatures, URL safety, dispatch after commit,
delivery to a real local HTTP receiver, retries with back-off, and the catch-up sweep."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib import admin
from django.utils import timezone

from improvement import services, tasks
from improvement import webhooks as signing
from improvement.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from improvement.services.common import events_schedule_dispatch
from improvement.webhooks import DeliveryStatus

from ..api.support import World
from ..api.support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

# --- a real receiver ------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that answers with the queued status codes (then 200)
    and verifies every request's signature on its own (not with CIR's code)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "verified": receiver.verify(self.headers, body),
                    }
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                self.wfile.write(b"x" * 2000 if status == 500 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cir-events?tenant=acme"

    def verify(self, headers, body: bytes) -> bool:
        """The Standard Webhooks check, written from the spec."""
        msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        fresh = abs(time.time() - int(timestamp)) < 300
        offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split()]
        return fresh and any(hmac.compare_digest(expected, s) for s in offered)


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hook(world: World, receiver: Receiver, settings) -> Webhook:
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    settings.CIR_WEBHOOK_BACKOFF_SECONDS = 0  # no waiting between attempts in tests
    settings.CIR_WEBHOOK_TIMEOUT = 5
    Webhook.objects.all().delete()
    created = services.webhook_create(actor=world.users["csi"], name="receiver", url=receiver.url)
    receiver.secret = created.secret
    return created


def _event(type_: str = "initiative.created", **payload) -> Event:
    return Event.objects.create(id=uuid.uuid4(), type=type_, payload=payload or {"id": 1})


# --- signatures -----------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_reference_vector():
    # the test vector of the Standard Webhooks reference libraries
    assert (
        signing.sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_generated_secrets_are_whsec_and_32_bytes():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert secret != signing.generate_secret()


def test_verify_refuses_tampering_and_stale_timestamps():
    secret = signing.generate_secret()
    body = b'{"type":"kpi.reverted"}'
    headers = signing.signed_headers(secret, "evt_1", body)
    assert signing.verify(secret, headers, body)
    assert not signing.verify(secret, headers, body + b" ")
    assert not signing.verify(signing.generate_secret(), headers, body)
    old = signing.signed_headers(secret, "evt_1", body, timestamp=int(time.time()) - 3600)
    assert not signing.verify(secret, old, body)
    assert not signing.verify(secret, {}, body)


# --- URL safety -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "http://10.0.0.8/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_private_and_reserved_addresses_are_refused(url):
    assert "private" in signing.url_problem(url, allow_private=False)
    assert signing.url_problem(url, allow_private=True) == ""


@pytest.mark.parametrize(
    "url,problem",
    [
        ("ftp://example.com/", "http"),
        ("javascript:alert(1)", "http"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "valid URL"),
    ],
)
def test_malformed_urls_are_refused(url, problem):
    assert problem in signing.url_problem(url, allow_private=True)


def test_public_address_is_accepted():
    assert signing.url_problem("https://93.184.215.14/hook", allow_private=False) == ""


# --- dispatch -------------------------------------------------------------------------


def test_dispatch_creates_one_delivery_per_subscribed_webhook_once(world: World, hook):
    wants_kpis = Webhook.objects.create(name="kpis", url=hook.url, event_types=["kpi.reverted"])
    Webhook.objects.create(name="off", url=hook.url, active=False)
    event = _event("initiative.created")
    first = services.event_dispatch(event_id=event.id)
    again = services.event_dispatch(event_id=event.id)
    assert [d.webhook for d in first] == [hook]
    assert again == []
    event.refresh_from_db()
    assert event.dispatched_at is not None
    reverted = services.event_dispatch(event_id=_event("kpi.reverted").id)
    assert {d.webhook for d in reverted} == {hook, wants_kpis}


def test_many_events_go_out_in_one_task_per_thousand(
    world: World, monkeypatch, django_capture_on_commit_callbacks
):
    # given a change that emits 2 500 events (a sweep in which many statuses change)
    sent = []
    monkeypatch.setattr(
        tasks.events_dispatch, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    events = [_event() for _ in range(2500)]
    with django_capture_on_commit_callbacks(execute=True):
        events_schedule_dispatch(e.id for e in events)
    # then three tasks carry them, not 2 500
    assert [len(ids) for ids in sent] == [1000, 1000, 500]
    assert {i for ids in sent for i in ids} == {str(e.id) for e in events}


@pytest.mark.parametrize("count", [6, 60])
def test_dispatch_of_many_events_is_set_based(
    world: World, hook, count, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # given events and two webhooks, one of which wants only kpi.reverted
    Webhook.objects.create(name="kpis", url=hook.url, event_types=["kpi.reverted"])
    kinds = ["kpi.reverted", "kpi.status_changed", "kpi.status_changed"]
    events = [_event(kinds[n % 3]) for n in range(count)]
    # when they are dispatched at once: lock, webhooks, deliveries, mark (and a savepoint
    # pair), the notifications' savepoint pair (these events name no initiative: nobody to
    # tell), the same number of statements for 6 events as for 60
    with django_capture_on_commit_callbacks(execute=False), django_assert_num_queries(8):
        deliveries = services.events_dispatch(event_ids=[e.id for e in events])
    # then each event got one delivery per webhook that wants it, and is dispatched once
    assert len(deliveries) == count + count // 3
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert services.events_dispatch(event_ids=[e.id for e in events]) == []


def test_a_change_is_delivered_signed_after_commit(
    world: World, hook, receiver, django_capture_on_commit_callbacks
):
    # when an ITSM tool raises a candidate
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("integration").post(
            "/api/v1/initiatives/",
            {"title": "VPN drops", "external_system": "servicenow", "external_id": "PRB1"},
            format="json",
        )
    assert response.status_code == 201
    # then the receiver got it once, signed, as a Standard Webhooks message
    (request,) = receiver.requests
    assert request["verified"]
    message = json.loads(request["body"])
    assert message["type"] == "initiative.created"
    assert message["data"]["reference"] == response.json()["reference"]
    assert request["headers"]["webhook-id"] == message["id"]
    assert request["headers"]["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 1)


def test_nothing_is_sent_for_a_change_that_rolled_back(world: World, hook, receiver):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.initiative_create(actor=world.users["csi"], title="Never happened")
        raise RuntimeError
    tasks.events_dispatch_pending.apply()
    assert receiver.requests == []
    assert not Event.objects.exists()


def test_a_failed_delivery_is_retried_and_each_attempt_logged(world: World, hook, receiver):
    # given a receiver that fails once, then answers 200
    receiver.answers = [500]
    delivery = services.event_dispatch(event_id=_event().id)[0]
    # when the first attempt runs, it fails and a retry is due
    tasks.webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at is not None
    # and the retry (back-off 0 in tests) succeeds
    tasks.webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 2)
    first, second = WebhookAttempt.objects.filter(delivery=delivery).order_by("number")
    assert (first.status_code, first.succeeded, second.status_code, second.succeeded) == (
        500, False, 200, True,
    )  # fmt: skip
    assert len(first.response_excerpt) == 500  # the receiver said 2000 characters
    assert first.latency_ms >= 0
    # the receiver saw the same message twice, both signed, with the same id
    assert [r["verified"] for r in receiver.requests] == [True, True]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1


def test_a_duplicate_task_sends_nothing_twice(world: World, hook, receiver):
    delivery = services.event_dispatch(event_id=_event().id)[0]
    tasks.webhook_deliver.apply(args=[delivery.pk])
    tasks.webhook_deliver.apply(args=[delivery.pk])
    assert len(receiver.requests) == 1


def test_gives_up_after_the_last_attempt(world: World, hook, receiver, settings):
    settings.CIR_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers = [503, 503, 503, 503]
    delivery = services.event_dispatch(event_id=_event().id)[0]
    for _ in range(5):
        tasks.webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.FAILED, 3)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 3
    # a CSI manager may try it again
    services.webhook_delivery_retry(delivery=delivery, actor=world.users["csi"])
    receiver.answers = []
    tasks.webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 4)


def test_back_off_is_exponential(settings):
    settings.CIR_WEBHOOK_BACKOFF_SECONDS = 10
    from improvement.services.webhooks import backoff_seconds

    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [10, 30, 90, 270]


def test_with_a_broker_the_retry_is_scheduled_with_its_back_off(
    world: World, hook, receiver, settings, monkeypatch
):
    # given a worker (not eager) and the production back-off
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CIR_WEBHOOK_BACKOFF_SECONDS = 10
    receiver.answers = [500, 500]
    scheduled = []
    monkeypatch.setattr(
        tasks.webhook_deliver, "retry", lambda **kwargs: scheduled.append(kwargs["countdown"])
    )
    delivery = services.event_dispatch(event_id=_event().id)[0]
    # when the task runs (as a worker would run it) and fails
    tasks.webhook_deliver.run(delivery.pk)
    # then it asked Celery to run again after 10 s; the next failure waits 30 s
    assert scheduled == [10]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    tasks.webhook_deliver.run(delivery.pk)
    assert scheduled == [10, 30]


def test_redirects_are_not_followed(world: World, hook, receiver):
    receiver.answers = [302]
    delivery = services.event_dispatch(event_id=_event().id)[0]
    tasks.webhook_deliver.apply(args=[delivery.pk])
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.status_code, attempt.succeeded) == (302, False)
    assert len(receiver.requests) == 1


def test_the_url_is_checked_again_at_delivery(world: World, hook, receiver, settings):
    delivery = services.event_dispatch(event_id=_event().id)[0]
    # the operator turns private addresses off after the webhook was registered
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = False
    tasks.webhook_deliver.apply(args=[delivery.pk])
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert "Refused" in attempt.error
    assert receiver.requests == []


def test_an_unreachable_receiver_is_a_logged_failure(world: World, hook, receiver):
    receiver.server.shutdown()
    receiver.server.server_close()
    delivery = services.event_dispatch(event_id=_event().id)[0]
    tasks.webhook_deliver.apply(args=[delivery.pk])
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert attempt.error
    assert attempt.succeeded is False


def test_the_sweep_sends_what_a_broker_outage_left_behind(
    world: World, hook, receiver, django_capture_on_commit_callbacks
):
    # given events recorded while the broker was down (never dispatched)
    events = [_event(), _event("kpi.reverted")]
    # when the periodic task runs
    with django_capture_on_commit_callbacks(execute=True):
        summary = services.events_dispatch_pending(grace_seconds=0)
    # then they are dispatched and delivered
    assert summary.events == 2
    assert sorted(json.loads(r["body"])["id"] for r in receiver.requests) == sorted(
        str(e.id) for e in events
    )
    assert all(r["verified"] for r in receiver.requests)
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 0


def test_the_sweep_retries_deliveries_that_are_due(world: World, hook, receiver):
    receiver.answers = [500]
    delivery = services.event_dispatch(event_id=_event().id)[0]
    tasks.webhook_deliver.apply(args=[delivery.pk])
    summary = services.events_dispatch_pending(grace_seconds=0)
    assert summary.deliveries == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_the_periodic_tasks_have_the_scheduled_names():
    assert tasks.events_dispatch_pending.name == "improvement.tasks.events_dispatch_pending"
    assert tasks.event_dispatch.name == "improvement.tasks.event_dispatch"


def test_an_inactive_webhook_gets_nothing(world: World, hook, receiver):
    delivery = services.event_dispatch(event_id=_event().id)[0]
    services.webhook_update(webhook=hook, actor=world.users["csi"], active=False)
    tasks.webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert receiver.requests == []


def test_only_csi_managers_register_webhooks(world: World):
    from improvement.exceptions import Forbidden

    with pytest.raises(Forbidden):
        services.webhook_create(actor=world.users["owner"], name="x", url="https://example.com/")


# --- the admin ------------------------------------------------------------------------


@pytest.fixture
def registered_admin():
    import improvement.admin.webhooks  # noqa: F401 - registers on import (the admin imports it)

    assert admin.site.is_registered(WebhookDelivery)


def test_deliveries_and_attempts_are_visible_in_the_admin(
    world: World, hook, receiver, registered_admin, client
):
    receiver.answers = [500]
    delivery = services.event_dispatch(event_id=_event().id)[0]
    tasks.webhook_deliver.apply(args=[delivery.pk])
    client.force_login(world.users["csi"])
    world.users["csi"].is_superuser = True
    world.users["csi"].save()
    listing = client.get("/admin/improvement/webhookdelivery/")
    assert listing.status_code == 200
    assert b"initiative.created" in listing.content
    page = client.get(f"/admin/improvement/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"500" in page.content
    assert client.get("/admin/improvement/webhook/").status_code == 200
    assert client.get(f"/admin/improvement/webhook/{hook.pk}/change/").status_code == 200
