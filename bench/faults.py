"""Write latency during a broker outage, on the real web server.

gunicorn with the production settings on PostgreSQL, its broker a private redis-server on a
spare port (the machine's Redis is never touched). An ITSM tool registers initiatives over
the API (each write records an event whose dispatch is published after commit): first with
the broker up, then with the broker stopped. The figure is the ratio of the two medians,
measured in the same run; no worker is needed (a publish only reaches Redis).

    BENCH=faults make bench
    FAULTS_APP_DIR=/path/to/another/checkout BENCH=faults make bench   # compare a version

FAULTS_APP_DIR runs the server from another checkout of CIR (the code before a change),
with this one's database and broker; FAULTS_REQUESTS sets the requests per phase (20).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.authtoken.models import Token

ROOT = Path(__file__).resolve().parent.parent


def _say(text: str = "") -> None:
    print(text, flush=True)


def _figure(results: dict, name: str, value, unit: str = "") -> None:
    results[name] = value
    shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    _say(f"  {name:<52} {shown:>14} {unit}")


def _spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def _post(port: int, token: str, n: int) -> float:
    """Register one initiative; returns the request's duration in ms."""
    body = json.dumps({"title": f"Bench outage write {n}"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/initiatives/",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
        assert response.status == 201, response.read()[:300]
    return (time.perf_counter() - started) * 1000


def run(scale: dict | None = None) -> dict:
    """Run the faults section; returns its figures."""
    results: dict = {}
    requests = int(os.environ.get("FAULTS_REQUESTS", "20"))
    app_dir = Path(os.environ.get("FAULTS_APP_DIR") or ROOT)
    _say(f"\n== faults (server code from {app_dir})")
    user, _ = get_user_model().objects.get_or_create(username="bench-faults")
    user.groups.add(Group.objects.get(name="CSI manager"))
    token = Token.objects.get_or_create(user=user)[0].key

    redis_port, web_port = _spare_port(), _spare_port()
    redis = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    } | {
        "DJANGO_SETTINGS_MODULE": "cir.settings.production",
        "SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "ERROR",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="cir-bench-faults-"),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with tempfile.TemporaryFile() as log:  # the server's warnings (failed publishes)
        web = subprocess.Popen(
            [str(gunicorn), "cir.wsgi", "--access-logfile", "/dev/null"],
            cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            _wait_port(redis_port)
            _wait_port(web_port)
            for n in range(5):  # warm up: connections to the database and the broker
                _post(web_port, token, n)
            up = [_post(web_port, token, n) for n in range(requests)]
            redis.send_signal(signal.SIGTERM)
            redis.wait(10)
            down = [_post(web_port, token, n) for n in range(requests)]
        finally:
            if redis.poll() is None:
                redis.terminate()
            web.terminate()
            try:
                web.wait(20)
            except subprocess.TimeoutExpired:
                web.kill()
    median_up, median_down = statistics.median(up), statistics.median(down)
    _figure(results, "requests per phase", requests)
    _figure(results, "write, broker up: median", median_up, "ms")
    _figure(results, "write, broker down: median", median_down, "ms")
    _figure(results, "write, broker down: first request", down[0], "ms")
    _figure(results, "write, broker down: slowest", max(down), "ms")
    _figure(results, "broker down / up (median)", median_down / median_up, "x (goal <= 2)")
    _figure(results, "broker down / up (slowest)", max(down) / median_up, "x")
    return results


if __name__ == "__main__":
    sys.argv = [sys.argv[0]]
    os.environ.setdefault("BENCH", "faults")
    from bench import run as bench_run

    bench_run.main()
