"""Live parts for the benchmarks that need them: `celery worker` subprocesses on the bench
database and a Redis broker, and pointing this process's tasks at that broker.

The broker is BENCH_BROKER_URL (default redis://127.0.0.1:6379/0). Every run uses queues
of its own, whose keys are removed afterwards; nothing else on the broker is touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def broker_url() -> str:
    return os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")


def new_queue(label: str) -> str:
    return f"cir-bench-{label}-{uuid.uuid4().hex[:6]}"


class Worker:
    """One `celery worker` process (solo pool: one task at a time) consuming `queues`, or
    with `concurrency` > 1 a prefork pool of that many processes."""

    def __init__(self, queues: list[str], *, concurrency: int = 1, env: dict | None = None):
        self.queues, self.concurrency, self.lines = queues, concurrency, []
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Worker:
        env = os.environ | {
            "CELERY_BROKER_URL": broker_url(),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CIR_EMBEDDED_SCHEDULER": "0",
            # what the tasks it runs send (events, webhooks) stays on this run's queues
            "CELERY_TASK_DEFAULT_QUEUE": self.queues[0],
            **self.extra_env,
        }
        pool = ["--pool=solo"] if self.concurrency == 1 else ["-c", str(self.concurrency)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cir", "worker", *pool,
             "-Q", ",".join(self.queues), "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "info", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.count("ready."):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("celery worker did not start:\n" + "".join(self.lines[-30:]))
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def count(self, *texts: str) -> int:
        return sum(all(t in line for t in texts) for line in list(self.lines))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def point_tasks_at(url: str, queue: str | None, eager: bool = False) -> None:
    """Send this process's tasks to `url`, default queue `queue` (as a producer would)."""
    from kombu import pools

    from cir.celery import app

    os.environ["CELERY_BROKER_URL"] = url
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url
    app.conf.task_default_queue = queue or "celery"
    app.conf.task_always_eager = eager


@contextlib.contextmanager
def producer(queues: list[str]):
    """Tasks of this process go to the bench broker (first queue by default) for the
    block; afterwards as before, and the queues' keys are removed from the broker."""
    from cir.celery import app

    saved = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url,
             app.conf.task_default_queue, app.conf.task_always_eager)  # fmt: skip
    point_tasks_at(broker_url(), queues[0])
    try:
        yield
    finally:
        env, url, queue, eager = saved
        point_tasks_at(url or "memory://", queue, eager)
        if env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env
        import redis

        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(broker_url(), socket_connect_timeout=1)
            for q in queues:
                client.delete(q, f"_kombu.binding.{q}", f"_kombu.binding_permanent.{q}")


def wait_for(predicate, timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
