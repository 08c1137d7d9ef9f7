"""ITSM records: a ServiceNow export imported through the service, and the opportunities
ranked, against baselines measured in the same run on the same data.

- import: `services.itsm.itsm_records_import` (read, clean, day-first dates, the latest row
  per number, COPY into a temporary table, one upsert) against a raw `COPY` of the same
  file into a table of text columns (no parsing, no index): the floor of loading it;
- re-import of the same file (every record unchanged, nothing rewritten);
- ranking: `opportunities.opportunities` (two grouped queries with percentiles, the
  coverage) against one bare `GROUP BY` count over the same rows.

ITSM_ROWS sets the number of records (default 1 000 000).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

HEADERS = ["number", "incident_state", "opened_at", "resolved_at", "closed_at", "category",
           "subcategory", "cmdb_ci", "assignment_group", "priority", "reopen_count",
           "reassignment_count", "made_sla", "problem_id", "sys_updated_on", "sys_mod_count",
           "short_description"]  # fmt: skip
CATEGORIES = {
    "Network": ["VPN", "Wi-Fi", "LAN", "DNS"],
    "Software": ["Email", "ERP", "CRM", "Office"],
    "Hardware": ["Laptop", "Printer", "Monitor"],
    "Database": ["Oracle", "PostgreSQL"],
    "Inquiry / Help": ["Password", "How-to"],
}
GROUPS = ["Service Desk", "Network Operations", "Messaging", "DBA", "Field Services"]


def _say(text: str = "") -> None:
    print(text, flush=True)


def _figure(results: dict, name: str, value, unit: str = "") -> None:
    results[name] = value
    shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
    _say(f"  {name:<52} {shown:>14} {unit}")


def make_export(rows: int, *, seed: int = 16) -> bytes:
    """A ServiceNow incident export of `rows` records, dates day-first over the last 180
    days, `?` where a value is unknown."""
    rnd = random.Random(seed)
    now = timezone.now().replace(tzinfo=None)
    start = now - dt.timedelta(days=180)
    pairs = [(c, s) for c, subs in CATEGORIES.items() for s in subs]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    fmt = "%d-%m-%Y %H:%M:%S"
    for n in range(rows):
        category, sub = pairs[n % len(pairs)]
        opened = start + dt.timedelta(seconds=rnd.randrange(0, 180 * 86400 - 7200))
        hours = rnd.expovariate(1 / (4 + (n % 7) * 3))
        resolved = opened + dt.timedelta(hours=hours)
        done = resolved < now and n % 13
        writer.writerow(
            (
                f"INC{n:08d}",
                "Closed" if done else "In Progress",
                opened.strftime(fmt),
                resolved.strftime(fmt) if done else "",
                "",
                category,
                sub,
                f"ci-{n % 500}" if n % 9 else "?",
                GROUPS[n % len(GROUPS)],
                f"{1 + n % 4} - P",
                1 if n % 17 == 0 else 0,
                n % 4,
                ("true" if hours < 24 else "false") if done else "?",
                "",
                (resolved if done else opened).strftime(fmt),
                n % 5,
                "Something is broken",
            )
        )
    return buffer.getvalue().encode()


def _raw_copy(content: bytes) -> float:
    """COPY the file as it is into a table of text columns: the floor of loading it."""
    columns = ", ".join(f"c{i} text" for i in range(len(HEADERS)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_itsm_raw")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_itsm_raw ({columns})")
        start = time.perf_counter()
        cursor.cursor.copy_expert(
            "COPY bench_itsm_raw FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(content)
        )
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_itsm_raw")
    return elapsed


def _csi():
    user, _ = get_user_model().objects.get_or_create(username="bench-itsm")
    user.groups.add(Group.objects.get(name="CSI manager"))
    return user


def run(scale: dict) -> dict:
    from improvement import opportunities as opp
    from improvement.models import ITSMRecord
    from improvement.services.itsm import itsm_records_import

    rows = int(os.environ.get("ITSM_ROWS", "1000000"))
    results: dict = {}
    _say(f"\nITSM import and opportunities — {rows:,} records")
    content = make_export(rows)
    _figure(results, "export size", round(len(content) / 1e6, 1), "MB")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ITSMRecord._meta.db_table} CASCADE")
    actor = _csi()

    raw = _raw_copy(content)
    _figure(results, "raw COPY of the file (baseline)", raw, "s")

    start = time.perf_counter()
    result = itsm_records_import(actor=actor, content=content, system="servicenow")
    elapsed = time.perf_counter() - start
    assert result.created == rows, result.as_dict()
    _figure(results, "import through the service", elapsed, "s")
    _figure(results, "import rows per second", round(rows / elapsed), "rows/s")
    _figure(results, "import ÷ raw COPY", elapsed / raw, "×")

    start = time.perf_counter()
    again = itsm_records_import(actor=actor, content=content, system="servicenow")
    elapsed_again = time.perf_counter() - start
    assert again.unchanged == rows, again.as_dict()
    _figure(results, "re-import, every record unchanged", elapsed_again, "s")
    _figure(results, "re-import ÷ raw COPY", elapsed_again / raw, "×")

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ITSMRecord._meta.db_table)
    period = opp.period_from(None, None, today=timezone.localdate())
    start = time.perf_counter()
    groups = opp.opportunities(dimension="subcategory", period=period)
    ranked = time.perf_counter() - start
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT subcategory, count(*) FROM {ITSMRecord._meta.db_table} "  # noqa: S608
            "WHERE kind = 'incident' AND opened_at >= %s AND opened_at < %s GROUP BY 1",
            list(period.previous().bounds()[:1] + period.bounds()[1:]),
        )
        cursor.fetchall()
    bare = time.perf_counter() - start
    _figure(results, "groups ranked", len(groups))
    _figure(results, "ranking (both periods, percentiles, coverage)", ranked, "s")
    _figure(results, "bare GROUP BY count over both periods (baseline)", bare, "s")
    _figure(results, "ranking ÷ bare GROUP BY", ranked / bare, "×")
    return results
