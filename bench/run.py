#!/usr/bin/env python
"""CIR benchmarks on PostgreSQL. They print figures; they assert nothing about time.

    make bench                 # 10 000 KPIs x 100 points
    SCALE=large make bench     # 100 000 KPIs x 100 points (10 M measurements)
    BENCH=sweep make bench     # one section: seed, ingest, sweep, api, faults, pages, itsm, fanout,
                               # steady, latency (fanout and latency need Redis:
                               # BENCH_BROKER_URL, default redis://127.0.0.1:6379/0)
    BENCH=pages make bench     # every page at the small and the large scale (bench/pages.py)

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/cir_bench (created if missing).
Results are also written to bench/results/latest.json.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cir_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cir.settings.base")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# tasks are queued, not run in the request: checks and deliveries belong to the workers
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

SCALES = {
    "small": {"kpis": 1_000, "points": 100, "initiatives": 1_000},
    "default": {"kpis": 10_000, "points": 100, "initiatives": 100_000},
    "large": {"kpis": 100_000, "points": 100, "initiatives": 100_000},
}


def ensure_database() -> None:
    import psycopg2
    from psycopg2 import sql

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


ensure_database()

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.seeding import bulk_initiatives, copy_rows  # noqa: E402

RESULTS: dict = {}


def say(text: str = "") -> None:
    print(text, flush=True)


def figure(section: str, name: str, value, unit: str = "") -> None:
    RESULTS.setdefault(section, {})[name] = value
    shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    say(f"  {name:<52} {shown:>14} {unit}")


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


# --- seed -------------------------------------------------------------------------------


def seed(scale: dict) -> None:
    """KPIs on initiatives in `action`, measurements loaded with COPY (fast, not measured)."""
    from improvement.models import KPI, Initiative, KPICheck, Measurement

    n_kpis, n_points = scale["kpis"], scale["points"]
    if KPI.objects.count() == n_kpis and Measurement.objects.count() == n_kpis * n_points:
        say(f"seed: reusing {n_kpis:,} KPIs x {n_points} points already loaded")
        return
    say(f"seed: {n_kpis:,} KPIs x {n_points} points ...")
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE improvement_measurement, improvement_kpicheck, improvement_kpi, "
            "improvement_event, improvement_historicalkpi RESTART IDENTITY CASCADE"
        )
    per_initiative = 10
    need = n_kpis // per_initiative
    have = Initiative.objects.count()
    if have < need:
        bulk_initiatives(need - have)
    initiative_ids = list(Initiative.objects.order_by("pk").values_list("pk", flat=True)[:need])
    today = timezone.now().date()
    import datetime as dt
    import random

    rng = random.Random(42)
    aggregations = ["latest", "mean", "median", "sum", "min", "max", "count"]
    kpis = []
    for i in range(n_kpis):
        increase = i % 2 == 0
        baseline = 100.0
        kpis.append(
            KPI(
                initiative_id=initiative_ids[i // per_initiative], key=f"bench-{i}",
                name=f"Bench KPI {i}", direction="increase" if increase else "decrease",
                aggregation=aggregations[i % len(aggregations)], window_days=30,
                baseline_value=baseline, baseline_date=today - dt.timedelta(days=100),
                target_value=baseline * (1.2 if increase else 0.8),
                target_date=today + dt.timedelta(days=rng.randint(10, 200)),
                data_changed_at=timezone.now(),
            )
        )  # fmt: skip
    KPI.objects.bulk_create(kpis, batch_size=5000)
    KPICheck.objects.all().delete()
    kpi_ids = list(KPI.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    start = time.perf_counter()
    buf = io.StringIO()
    for n, kpi_id in enumerate(kpi_ids):
        drift = rng.uniform(-0.3, 0.3)
        for p in range(n_points):
            at = now - dt.timedelta(days=n_points - p)
            value = 100 * (1 + drift * p / n_points) + rng.uniform(-2, 2)
            buf.write(f"{kpi_id}\t{value:.4f}\t{at.isoformat()}\tbench\t\t{now.isoformat()}\n")
        if n % 2000 == 1999:
            copy_rows(buf)
            buf = io.StringIO()
    copy_rows(buf)
    with connection.cursor() as cur:  # what autovacuum does within a minute of such a load
        cur.execute("ANALYZE")
    say(
        f"seed: loaded {len(kpi_ids) * n_points:,} measurements in {time.perf_counter() - start:.1f} s"
    )


# --- ingest -----------------------------------------------------------------------------


def bench_ingest(scale: dict) -> None:
    """Rows/s through measurements_record_bulk vs COPY, 10 000 new rows per request.

    The COPY loads the same rows, column for column: the KPI, value, instant, source,
    note, who recorded them and when (so both pay the same two foreign-key checks and the
    same indexes). A second COPY without who recorded them is printed for reference.
    Requests rotate (service, COPY, bare COPY, ...) so drift on the machine hits all alike;
    the medians are compared.
    """
    import datetime as dt
    import statistics

    from improvement import services
    from improvement.models import KPI, Measurement

    say("\n== ingest")
    user = _csi()
    rounds = 9
    keys = [f"bench-{i}" for i in range(min(scale["kpis"], 1000))]
    kpi_ids = dict(KPI.objects.filter(key__in=keys).values_list("key", "pk"))
    base = timezone.now() - dt.timedelta(days=1000)

    def rows_for(request: int) -> list[dict]:
        return [
            {"kpi": keys[n % len(keys)], "value": float(n % 97),
             "measured_at": (base + dt.timedelta(minutes=request * 10_000 + n)).isoformat(),
             "source": "bench"}
            for n in range(10_000)
        ]  # fmt: skip

    def copy(rows: list[dict], recorded_by: int | None) -> None:
        now = timezone.now().isoformat()
        by = "\\N" if recorded_by is None else recorded_by
        buf = io.StringIO()
        for row in rows:
            buf.write(
                f"{kpi_ids[row['kpi']]}\t{row['value']}\t{row['measured_at']}\tbench\t\t{now}\t{by}\n"
            )
        with transaction.atomic():
            copy_rows(buf, with_recorded_by=True)

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE improvement_measurement")
    times: dict[str, list[float]] = {"service": [], "copy": [], "bare": []}
    for r in range(rounds):
        _, elapsed = timed(services.measurements_record_bulk, actor=user, rows=rows_for(3 * r))
        times["service"].append(elapsed)
        _, elapsed = timed(copy, rows_for(3 * r + 1), user.pk)
        times["copy"].append(elapsed)
        _, elapsed = timed(copy, rows_for(3 * r + 2), None)
        times["bare"].append(elapsed)
    rate = {name: 10_000 / statistics.median(values) for name, values in times.items()}
    figure("ingest", "rows through the service (10 000-row requests)", rate["service"], "rows/s")
    figure(
        "ingest", "rows through COPY, the same rows (10 000 a transaction)", rate["copy"], "rows/s"
    )
    figure("ingest", "rows through COPY without who recorded them", rate["bare"], "rows/s")
    RESULTS["ingest"]["service / COPY"] = round(rate["service"] / rate["copy"], 3)
    RESULTS["ingest"]["service / bare COPY"] = round(rate["service"] / rate["bare"], 3)
    say(
        f"  {'service / COPY of the same rows':<52} {rate['service'] / rate['copy']:>14.2f} x (goal >= 0.5)"
    )
    say(
        f"  {'service / COPY without who recorded them':<52} {rate['service'] / rate['bare']:>14.2f} x"
    )
    Measurement.objects.filter(
        source="bench", measured_at__lt=base + dt.timedelta(days=200)
    ).delete()


def _csi():
    user, _ = get_user_model().objects.get_or_create(username="bench-csi")
    user.groups.add(Group.objects.get(name="CSI manager"))
    return user


# --- sweep ------------------------------------------------------------------------------

HAND_SQL = """
SELECT k.id, count(m.value), avg(m.value), sum(m.value), min(m.value), max(m.value),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value)
  FROM improvement_kpi k
  JOIN improvement_measurement m ON m.kpi_id = k.id
   AND m.measured_at >= greatest(k.baseline_date::timestamptz, now() - make_interval(days => k.window_days))
   AND m.measured_at <= now()
 GROUP BY k.id
