"""What load balancers, orchestrators and Prometheus ask of CIR: /healthz, /readyz, /metrics.

They are answered by a middleware placed first, before the host check and the https
redirect, because probes call by address over plain HTTP: a probe that had to name an
allowed host and speak TLS would fail for reasons that say nothing about the app. None of
them needs a login; none says more than which check failed (no URLs, no messages that
could carry a password).

- /healthz: the process answers (liveness). No database, no broker: restarting a web
  process because the database is down would not help.
- /readyz: the database answers, every migration is applied, and the broker answers when
  one is configured (readiness). 200 when all hold, 503 naming what failed otherwise.
- /metrics: Prometheus text (cir/metrics.py), for a bearer token or an allowed network.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

PROBES = {"/healthz": "healthz", "/healthz/": "healthz", "/readyz": "readyz", "/readyz/": "readyz"}
METRICS_PATHS = ("/metrics", "/metrics/")

#: set once the migrations were seen applied: a process does not see them unapplied again
#: (a rollback of the schema under running code is an operator's act, not a state to poll)
_migrations_applied = False


def check_database() -> str | None:
    """None when the default database answers a query; else what failed."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer, not an error of the probe
        return f"unreachable ({type(exc).__name__})"
    return None


def check_migrations() -> str | None:
    """None when every migration of the code is applied to the database; else how many are not."""
    global _migrations_applied
    if _migrations_applied:
        return None
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return f"could not be read ({type(exc).__name__})"
    if plan:
        return f"{len(plan)} not applied"
    _migrations_applied = True
    return None


def check_broker() -> str | None:
    """None when the Celery broker answers, or when none is configured (tasks in-process)."""
    from cir.celery import app

    if app.conf.task_always_eager:
        return None
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_BROKER_TIMEOUT)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def readiness() -> tuple[bool, dict[str, str]]:
    """Run every readiness check: (all passed, {check: "ok" or what failed})."""
    from cir.celery import app

    database = check_database()
    failed = {
        "database": database,
        # without a database the migrations cannot be read
        "migrations": check_migrations() if database is None else "unknown (no database)",
        "broker": check_broker(),
    }
    checks = {name: problem or "ok" for name, problem in failed.items()}
    if app.conf.task_always_eager:
        checks["broker"] = "none configured (tasks run in-process)"
    return not any(failed.values()), checks


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request) -> HttpResponse:
    """Liveness: the process answers."""
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request) -> HttpResponse:
    """Readiness: 200 when the database, the migrations and the broker are fine, else 503."""
    ready, checks = readiness()
    if not ready:
        log.warning("not ready: %s", {k: v for k, v in checks.items() if v != "ok"})
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return _no_store(JsonResponse(body, status=200 if ready else 503))


def metrics_allowed(request) -> bool:
    """A request may read /metrics with the bearer token, or from an allowed network."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.METRICS_ALLOWED_NETWORKS
    )


def metrics(request) -> HttpResponse:
    """Prometheus text: request figures of this server and CIR's own counters."""
    if not metrics_allowed(request):
        response = HttpResponse("Metrics need the bearer token (METRICS_TOKEN).\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return _no_store(response)
    from .metrics import CONTENT_TYPE, exposition

    return _no_store(HttpResponse(exposition(), content_type=CONTENT_TYPE))


class OperationsMiddleware:
    """Answer /healthz, /readyz and /metrics (GET or HEAD) before anything else runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if request.method in ("GET", "HEAD"):
            probe = PROBES.get(path)
            if probe == "healthz":
                return healthz(request)
            if probe == "readyz":
                return readyz(request)
            if path in METRICS_PATHS:
                return metrics(request)
        return self.get_response(request)
