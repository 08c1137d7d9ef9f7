"""Live parts for the task tests: a private redis-server the test may stop, a `celery
worker` subprocess on the test database, and the fixtures that point this process's tasks
at them. The machine's shared Redis is never stopped or flushed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from django.db import connection

from cir.celery import app as celery_app
from improvement.choices import Step

from ..conftest import force_step, free_port
from ..factories import GoalFactory, InitiativeFactory, KPIFactory, UserFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def checked_kpi(username: str, key: str, now):
    """(a CSI manager, a KPI of theirs in step 5 with baseline 10 and target 8) that checks
    run against: the actor and KPI the live tests measure with."""
    actor = UserFactory(username=username, roles=["CSI manager"])
    initiative = force_step(InitiativeFactory(accountable=actor), Step.ACTION)
    initiative.goals.add(GoalFactory())
    kpi = KPIFactory(
        initiative=initiative, key=key, baseline_value=10.0, target_value=8.0,
        baseline_date=(now - dt.timedelta(days=60)).date(),
        target_date=(now + dt.timedelta(days=120)).date(),
    )  # fmt: skip
    return actor, kpi


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class PrivateRedis:
    """A redis-server of the test's own on a spare port, which the test may stop."""

    def __init__(self):
        self.port = free_port()
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
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Worker:
    """`celery worker` as a subprocess on the test database, consuming one private queue.

    `env` adds to its environment (a shorter visibility timeout, webhook settings)."""

    def __init__(self, broker_url: str, queue: str, env: dict[str, str] | None = None):
        self.broker_url, self.queue, self.lines = broker_url, queue, []
        self.extra_env = env or {}
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
            **self.extra_env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cir", "worker", "--pool=solo",
             "-Q", self.queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "info", "-n", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h"],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("ready", timeout=60)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def said(self, *texts: str) -> bool:
        return any(all(t in line for t in texts) for line in self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.said(text):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never said {text!r}:\n{''.join(self.lines)}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, nothing handed back to the broker."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is None or proc.poll() is not None:  # never started, or already ended
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def point_producer_at(url: str, queue: str) -> None:
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


def declare_queue(queue: str) -> None:
    """Declare the queue's binding again, as a restarted worker or producer would (a
    restarted Redis kept nothing)."""
    with celery_app.connection_for_write() as conn:
        celery_app.amqp.queues[queue].bind(conn.default_channel).declare()