"""


def bench_sweep(scale: dict) -> None:
    """A full sweep vs a per-KPI ORM loop (sampled, extrapolated) vs one hand-written SQL."""
    from improvement import evaluation
    from improvement.models import KPI, KPICheck
    from improvement.services.checks import BATCH_SIZE, kpis_check

    say("\n== sweep")
    with connection.cursor() as cur:  # statistics as autovacuum keeps them
        cur.execute("ANALYZE")
    n = KPI.objects.count()
    KPICheck.objects.all().delete()
    KPI.objects.update(status="no_data", checked_version=None)
    summary, first = timed(kpis_check)
    # what the next scheduled sweep meets: autovacuum has tidied up after the first
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE improvement_kpi")
        cur.execute("VACUUM ANALYZE improvement_kpicheck")
    import statistics

    second = statistics.median(timed(kpis_check)[1] for _ in range(3))
    first_batch = list(KPI.objects.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
    kpis_check(kpi_ids=first_batch)  # steady: nothing to write
    with CaptureQueriesContext(connection) as ctx:
        kpis_check(kpi_ids=first_batch)
    # less the final read that finds the batch was the last
    queries_per_batch = len(ctx.captured_queries) - 1

    # the naive way: one KPI at a time through the ORM
    sample = list(KPI.objects.order_by("?")[:200])
    now = timezone.now()

    def per_kpi_loop():
        for kpi in sample:
            kpi = KPI.objects.get(pk=kpi.pk)
            defn = evaluation.KPIDefinition(
                direction=kpi.direction, aggregation=kpi.aggregation, window_days=kpi.window_days,
                baseline_value=kpi.baseline_value, baseline_date=kpi.baseline_date,
                target_value=kpi.target_value, target_date=kpi.target_date, tolerance=kpi.tolerance,
            )  # fmt: skip
            lower, upper = evaluation.window_bounds(defn, now)
            points = list(kpi.measurements.filter(measured_at__gte=lower, measured_at__lte=upper)
                          .values_list("measured_at", "value"))  # fmt: skip
            result = evaluation.evaluate(defn, points, at=now)
            KPICheck.objects.create(kpi=kpi, checked_at=now, data_version=now, current=result.current,
                                    progress=result.progress, expected=result.expected,
                                    status=result.status, measurement_count=result.measurement_count)  # fmt: skip
            kpi.status = result.status
            kpi.save(update_fields=["status"])

    with transaction.atomic():
        _, loop_elapsed = timed(per_kpi_loop)
        transaction.set_rollback(True)
    loop_total = loop_elapsed / len(sample) * n

    def hand_sql():
        with connection.cursor() as cur:
            cur.execute(HAND_SQL)
            return len(cur.fetchall())

    hand_sql()  # warm the cache like the sweeps above
    _, sql_elapsed = timed(hand_sql)
    figure("sweep", "KPIs", n)
    figure("sweep", "full sweep, first (every status changes)", first, "s")
    figure("sweep", "full sweep, steady state (median of 3)", second, "s")
    figure("sweep", "KPIs checked per second (steady)", n / second, "KPIs/s")
    figure("sweep", "per-KPI ORM loop, extrapolated from 200", loop_total, "s")
    figure("sweep", "hand-written SQL aggregate (reads only, the limit)", sql_elapsed, "s")
    figure("sweep", "sweep speed-up over the per-KPI loop", loop_total / second, "x (goal >= 50)")
    figure("sweep", "sweep / hand-written SQL", second / sql_elapsed, "x (goal <= 3)")
    figure("sweep", f"queries per batch of {BATCH_SIZE} KPIs (steady)", queries_per_batch)


SECTIONS = {"seed": seed, "ingest": bench_ingest, "sweep": bench_sweep}


def main() -> None:
    scale_name = os.environ.get("SCALE", "default")
    scale = SCALES[scale_name]
    say(
        f"CIR benchmarks — scale {scale_name}: {scale} — database {connection.settings_dict['NAME']}"
    )
    call_command("migrate", verbosity=0)
    wanted = os.environ.get("BENCH", "")
    names = [s for s in wanted.split(",") if s] or list(SECTIONS)
    from bench import api as api_bench
    from bench import faults as faults_bench
    from bench import pages as pages_bench

    SECTIONS["api"] = lambda scale: RESULTS.setdefault("api", {}).update(api_bench.run(scale))
    SECTIONS["faults"] = lambda scale: RESULTS.setdefault("faults", {}).update(
        faults_bench.run(scale)
    )
    from bench import latency as latency_bench
    from bench import sweep as sweep_bench

    for name, run in (("fanout", sweep_bench.run_fanout), ("steady", sweep_bench.run_steady),
                      ("latency", latency_bench.run)):  # fmt: skip
        SECTIONS[name] = lambda scale, name=name, run=run: RESULTS.setdefault(name, {}).update(
            run(scale)
        )
    SECTIONS["pages"] = lambda scale: RESULTS.setdefault("pages", {}).update(
        pages_bench.run(SCALES, seed)
    )
    from bench import itsm as itsm_bench

    SECTIONS["itsm"] = lambda scale: RESULTS.setdefault("itsm", {}).update(itsm_bench.run(scale))
    if not wanted:
        names += ["api", "faults", "pages", "itsm", "fanout", "steady", "latency"]
    # faults needs no seeded data; pages seeds its own two databases
    if "seed" not in names and set(names) - {"faults", "pages"}:
        seed(scale)
    for name in names:
        SECTIONS[name](scale)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"scale": scale_name, **RESULTS}, indent=2))
    say(f"\nwritten to {out / 'latest.json'}")


if __name__ == "__main__":
    main()
