"""KPI checks with real parts: a Celery worker process, Redis and PostgreSQL.

These run in CI (CIR_REQUIRE_SERVICES=1 makes a skip a failure). The worker is a
subprocess on the test database; the broker is either the configured Redis (on its own
queue) or a private redis-server this module starts on a spare port, so the machine's
shared services are never stopped or flushed.
"""

import datetime as dt
import time
import uuid

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import KPIStatus
from improvement.models import KPI, KPICheck

from .live import PrivateRedis, Worker, checked_kpi, declare_queue, point_producer_at
from .live import wait_until as _wait_until

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = timezone.now()


@pytest.fixture
def kpi_and_actor():
    actor, kpi = checked_kpi("csi-worker", "mttr-worker", NOW)
    return kpi, actor


def test_a_measurement_is_checked_by_the_worker_within_seconds(
    configured_broker, queue, restore_celery, kpi_and_actor
):
    kpi, actor = kpi_and_actor
    worker = Worker(configured_broker, queue)
    worker.start()
    try:
        point_producer_at(configured_broker, queue)
        started = time.monotonic()
        services.measurement_record(
            kpi=kpi,
            actor=actor,
            points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=1)}],
        )
        assert _wait_until(lambda: KPICheck.objects.filter(kpi=kpi, current=9.0).exists(), 30), (
            "no check appeared:\n" + "".join(worker.lines)
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.ON_TRACK
    assert elapsed < 30
    assert any("kpis_check_stale" in line and "succeeded" in line for line in worker.lines)


def test_broker_outage_loses_nothing_and_the_sweep_catches_up(
    redis_binary, queue, restore_celery, kpi_and_actor
):
    kpi, actor = kpi_and_actor
    broker = PrivateRedis()
    broker.start()
    worker = Worker(broker.url, queue)
    worker.start()
    try:
        point_producer_at(broker.url, queue)
        # given the broker goes down
        broker.stop()
        # when a measurement is recorded, then recording still succeeds
        started = time.monotonic()
        services.measurement_record(
            kpi=kpi,
            actor=actor,
            points=[{"value": 8.5, "measured_at": NOW - dt.timedelta(hours=2)}],
        )
        assert time.monotonic() - started < 20, "recording waited too long on the dead broker"
        kpi.refresh_from_db()
        assert kpi.measurements.count() == 1
        assert kpi.checked_version != kpi.data_changed_at, "the new data is not checked yet"
        # when the broker is back and the periodic sweep runs
        broker.start()
        from improvement.tasks import kpis_sweep

        point_producer_at(broker.url, queue)
        declare_queue(queue)
        assert _wait_until(lambda: _send(kpis_sweep) and _checked(kpi), timeout=60, interval=3), (
            "the sweep never caught up:\n" + "".join(worker.lines)
        )
    finally:
        worker.stop()
        broker.stop()
    check = KPICheck.objects.filter(kpi=kpi).latest("checked_at")
    assert check.current == 8.5
    assert check.measurement_count == 1


def _send(task) -> bool:
    try:
        task.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the broker may still be warming up: try again
        return False
    return True


def _checked(kpi: KPI) -> bool:
    kpi.refresh_from_db()
    return kpi.checked_version is not None and kpi.checked_version == kpi.data_changed_at


def test_a_task_delivered_twice_leaves_one_check_for_the_same_data(
    configured_broker, queue, restore_celery, kpi_and_actor
):
    kpi, actor = kpi_and_actor
    from improvement.tasks import kpis_sweep

    worker = Worker(configured_broker, queue)
    worker.start()
    try:
        point_producer_at(configured_broker, queue)
        services.measurement_record(
            kpi=kpi,
            actor=actor,
            points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=1)}],
        )
        assert _wait_until(lambda: _checked(kpi))
        # the same sweep message delivered twice (same task id, as a redelivery would be)
        task_id = str(uuid.uuid4())
        kpis_sweep.apply_async(task_id=task_id)
        kpis_sweep.apply_async(task_id=task_id)
        assert _wait_until(
            lambda: sum("kpis_sweep" in line and "succeeded" in line for line in worker.lines) >= 2
        ), "".join(worker.lines)
    finally:
        worker.stop()
    kpi.refresh_from_db()
    assert KPICheck.objects.filter(kpi=kpi, data_version=kpi.data_changed_at).count() == 1
