"""Fixtures of the task tests that use live parts (see live.py)."""

import os
import shutil
import uuid

import pytest

from cir.celery import app as celery_app

from ..conftest import skip_or_fail
from .live import point_producer_at, reachable


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
    from improvement.tasks.publish import breaker

    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = {k: celery_app.conf[k] for k in ("broker_url", "task_default_queue",
                                              "task_always_eager")}  # fmt: skip
    breaker.close()
    yield
    point_producer_at(saved["broker_url"] or "memory://", saved["task_default_queue"])
    if saved_env is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = saved_env
    celery_app.conf.update(saved)
    breaker.close()


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
    if not reachable(host or "127.0.0.1", int(port or 6379)):
        skip_or_fail(f"Redis at {url} is not reachable")
    return url
