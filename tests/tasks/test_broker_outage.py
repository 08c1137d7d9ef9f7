"""Writes during a broker outage: they succeed at once, the broker is tried once per pause
(the circuit breaker of improvement/tasks/publish.py), and the periodic jobs do the work
once the broker is back.

The broker is a private one: a listener that drops every connection (a broker that is
down but whose connection attempts can be counted) or a redis-server of the test's own
that the test stops. The machine's shared Redis is never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from cir.celery import app as celery_app
from improvement import services
from improvement.choices import ImportStatus
from improvement.models import Event, Initiative, ITSMImport, ITSMRecord, KPICheck, WebhookDelivery
from improvement.tasks.publish import CircuitBreaker, breaker
from improvement.webhooks import DeliveryStatus

from ..itsm.reference import SAMPLE
from .live import PrivateRedis, Worker, checked_kpi, declare_queue, point_producer_at, wait_until

NOW = timezone.now()


# --- the breaker alone --------------------------------------------------------------------


def test_the_breaker_refuses_for_its_pause_then_allows_again():
    clock = [100.0]
    b = CircuitBreaker(pause=lambda: 5.0, clock=lambda: clock[0])
    assert b.allows() and not b.is_open
    # when a publish fails
    b.open()
    # then publishes are refused (and counted) for the pause
    clock[0] += 4.9
    assert not b.allows()
    assert b.is_open and b.skipped == 1
    # and allowed again after it: the next publish tries the broker
    clock[0] += 0.2
    assert b.allows() and not b.is_open


def test_the_breaker_is_safe_across_threads():
    b = CircuitBreaker(pause=lambda: 60.0)
    b.open()
    threads = [threading.Thread(target=lambda: [b.allows() for _ in range(1000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.skipped == 8000


# --- a broker that is down ----------------------------------------------------------------


class DeadBroker:
    """A TCP listener that accepts and drops every connection, counting them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.attempts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.attempts += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dead_broker(restore_celery):
    broker = DeadBroker()
    point_producer_at(broker.url, "cir-test-dead")
    yield broker
    broker.close()


@pytest.fixture
def csi_and_kpi(db):
    return checked_kpi("csi-outage", "mttr-outage", NOW)


@pytest.mark.django_db(transaction=True)
def test_writes_with_the_broker_down_succeed_and_try_the_broker_once(dead_broker, csi_and_kpi):
    actor, kpi = csi_and_kpi
    # given the broker is down
    # when a measurement is recorded (its check is published after commit)
    services.measurement_record(
        kpi=kpi, actor=actor, points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=1)}]
    )
    # then it is stored, no error reaches the caller, and the breaker opened
    assert kpi.measurements.count() == 1
    assert breaker.is_open
    assert dead_broker.attempts == 1, "one connection attempt, no retries"
    # when more writes follow during the pause (an initiative emits an event)
    initiative = services.initiative_create(actor=actor, title="Written during the outage")
    services.measurement_record(
        kpi=kpi, actor=actor, points=[{"value": 8.8, "measured_at": NOW - dt.timedelta(hours=2)}]
    )
    # then they succeed without trying the broker again
    assert Initiative.objects.filter(pk=initiative.pk).exists()
    assert kpi.measurements.count() == 2
    assert dead_broker.attempts == 1
    assert breaker.skipped >= 2
    # and what was not sent is left for the periodic jobs to find
    assert Event.objects.filter(dispatched_at__isnull=True).exists()
    kpi.refresh_from_db()
    assert kpi.checked_version != kpi.data_changed_at


