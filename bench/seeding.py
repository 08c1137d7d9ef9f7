"""Fast set-up for the benchmarks: rows loaded directly, not measured."""

from __future__ import annotations

import io

from django.db import connection


def copy_rows(buf: io.StringIO, with_recorded_by: bool = False) -> None:
    """COPY tab-separated measurement rows; `with_recorded_by`: a seventh column."""
    columns = ("kpi_id", "value", "measured_at", "source", "note", "recorded_at")
    buf.seek(0)
    with connection.cursor() as cur:
        cur.cursor.copy_from(
            buf, "improvement_measurement",
            columns=columns + ("recorded_by_id",) if with_recorded_by else columns,
        )  # fmt: skip


def bulk_initiatives(count: int) -> None:
    """Initiatives inserted directly (benchmark set-up only; production uses the service)."""
    from improvement.models import Counter, Initiative

    start = Counter.objects.filter(name="initiative").values_list("value", flat=True).first() or 0
    rows = []
    sources = ["incident", "problem", "change", "survey", "monitoring"]
    steps = ["proposed", "vision", "baseline", "target", "plan", "action", "review", "sustain"]
    for n in range(count):
        ref = start + n + 1
        rows.append(
            Initiative(
                reference=f"CIR-{ref:05d}", title=f"Improvement {ref}", source=sources[n % 5],
                value=1 + n % 5, effort=1 + (n // 5) % 5, urgency=1 + (n // 25) % 5,
                priority=f"P{1 + n % 4}",
            )
        )  # fmt: skip
    for i in range(0, len(rows), 5000):
        Initiative.objects.bulk_create(rows[i : i + 5000])
    Counter.objects.update_or_create(name="initiative", defaults={"value": start + count})
    # spread them over the steps (the step is protected on instances, not in SQL)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE improvement_initiative SET step = (ARRAY[%s])[1 + (id %% %s)]"
            % (",".join(f"'{s}'" for s in steps), len(steps))
        )
        cur.execute("UPDATE improvement_initiative SET step = 'action' WHERE step IN ('proposed')")
