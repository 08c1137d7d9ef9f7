"""Latency under load: measurements posted to a real server, checked by a real worker.

gunicorn (BENCH_LATENCY_PORT, default 18201; BENCH_GUNICORN_WORKERS sync workers) serves
the app on the bench database; a `celery worker` (BENCH_CELERY_CONCURRENCY processes)
consumes a queue of this run's own on BENCH_BROKER_URL. BENCH_LATENCY_CLIENTS threads,
each with the token of an ITSM integration account, post `POST /api/v1/measurements/`
requests of BENCH_LATENCY_ROWS points (one point to each of as many of its own KPIs) for
BENCH_LATENCY_SECONDS, together aiming at BENCH_LATENCY_RATE measurements a second.

Measurement-to-verdict latency: from just before a POST is sent to the moment the KPI's
stored check covers the data that POST wrote (its checked_version reaches an instant at
or after the send; each KPI is posted by one client only, never twice while waiting), as
seen by a poller reading the KPIs every 20 ms. The clock starts once the worker is ready,
every stale KPI has been checked and gunicorn's workers have served a few reads.
BENCH_LATENCY_WORKER_LOG=<file> writes the worker's log there (task timings). The check is scheduled by the recording
service after commit, CIR_CHECK_DELAY_SECONDS later (the default 0.2 s unless set).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import threading
import time

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from .workers import ROOT, Worker, broker_url, new_queue, producer, wait_for


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _say(text: str = "") -> None:
    print(text, flush=True)


def _figure(results: dict, name: str, value, unit: str = "") -> None:
    results[name] = value
    if isinstance(value, str):
        shown = value
    else:
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
    _say(f"  {name:<56} {shown:>12} {unit}")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _token() -> str:
    user, _ = get_user_model().objects.get_or_create(username="bench-itsm")
    user.groups.add(Group.objects.get(name="ITSM integration"))
    return Token.objects.get_or_create(user=user)[0].key


def _server(port: int, queue: str, workers: int) -> subprocess.Popen:
    env = os.environ | {
        "CELERY_BROKER_URL": broker_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CIR_EMBEDDED_SCHEDULER": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "cir.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", str(workers), "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip


def run(scale: dict) -> dict:
    from improvement.models import Measurement
    from improvement.selectors import live_kpis

    results: dict = {}
    port = _env_int("BENCH_LATENCY_PORT", 18201)
    clients = _env_int("BENCH_LATENCY_CLIENTS", 6)
    rows = _env_int("BENCH_LATENCY_ROWS", 10)
    rate = _env_int("BENCH_LATENCY_RATE", 500)
    seconds = _env_int("BENCH_LATENCY_SECONDS", 20)
    gunicorn_workers = _env_int("BENCH_GUNICORN_WORKERS", 3)
    concurrency = _env_int("BENCH_CELERY_CONCURRENCY", 2)
    per_client = 400  # KPIs a client owns (a KPI comes round again after 40 requests)
    _say("\n== latency under load (gunicorn + celery worker)")
    _say(
        f"  {clients} clients x {rows} points a request, aiming at {rate}/s for {seconds} s; "
        f"gunicorn {gunicorn_workers} workers, celery {concurrency} processes, "
        f"CIR_CHECK_DELAY_SECONDS={os.environ.get('CIR_CHECK_DELAY_SECONDS', '0.2 (default)')}"
    )
    token = _token()
    kpis = list(
        live_kpis().filter(key__startswith="bench-").order_by("pk").values_list("pk", "key")
    )[: clients * per_client]
    if len(kpis) < clients * per_client:
        raise RuntimeError("not enough seeded KPIs for the latency bench")
    queue = new_queue("latency")
    server = _server(port, queue, gunicorn_workers)
    url = f"http://127.0.0.1:{port}"
    sent_at: dict[int, float] = {}  # KPI id -> when the POST that waits for it was sent
    latencies: list[float] = []
    request_times: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    clients_done = threading.Event()
    counts = {"points": 0, "requests": 0, "errors": 0}
    with producer([queue]):
        worker = Worker([queue], concurrency=concurrency)
        try:
            worker.start()
            if not wait_for(lambda: _up(url), timeout=60, interval=0.2):
                raise RuntimeError("gunicorn did not start")
            # before the clock: the register at rest, as the periodic sweep leaves it (a
            # fresh seed is all unchecked, and the first check after a post would check
            # it all), and every gunicorn worker past its first, slow request
            from improvement.services.checks import kpis_check

            _say(f"  stale KPIs checked before the clock: {kpis_check(only_stale=True).checked}")
            _warm_up(url, token, gunicorn_workers)

            def client(n: int) -> None:
                session = requests.Session()
                session.headers["Authorization"] = f"Token {token}"
                own = kpis[n * per_client : (n + 1) * per_client]
                interval = rows * clients / rate
                next_send, turn = time.perf_counter(), 0
                while not stop.is_set():
                    batch = [own[(turn * rows + i) % len(own)] for i in range(rows)]
                    turn += 1
                    with lock:
                        batch = [k for k in batch if k[0] not in sent_at]
                    if batch:
                        now = dt.datetime.now(dt.UTC)
                        body = [{"kpi": key, "value": 90 + (turn % 20),
                                 "measured_at": now.isoformat(), "source": "bench-latency"}
                                for _, key in batch]  # fmt: skip
                        start = time.time()
                        try:
                            response = session.post(f"{url}/api/v1/measurements/", json=body,
                                                    timeout=30)  # fmt: skip
                            ok = response.status_code < 300
                        except requests.RequestException:
                            ok = False
                        with lock:
                            request_times.append(time.time() - start)
                            counts["requests"] += 1
                            if ok:
                                counts["points"] += len(batch)
                                for kpi_id, _ in batch:
                                    sent_at[kpi_id] = start
                            else:
                                counts["errors"] += 1
                    next_send += interval
                    pause = next_send - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)

            def poller() -> None:
                try:
                    # until every client has its last answer (a request in flight at the
                    # stop adds its points after it) and every point is seen or given up
                    while not clients_done.is_set() or sent_at:
                        with lock:
                            waiting = dict(sent_at)
                        if waiting:
                            with connection.cursor() as cur:
                                cur.execute(
                                    "SELECT id, checked_version FROM improvement_kpi "
                                    "WHERE id = ANY(%s)",
                                    [list(waiting)],
                                )
                                seen = time.time()
                                for kpi_id, version in cur.fetchall():
                                    if version and version.timestamp() >= waiting[kpi_id]:
                                        with lock:
                                            latencies.append(seen - sent_at.pop(kpi_id))
                        if clients_done.is_set() and time.time() > stopped_at[0] + 30:
                            break  # what is still waiting after 30 s is counted as lost
                        time.sleep(0.02)
                finally:
                    connections.close_all()

            stopped_at = [0.0]
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            watcher = threading.Thread(target=poller)
            started = time.perf_counter()
            watcher.start()
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join()
            # the 30 s of grace run from the last answer; the moment is stamped before the
            # poller may read it
            stopped_at[0] = time.time()
            clients_done.set()
            elapsed = time.perf_counter() - started
            watcher.join()
            lost = len(sent_at)
        finally:
            worker.stop()
            if os.environ.get("BENCH_LATENCY_WORKER_LOG"):
                with open(os.environ["BENCH_LATENCY_WORKER_LOG"], "w") as log:
                    log.writelines(worker.lines)
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    # the points it posted go again, so the next run finds the seeded data as it was
    Measurement.objects.filter(source="bench-latency").delete()
    _figure(results, "measurements accepted", counts["points"])
    _figure(results, "throughput", counts["points"] / elapsed, "measurements/s")
    _figure(results, "requests (errors)", f"{counts['requests']} ({counts['errors']})")
    _figure(results, "request time p50", _pct(request_times, 0.5) * 1000, "ms")
    _figure(results, "request time p95", _pct(request_times, 0.95) * 1000, "ms")
    _figure(results, "verdicts seen", len(latencies))
    _figure(results, "measurement-to-verdict latency p50", _pct(latencies, 0.5), "s")
    _figure(results, "measurement-to-verdict latency p95", _pct(latencies, 0.95), "s (goal <= 1)")
    _figure(results, "measurement-to-verdict latency max", max(latencies or [0.0]), "s")
    _figure(results, "verdicts not seen within 30 s of the end", lost)
    if latencies:
        results["latency mean (s)"] = round(statistics.fmean(latencies), 3)
    one, five, fifteen = os.getloadavg()
    _say(f"  {'load average (1, 5, 15 min) after':<56} {one:.2f} {five:.2f} {fifteen:.2f}")
    results["load average after"] = f"{one:.2f} {five:.2f} {fifteen:.2f}"
    return results


def _warm_up(url: str, token: str, workers: int) -> None:
    """A few reads of the measurements API from as many threads as gunicorn has workers."""

    def read() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            for _ in range(3):
                session.get(f"{url}/api/v1/measurements/?page_size=1", timeout=30)

    threads = [threading.Thread(target=read) for _ in range(workers * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code < 500
    except requests.RequestException:
        return False
