"""A worker killed outright (SIGKILL: no warm shutdown) mid-task: its task is handed to
another worker once the broker's visibility timeout has passed, and completes.

A real worker on a private redis-server, with a visibility timeout of a few seconds (the
settings derive it from the task time limits; docs/operations.md gives the bound).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone

from improvement import services
from improvement.models import KPI

from .live import PrivateRedis, Worker, checked_kpi, point_producer_at, wait_until

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = timezone.now()
#: a short visibility timeout for the test; valid because the limits below are shorter
VISIBILITY_TIMEOUT = 6
#: the restore scan's period (CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"])
RESTORE_INTERVAL = 10
WORKER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    "CELERY_TASK_SOFT_TIME_LIMIT": "1",
    "CELERY_TASK_TIME_LIMIT": "2",
    "CIR_TASK_MAX_COUNTDOWN": "1",
}


def _checked(kpi: KPI) -> bool:
    kpi.refresh_from_db()
    return kpi.checked_version is not None and kpi.checked_version == kpi.data_changed_at


def _blocked_on_a_lock() -> bool:
    """Some connection to the test database waits for a lock, now. pg_stat_activity is read
    once per transaction and kept until its end: the test asks from inside the transaction
    that holds the lock, so each look first drops the copy of the previous one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_task_of_a_killed_worker_is_redelivered_after_the_visibility_timeout(
    redis_binary, restore_celery
):
    actor, kpi = checked_kpi("csi-redelivery", "mttr-redelivery", NOW)
    broker = PrivateRedis()
    broker.start()
    first = Worker(broker.url, "celery", env=WORKER_ENV)
    second = Worker(broker.url, "celery", env=WORKER_ENV)
    try:
        point_producer_at(broker.url, "celery")
        # given a measurement whose check is queued (no worker runs yet)
        services.measurement_record(
            kpi=kpi,
            actor=actor,
            points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=1)}],
        )
        assert not _checked(kpi)
        # and a worker that takes the check and is held mid-task (the KPI's row is locked)
        with transaction.atomic():
            KPI.objects.select_for_update().get(pk=kpi.pk)
            assert not _blocked_on_a_lock()  # nobody waits yet
            first.start()
            assert wait_until(_blocked_on_a_lock, timeout=120), "".join(first.lines)
            assert first.said("kpis_check_stale", "received")
            # when the worker is killed outright mid-task
            first.kill()
        assert not _checked(kpi)
        # and another worker starts
        second.start()
        # then the check is delivered to it and completes within the bound
        bound = VISIBILITY_TIMEOUT + RESTORE_INTERVAL + 60  # + start-up (slow on a busy machine)
        assert wait_until(lambda: _checked(kpi), timeout=bound), "".join(second.lines)
    finally:
        first.stop()
        second.stop()
        broker.stop()
    assert second.said("kpis_check_stale", "succeeded")
