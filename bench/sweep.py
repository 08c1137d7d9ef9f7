"""Sweep benchmarks: the sweep fanned out over 1 and 2 `celery worker` processes, and a
steady (due-only) sweep against a full one.

fanout: real worker processes (solo pool, one task at a time each) on the bench database
and a Redis broker (BENCH_BROKER_URL). The full sweep (every live KPI read, as the
scheduled sweep with full=True) is sent as the `kpis_sweep` task; the time runs from the
send to the last of its batches reported done by the workers. One worker consumes queue A
and B, the other B only: a sweep sent to A runs on one process, one sent to B on two.
Runs alternate (1, 2, 1, 2, ...) so drift on the shared machine hits both alike.

steady: in this process, a full sweep against a due-only sweep in which 1 % of the KPIs
are due (their next-check moment set to a second ago), both plan + batches.
"""

from __future__ import annotations

import os
import random
import statistics
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from .workers import Worker, new_queue, producer, wait_for

#: runs of each kind (medians); on a shared 2-core machine single runs vary by ±20 %
RUNS = int(os.environ.get("BENCH_SWEEP_RUNS", "5"))


def _say(text: str = "") -> None:
    print(text, flush=True)


def _figure(results: dict, name: str, value, unit: str = "") -> None:
    results[name] = value
    shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
    _say(f"  {name:<56} {shown:>12} {unit}")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _caught_up() -> None:
    """Every KPI checked and its next-check moment stored (what any sweep leaves)."""
    from improvement.services.checks import kpis_sweep_run

    kpis_sweep_run(due_only=True)
    with connection.cursor() as cur:  # what autovacuum does after a first sweep
        cur.execute("VACUUM ANALYZE improvement_kpi")
        cur.execute("VACUUM ANALYZE improvement_kpicheck")


def run_fanout(scale: dict) -> dict:
    from improvement.services.checks import kpis_sweep_run, sweep_ranges
    from improvement.tasks import kpis_sweep

    results: dict = {}
    _say("\n== sweep fan-out (celery workers)")
    _caught_up()
    batches = len(sweep_ranges(due_only=False))
    in_process = statistics.median(
        _timed(kpis_sweep_run, due_only=False)[1] for _ in range(max(1, RUNS - 1))
    )
    one_queue, both_queue = new_queue("one"), new_queue("two")
    load_before = _load()
    times: dict[int, list[float]] = {1: [], 2: []}
    with producer([one_queue, both_queue]):
        workers = [Worker([one_queue, both_queue]), Worker([both_queue])]
        try:
            for worker in workers:
                worker.start()

            def done() -> int:
                return sum(w.count("kpis_check_range[", "succeeded") for w in workers)

            def failed() -> int:
                return sum(w.count("kpis_check_range[", "raised") for w in workers)

            def sweep_on(queue: str) -> float:
                before = done()
                start = time.perf_counter()
                kpis_sweep.apply_async(args=[True], queue=queue)

                def finished() -> bool:
                    return done() >= before + batches or failed() > 0

                # every 50 ms: each look scans the workers' logs, on the workers' CPU
                if not wait_for(finished, timeout=900, interval=0.05):
                    raise RuntimeError("the fanned-out sweep did not finish")
                if failed():
                    raise RuntimeError("".join(workers[0].lines[-40:] + workers[1].lines[-40:]))
                return time.perf_counter() - start

            sweep_on(both_queue)  # warm-up: connections, caches, imports
            for _ in range(RUNS):
                times[1].append(sweep_on(one_queue))
                times[2].append(sweep_on(both_queue))
            shares = [w.count("kpis_check_range[", "succeeded") for w in workers]
        finally:
            for worker in workers:
                worker.stop()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    _figure(results, "live KPIs", _live_count())
    _figure(results, "batches per sweep (2 000 KPIs each)", batches)
    _figure(results, "full sweep in this process, no broker (median)", in_process, "s")
    _figure(results, f"full sweep, 1 worker process (median of {RUNS})", one, "s")
    _figure(results, f"full sweep, 2 worker processes (median of {RUNS})", two, "s")
    _figure(results, "speed-up, 2 workers over 1", one / two, "x (goal >= 1.6 on 2 cores)")
    results["runs 1 worker (s)"] = [round(t, 3) for t in times[1]]
    results["runs 2 workers (s)"] = [round(t, 3) for t in times[2]]
    results["batches done by each worker"] = shares
    results["load average before"] = load_before
    results["load average after"] = _load()
    _say(f"  {'runs, 1 worker / 2 workers (s)':<56} {times[1]} / {times[2]}")
    _say(f"  {'batches done by each worker (all runs)':<56} {shares}")
    _say(f"  {'load average (1, 5, 15 min) before / after':<56} {load_before} / {_load()}")
    _say(f"  {'CPU cores':<56} {os.cpu_count()}")
    return results


def _live_count() -> int:
    from improvement.selectors import live_kpis

    return live_kpis().count()


def run_steady(scale: dict) -> dict:
    from improvement.models import KPI
    from improvement.services.checks import kpis_sweep_run

    results: dict = {}
    _say("\n== steady sweeps (only the due KPIs)")
    _caught_up()
    full = statistics.median(_timed(kpis_sweep_run, due_only=False)[1] for _ in range(RUNS))
    now = timezone.now()
    ids = list(KPI.objects.values_list("pk", flat=True))
    natural = KPI.objects.filter(next_check_at__lte=now + timezone.timedelta(minutes=15)).count()
    daily = KPI.objects.filter(next_check_at__lte=now + timezone.timedelta(days=1)).count()
    share = max(1, len(ids) // 100)
    rng = random.Random(7)
    times, checked, queries = [], [], 0
    for _ in range(RUNS):
        due = rng.sample(ids, share)
        moment = timezone.now() - timezone.timedelta(seconds=1)
        KPI.objects.filter(pk__in=due).update(next_check_at=moment)  # their moment came
        with CaptureQueriesContext(connection) as ctx:
            summary, elapsed = _timed(kpis_sweep_run, due_only=True)
        times.append(elapsed)
        checked.append(summary.checked)
        queries = len(ctx.captured_queries)
    steady = statistics.median(times)
    _figure(results, "KPIs", len(ids))
    _figure(results, f"full sweep, steady, in one process (median of {RUNS})", full, "s")
    _figure(results, "KPIs due in a steady sweep (1 %)", share)
    _figure(results, "KPIs the steady sweeps checked (median)", int(statistics.median(checked)))
    _figure(results, f"steady sweep, 1 % due (median of {RUNS})", steady, "s")
    _figure(results, "steady / full", steady / full, "x (goal <= 0.05)")
    _figure(results, "queries of a steady sweep (plan, batch, writes)", queries)
    _figure(results, "KPIs naturally due within the next 15 minutes", natural)
    _figure(results, "KPIs naturally due within the next 24 hours", daily)
    return results
