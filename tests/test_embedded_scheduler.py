"""The embedded default runs the periodic jobs itself: a real `runserver` on SQLite with no
broker sweeps KPIs (a verdict changes with time, no measurement posted) and retries a
webhook that failed, with nothing else running."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from cir import embedded
from improvement.evaluation import compute_expected

from .conftest import free_port
from .services.test_webhooks import Receiver

BASE_DIR = Path(__file__).resolve().parent.parent
#: when the KPI of the scenario turns from on_track to at_risk, after the data is made
FLIP_AFTER = dt.timedelta(seconds=8)


@pytest.fixture
def receiver():
    r = Receiver()
    r.answers = [500]  # the first delivery fails: only a retry gets it through
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    """The embedded default on a database of the test's own: no broker, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CIR_"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "cir.settings.base",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cir.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "CIR_SWEEP_SECONDS": "1",
        "CIR_DISPATCH_SECONDS": "1",
        "CIR_WEBHOOK_BACKOFF_SECONDS": "1",
        "CIR_WEBHOOK_ALLOW_PRIVATE": "true",
        "CIR_CHECK_DELAY_SECONDS": "0",
    }


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
        text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


SCENARIO = """
import datetime as dt
from django.utils import timezone
from improvement import services
from improvement.choices import Role
from tests.factories import InitiativeFactory, KPIFactory, UserFactory

csi = UserFactory(username="csi", roles=[Role.CSI_MANAGER])
hook = services.webhook_create(
    actor=csi, name="receiver", url="{url}", event_types=["kpi.status_changed"]
)
print("SECRET", hook.secret)
today = timezone.now().date()
kpi = KPIFactory(
    initiative=InitiativeFactory(), key="first-contact", direction="increase",
    baseline_value=0, baseline_date=today - dt.timedelta(days=1),
    target_value=1, target_date=today + dt.timedelta(days=1), tolerance=0,
)
services.measurement_record(
    kpi=kpi, actor=csi, points=[{{"value": {value!r}, "measured_at": timezone.now()}}]
)
kpi.refresh_from_db()
print("STATUS", kpi.status)
"""


def _changes(receiver: Receiver, secret: str) -> list[dict]:
    """Each request's event data, verified with the Standard Webhooks reference library."""
    verify = ReferenceWebhook(secret).verify
    return [verify(r["body"], r["headers"])["data"] for r in receiver.requests]


def test_runserver_alone_sweeps_kpis_and_retries_webhooks(embedded_env, receiver):
    # given a fresh database, a webhook whose receiver fails its first request, and a KPI
    # measured just above its expected path: on track now, at risk FLIP_AFTER from now
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    flip_at = dt.datetime.now(dt.UTC) + FLIP_AFTER
    today = flip_at.date()
    value = compute_expected(flip_at, today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    out = _manage(embedded_env, "shell", "-c", SCENARIO.format(url=receiver.url, value=value))
    assert "STATUS on_track" in out
    secret = out.split("SECRET ", 1)[1].split()[0]
    receiver.secret = secret
    # the first delivery (no_data → on_track) was made at once, in that process, and failed
    assert [r["headers"]["webhook-id"] for r in receiver.requests] and not receiver.answers

    # when the development server runs, with nothing else: no broker, no worker, no beat
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=BASE_DIR, env=embedded_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        # generous: the machine may be busy; the loop ends as soon as both have happened
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            ids = [r["headers"]["webhook-id"] for r in receiver.requests]
            flipped = any(c["to"] == "at_risk" for c in _changes(receiver, secret))
            if flipped and ids.count(ids[0]) >= 2:
                break
            time.sleep(0.2)
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]

    # then the failed delivery was retried by the server's scheduler: same message, now 200
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) >= 3, output
    # (the retry and the sweep's new event may reach the receiver in either order)
    assert ids.count(ids[0]) >= 2, "the first event was not retried"
    # and the sweep turned the KPI to at_risk with time alone, and said so (signed)
    changes = [(c["from"], c["to"]) for c in _changes(receiver, secret)]
    assert changes.count(("no_data", "on_track")) >= 2, output
    assert ("on_track", "at_risk") in changes, (changes, output)
    assert dt.datetime.now(dt.UTC) >= flip_at
    assert "embedded scheduler: running the periodic jobs" in output


def test_one_scheduler_per_database_the_lock_is_exclusive(tmp_path):
    path = tmp_path / "scheduler.lock"
    first = embedded._take_lock(path)
    try:
        assert first is not None
        assert embedded._take_lock(path) is None  # a second process would wait
    finally:
        first.close()
    again = embedded._take_lock(path)
    assert again is not None  # the holder went: another takes over
    again.close()


def test_no_scheduler_without_the_setting(settings, monkeypatch):
    settings.CIR_EMBEDDED_SCHEDULER = False
    monkeypatch.setattr(embedded, "_started", False)
    assert embedded.start_if_configured() is False


def test_the_schedule_variables_force_intervals_at_beat_start():
    code = (
        "from django.conf import settings; "
        "print(sorted((k, v['schedule'].total_seconds()) "
        "for k, v in settings.CELERY_BEAT_SCHEDULE.items()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIR_")}
    base = env | {"DJANGO_SETTINGS_MODULE": "cir.settings.base"}

    def schedule(**extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=BASE_DIR,
            env=base | extra, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    # with a broker: the admin's schedules stand unless a variable says otherwise
    assert schedule(CELERY_BROKER_URL="redis://127.0.0.1:1/0") == "[]"
    assert schedule(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CIR_DISPATCH_SECONDS="5") == (
        "[('Dispatch pending events', 5.0)]"
    )
    # the embedded default sweeps every minute, so a demo shows verdicts moving
    assert schedule(CELERY_BROKER_URL="") == "[('Check all live KPIs', 60.0)]"
