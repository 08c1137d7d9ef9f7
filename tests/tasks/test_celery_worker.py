"""KPI checks with real parts: a Celery worker process, Redis and PostgreSQL.

These run in CI (CIR_REQUIRE_SERVICES=1 makes a skip a failure). The worker is a
subprocess on the test database; the broker is either the configured Redis (on its own
queue) or a private redis-server this module starts on a spare port, so the machine's
shared services are never stopped or flushed.
"""

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from cir.celery import app as celery_app
from improvement import services
from improvement.choices import KPIStatus, Step
from improvement.models import KPI, KPICheck

from ..conftest import force_step, skip_or_fail
from ..factories import GoalFactory, InitiativeFactory, KPIFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parent.parent.parent
NOW = timezone.now()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class PrivateRedis:
    """A redis-server of the test's own on a spare port, which the test may stop."""

    def __init__(self):
        self.port = _free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Worker:
    """`celery worker` as a subprocess on the test database, consuming one private queue."""

    def __init__(self, broker_url: str, queue: str):
        self.broker_url, self.queue, self.lines = broker_url, queue, []
        db = connection.settings_dict
        self.database_url = (
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )

    def start(self) -> None:
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "cir.settings.test",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cir", "worker", "--pool=solo",
             "-Q", self.queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "info", "-n", f"{self.queue}@%h"],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("ready", timeout=60)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never said {text!r}:\n{''.join(self.lines)}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _point_producer_at(url: str, queue: str) -> None:
    """Send this process's tasks to `url`, queue `queue` (not in-process any more).

    Celery reads CELERY_BROKER_URL from the environment before its own conf, so both
    change (the `restore_celery` fixture puts them back).
    """
    from kombu import pools

    os.environ["CELERY_BROKER_URL"] = url
    pools.reset()  # drop cached connections to the previous broker
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url
    celery_app.conf.task_default_queue = queue
    celery_app.conf.task_always_eager = False


@pytest.fixture
def queue():
    """A queue of this test's own; its keys are removed from the broker afterwards."""
    name = f"cir-test-{uuid.uuid4().hex[:8]}"
    yield name
    url = os.environ.get("CELERY_BROKER_URL", "")
    if url.startswith("redis://"):
        import redis

        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        except redis.RedisError:
            pass


@pytest.fixture
def restore_celery():
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = {k: celery_app.conf[k] for k in ("broker_url", "task_default_queue",
                                              "task_always_eager")}  # fmt: skip
    yield
    _point_producer_at(saved["broker_url"] or "memory://", saved["task_default_queue"])
    if saved_env is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = saved_env
    celery_app.conf.update(saved)


@pytest.fixture
def redis_binary():
    if not shutil.which("redis-server"):
        skip_or_fail("redis-server is not installed")


@pytest.fixture
def configured_broker():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs a live Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>")
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not _reachable(host or "127.0.0.1", int(port or 6379)):
        skip_or_fail(f"Redis at {url} is not reachable")
    return url


def _wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def kpi_and_actor():
    actor = UserFactory(username="csi-worker", roles=["CSI manager"])
    initiative = force_step(InitiativeFactory(accountable=actor), Step.ACTION)
    initiative.goals.add(GoalFactory())
    kpi = KPIFactory(
        initiative=initiative, key="mttr-worker", baseline_value=10.0, target_value=8.0,
        baseline_date=(NOW - dt.timedelta(days=60)).date(),
        target_date=(NOW + dt.timedelta(days=120)).date(),
    )  # fmt: skip
    return kpi, actor


def test_a_measurement_is_checked_by_the_worker_within_seconds(
    configured_broker, queue, restore_celery, kpi_and_actor
):
    kpi, actor = kpi_and_actor
    worker = Worker(configured_broker, queue)
    worker.start()
    try:
        _point_producer_at(configured_broker, queue)
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
        _point_producer_at(broker.url, queue)
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

        _point_producer_at(broker.url, queue)
        # the restarted Redis kept nothing: declare the queue's binding again, as a
        # restarted worker or producer would
        with celery_app.connection_for_write() as conn:
            celery_app.amqp.queues[queue].bind(conn.default_channel).declare()
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
        _point_producer_at(configured_broker, queue)
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