@pytest.mark.django_db(transaction=True)
def test_an_import_started_with_the_broker_down_is_run_by_the_periodic_job(
    dead_broker, csi_and_kpi
):
    from improvement.services import itsm
    from improvement.tasks import itsm_imports_start_queued

    actor, _ = csi_and_kpi
    # given an ITSM export uploaded while the broker is down
    job = itsm.itsm_import_start(
        actor=actor, content=SAMPLE.read_bytes(), file_name="export.csv",
        system="servicenow", kind="incident", options={},
    )  # fmt: skip
    # then it is kept, queued, and its task was never sent
    assert dead_broker.attempts == 1 and breaker.is_open
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    # when the broker is back (tasks run in-process here) and the periodic job runs
    celery_app.conf.task_always_eager = True
    breaker.close()
    assert itsm_imports_start_queued() == 0  # a minute's grace for the task of its own
    ITSMImport.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - itsm.IMPORT_RESEND_AFTER
    )
    assert itsm_imports_start_queued() == 1
    # then the import ran, once
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.result["created"] == 180
    assert ITSMRecord.objects.count() == 180
    assert itsm_imports_start_queued() == 0


@pytest.mark.django_db(transaction=True)
def test_the_breaker_tries_the_broker_again_after_its_pause(dead_broker, csi_and_kpi, settings):
    actor, kpi = csi_and_kpi
    settings.CIR_PUBLISH_PAUSE_SECONDS = 0  # the pause is over at once
    for hours in (1, 2):
        services.measurement_record(
            kpi=kpi,
            actor=actor,
            points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=hours)}],
        )
    assert dead_broker.attempts == 2


# --- the whole outage, with a worker ------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 that records the event ids it is sent."""

    def __init__(self):
        self.event_ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.event_ids.append(json.loads(body)["id"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send(task) -> bool:
    try:
        task.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the broker may still be warming up: try again
        return False
    return True


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_an_outage_the_periodic_jobs_do_what_the_writes_could_not_send(
    redis_binary, restore_celery, csi_and_kpi, settings
):
    from improvement.tasks import events_dispatch_pending, kpis_sweep

    # the broker is the test's own, so the worker's default queue is too: the tasks the
    # worker sends itself (deliveries after a dispatch) reach it
    queue = "celery"
    actor, kpi = csi_and_kpi
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    services.webhook_create(actor=actor, name="receiver", url=receiver.url)
    broker = PrivateRedis()
    broker.start()
    worker = Worker(broker.url, queue, env={"CIR_WEBHOOK_ALLOW_PRIVATE": "true"})
    worker.start()
    try:
        point_producer_at(broker.url, queue)
        # given the broker goes down
        broker.stop()
        # when a measurement is recorded and an initiative registered
        point = {"value": 8.5, "measured_at": NOW - dt.timedelta(hours=2)}
        services.measurement_record(kpi=kpi, actor=actor, points=[point])
        initiative = services.initiative_create(actor=actor, title="Registered in the outage")
        # then both are stored, and nothing was sent
        assert breaker.is_open
        assert kpi.measurements.count() == 1
        event = Event.objects.get(type="initiative.created", payload__id=initiative.pk)
        assert event.dispatched_at is None
        # when the broker is back and beat runs the sweep and the dispatcher (the outage
        # was a while ago: the dispatcher leaves events younger than 30 s to their task)
        Event.objects.filter(dispatched_at__isnull=True).update(
            created_at=timezone.now() - dt.timedelta(minutes=2)
        )
        broker.start()
        point_producer_at(broker.url, queue)
        declare_queue(queue)
        assert wait_until(
            lambda: _send(kpis_sweep) and _send(events_dispatch_pending) and _done(kpi, event),
            timeout=60,
            interval=3,
        ), "the periodic jobs never caught up:\n" + "".join(worker.lines)
        assert wait_until(lambda: str(event.pk) in receiver.event_ids, timeout=30), "".join(
            worker.lines
        )
    finally:
        worker.stop()
        broker.stop()
        receiver.close()
    # then the KPI was checked on the point recorded in the outage
    assert KPICheck.objects.filter(kpi=kpi, current=8.5).exists()
    # and the event recorded in the outage was delivered
    assert WebhookDelivery.objects.get(event=event).status == DeliveryStatus.SUCCEEDED


def _done(kpi, event) -> bool:
    kpi.refresh_from_db()
    event.refresh_from_db()
    return kpi.checked_version == kpi.data_changed_at and event.dispatched_at is not None
