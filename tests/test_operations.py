"""What operators and their tools ask of CIR: /healthz, /readyz, /metrics and JSON logs."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from cir import operations
from cir.celery import app as celery_app
from improvement import services
from improvement.models import Counter

from .conftest import free_port
from .factories import KPIFactory

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION_LIKE = {
    "SECURE_SSL_REDIRECT": True,
    "ALLOWED_HOSTS": ["cir.example.org"],
    "DEBUG": False,
}


@pytest.fixture
def production_like(settings):
    for name, value in PRODUCTION_LIKE.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (a broker that is down)."""
    return free_port()


@pytest.fixture
def broker_at(monkeypatch):
    """Point this process's Celery app at a broker URL, as if one were configured.

    Celery reads CELERY_BROKER_URL from the environment before its own conf: both change.
    """
    saved = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)

    def point(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_url = url
        celery_app._pool = None

    yield point
    monkeypatch.undo()
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
    celery_app._pool = None


# --- /healthz and /readyz --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host_over_plain_http_without_login(client, production_like, path):
    # given production settings: https redirect and one allowed host
    # when a load balancer probes by address over plain HTTP
    response = client.get(path, HTTP_HOST="10.1.2.3:8000")
    # then it is answered, not redirected nor refused for its host
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_other_paths_still_check_the_host_and_redirect(client, production_like):
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400
    response = client.get("/", HTTP_HOST="cir.example.org")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


@pytest.mark.django_db
def test_readyz_names_each_check(client):
    body = client.get("/readyz").json()
    assert body == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "broker": "none configured (tasks run in-process)",
        },
    }


@pytest.mark.django_db
def test_readyz_is_503_naming_unapplied_migrations(client, monkeypatch):
    monkeypatch.setattr(operations, "_migrations_applied", False)

    class Executor:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": list})()})()

        def migration_plan(self, targets):
            return [("improvement", "0099_future"), ("improvement", "0100_future")]

    monkeypatch.setattr("django.db.migrations.executor.MigrationExecutor", Executor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["migrations"] == "2 not applied"


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def down():
        return "unreachable (OperationalError)"

    monkeypatch.setattr(operations, "check_database", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
    assert response.json()["checks"]["migrations"] == "unknown (no database)"


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_down_and_leaks_no_url(
    client, broker_at, closed_port, settings
):
    settings.READYZ_BROKER_TIMEOUT = 0.5
    broker_at(f"redis://:s3cret-password@127.0.0.1:{closed_port}/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable (")
    text = response.content.decode()
    assert "s3cret" not in text and str(closed_port) not in text


@pytest.mark.django_db
def test_readyz_reaches_a_configured_broker(client, broker_at):
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        from .conftest import skip_or_fail

        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://...")
    broker_at(url)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


def test_healthz_needs_no_database(client, monkeypatch):
    # no django_db mark: a query would fail the test
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_probes_answer_only_get_and_head(client):
    assert client.head("/healthz").status_code == 200
    # a POST is no probe: it reaches the app, where no page has that path
    assert client.post("/healthz").status_code == 404


# --- /metrics ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "t0ken"
    settings.METRICS_ALLOWED_NETWORKS = []
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken")
    assert allowed.status_code == 200
    assert allowed["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "networks, address, status",
    [
        (["127.0.0.0/8"], "127.0.0.1", 200),
        (["10.0.0.0/8"], "10.20.30.40", 200),
        (["10.0.0.0/8"], "192.0.2.7", 401),
        ([], "127.0.0.1", 401),
    ],
)
def test_metrics_from_allowed_networks_without_a_token(client, settings, networks, address, status):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = networks
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == status


@pytest.mark.django_db
def test_metrics_answer_any_host_over_plain_http(client, production_like):
    production_like.METRICS_TOKEN = "t0ken"
    response = client.get("/metrics", HTTP_HOST="10.1.2.3:8000", HTTP_AUTHORIZATION="Bearer t0ken")
    assert response.status_code == 200


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


@pytest.mark.django_db(transaction=True)
def test_metrics_count_the_work_of_every_process_from_the_database(client, initiative_at, csi):
    # given a KPI and the counters as they are
    kpi = KPIFactory(
        initiative=initiative_at("action"),
        baseline_value=10, baseline_date=dt.date(2026, 1, 1),
        target_value=8, target_date=dt.date(2027, 12, 31),
    )  # fmt: skip
    before = client.get("/metrics").content.decode()
    # when three points are recorded (committed; the check runs after commit)
    now = timezone.now()
    services.measurement_record(
        kpi=kpi, actor=csi,
        points=[{"value": 9.0, "measured_at": now - dt.timedelta(hours=h)} for h in (1, 2, 3)],
    )  # fmt: skip
    after = client.get("/metrics").content.decode()
    # then the counters moved by what was done, as any process reading the database sees
    assert _sample(after, "cir_measurements_ingested_total") == (
        _sample(before, "cir_measurements_ingested_total") + 3
    )
    assert _sample(after, "cir_kpi_checks_total") >= _sample(before, "cir_kpi_checks_total") + 1
    assert _sample(after, "cir_kpi_status_changes_total") >= 1
    assert "cir_events_pending" in after
    assert 'cir_webhook_attempts_total{outcome="failed"}' in after
    # and the request figures of django-prometheus are there too
    assert "django_http_requests_latency_seconds_by_view_method" in after


@pytest.mark.django_db(transaction=True)
def test_work_rolled_back_is_not_counted(initiative_at, csi):
    kpi = KPIFactory(initiative=initiative_at("action"))
    before = dict(Counter.objects.values_list("name", "value")).get("measurements", 0)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.measurement_record(
            kpi=kpi, actor=csi, points=[{"value": 9.0, "measured_at": timezone.now()}]
        )
        raise RuntimeError("the surrounding change fails")
    assert dict(Counter.objects.values_list("name", "value")).get("measurements", 0) == before


def test_an_unknown_counter_is_a_programming_error():
    from improvement.services.metrics import metrics_count

    with pytest.raises(ValueError, match="unknown counters"):
        metrics_count(kpi_chekcs=1)


# --- logs ----------------------------------------------------------------------------------


def _log_line(log_format: str) -> str:
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "cir.settings.base", "LOG_FORMAT": log_format}
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('improvement.test').warning('KPI %s checked', 'mttr')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return done.stderr.strip().splitlines()[-1]


def test_log_format_json_writes_one_json_object_per_line():
    record = json.loads(_log_line("json"))
    assert record["message"] == "KPI mttr checked"
    assert record["level"] == "WARNING"
    assert record["logger"] == "improvement.test"
    assert "time" in record


def test_log_format_text_is_for_people():
    line = _log_line("text")
    assert "WARNING improvement.test: KPI mttr checked" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
