"""A worker process keeps its database connection across tasks (CONN_MAX_AGE, as a web
process does across requests) and replaces one that broke; a task run in-process leaves its
caller's connection alone (cir/celery.py)."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone

from improvement import services
from improvement.tasks import kpis_check_stale

from .live import Worker, checked_kpi, point_producer_at, wait_until

NOW = timezone.now()


def _connections() -> list[tuple[int, str]]:
    """(pid, state) of the client connections to the test database but this process's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_connection_across_tasks_and_replaces_a_broken_one(
    configured_broker, queue, restore_celery
):
    actor, kpi = checked_kpi("csi-connections", "mttr-connections", NOW)
    # connections that other parts of the suite keep (a live server's threads) are not its
    earlier = {pid for pid, _ in _connections()}

    def _other_connections() -> list[tuple[int, str]]:
        return [(pid, state) for pid, state in _connections() if pid not in earlier]

    worker = Worker(configured_broker, queue)
    worker.start()
    try:
        point_producer_at(configured_broker, queue)

        def checks_done() -> int:
            return sum("kpis_check_stale" in ln and "succeeded" in ln for ln in worker.lines)

        def check_a_new_point(hours_ago: int) -> None:
            done = checks_done()
            services.measurement_record(
                kpi=kpi,
                actor=actor,
                points=[{"value": 9.0, "measured_at": NOW - dt.timedelta(hours=hours_ago)}],
            )
            assert wait_until(lambda: checks_done() > done, timeout=30), "".join(worker.lines)

        # given a worker that has run a check
        check_a_new_point(3)
        # then its connection stays open, idle, after the task
        assert wait_until(lambda: [s for _, s in _other_connections()] == ["idle"], timeout=10), (
            _other_connections()
        )
        [(first, _)] = _other_connections()
        # and the next check uses it again
        check_a_new_point(2)
        assert _other_connections() == [(first, "idle")]
        # when that connection is cut (a database restart, a proxy's idle timeout)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        assert wait_until(lambda: not _other_connections(), timeout=10)
        # then the next check opens a new one and succeeds at its first try
        check_a_new_point(1)
        [(second, _)] = _other_connections()
        assert second != first
    finally:
        worker.stop()
    assert not any("Retry in" in line or "raised" in line for line in worker.lines), "".join(
        worker.lines
    )
    kpi.refresh_from_db()
    assert kpi.checked_version == kpi.data_changed_at


@pytest.mark.django_db
def test_a_task_run_in_process_leaves_its_callers_transaction_open():
    _, kpi = checked_kpi("csi-eager", "mttr-eager", NOW)
    with transaction.atomic():
        kpis_check_stale.delay([kpi.pk])  # eager: CELERY_TASK_ALWAYS_EAGER in the tests
        assert connection.connection is not None
        assert not connection.needs_rollback
        with connection.cursor() as cursor:  # the transaction is still usable
            cursor.execute("SELECT 1")
        kpi.refresh_from_db()
        assert kpi.checked_version is not None  # the task ran, here
