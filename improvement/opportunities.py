"""Reads of ITSM records (SPEC §9): opportunities, and the figures of a group of records.

Opportunities group the records opened in a period by a dimension and rank the groups by
where service is being lost. Every figure is computed by the database, one grouped query
for the period and one for the period before (PostgreSQL: percentile_cont; elsewhere the
same percentiles with window functions). See docs/opportunities.md for the definitions:

- resolution hours of a record: (resolved_at, else closed_at) − opened_at, in hours; a
  record not resolved, or resolved before it opened, has none;
- hours lost: the sum of the group's resolution hours;
- score = hours lost per week × (1 + reopen rate + reassignment rate + SLA breach rate),
  the SLA breach rate counting as 0 when no record of the group says whether it met it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from .choices import FINAL_STEPS, Dimension, RecordKind
from .exceptions import InvalidInput
from .models import ITSMRecord, KPIDerivation

#: default period: the last 90 days, against the 90 before
DEFAULT_DAYS = 90
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """[start, end) in whole days, UTC."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def weeks(self) -> float:
        return self.days / 7

    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return (
            dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC),
            dt.datetime.combine(self.end, dt.time(), tzinfo=dt.UTC),
        )


def period_from(start: dt.date | None, last_day: dt.date | None, *, today: dt.date) -> Period:
    """The period from `start` to `last_day` inclusive; by default the last 90 days up to
    today. InvalidInput when it is empty, reversed or longer than ten years."""
    end = (last_day or today) + dt.timedelta(days=1)
    begin = start or end - dt.timedelta(days=DEFAULT_DAYS)
    if begin >= end:
        raise InvalidInput(
            "The period's start must be on or before its end.",
            errors={"from": ["On or before 'to'."]},
        )
    if (end - begin).days > MAX_DAYS:
        raise InvalidInput(
            "The period may be at most ten years long.", errors={"from": ["At most 3660 days."]}
        )
    return Period(begin, end)


# --- the grouped query -----------------------------------------------------------------------


def _hours_sql() -> str:
    end = "coalesce(resolved_at, closed_at)"
    if connection.vendor == "postgresql":
        diff = f"extract(epoch from ({end} - opened_at)) / 3600.0"
    else:
        # julianday's double holds ~10 µs: rounded to the millisecond, whole-second data
        # gives the exact hours
        diff = f"round((julianday({end}) - julianday(opened_at)) * 86400000.0) / 3600000.0"
    return f"CASE WHEN {end} >= opened_at THEN {diff} END"


def _percentile_sql(p: float) -> str:
    """percentile_cont(p) over `hours` of rows numbered i = 0..n-1 (portable)."""
    pos = f"({p} * (n - 1))"
    low = f"CAST({pos} AS INTEGER)"
    frac = f"({pos} - {low})"
    return (
        f"sum(CASE WHEN i = {low} THEN hours * (1 - {frac}) "
        f"WHEN i = {low} + 1 THEN hours * {frac} ELSE 0 END)"
    )


def grouped_figures(
    *, key_sql: str, period_bounds, kind: str, system: str = "", where: str = "",
    params: tuple = ()
) -> list[tuple]:  # fmt: skip
    """One query: per key, (key, records, reopened, reassigned, breached, sla_known,
    resolved, hours_sum, median_hours, p90_hours) over the records of `kind` (and `system`)
    opened in [start, end). `key_sql` is an SQL expression over the record's columns."""
    table = ITSMRecord._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    start, end = adapt(period_bounds[0]), adapt(period_bounds[1])
    filters = "kind = %s AND opened_at >= %s AND opened_at < %s"
    args: list = [kind, start, end]
    if system:
        filters += " AND system = %s"
        args.append(system)
    if where:
        filters += f" AND {where}"
        args.extend(params)
    base = (
        f"SELECT {key_sql} AS grp, reopen_count, reassignment_count, sla_met, "  # noqa: S608
        f"{_hours_sql()} AS hours FROM {table} WHERE {filters}"
    )
    counts = (
        "count(*), sum(CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN reassignment_count > 0 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN NOT sla_met THEN 1 ELSE 0 END), "
        "sum(CASE WHEN sla_met IS NOT NULL THEN 1 ELSE 0 END), count(hours), sum(hours)"
    )
    if connection.vendor == "postgresql":
        # the key and the filters are our own SQL; the values are parameters
        sql = (
            f"SELECT grp, {counts}, "  # noqa: S608
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY hours), "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) "
            f"FROM ({base}) r GROUP BY grp"
        )
    else:
        sql = (
            f"WITH r AS ({base}), "  # noqa: S608
            f"g AS (SELECT grp, {counts} FROM r GROUP BY grp), "
            "o AS (SELECT grp, hours, row_number() OVER (PARTITION BY grp ORDER BY hours) - 1 "
            "  AS i, count(*) OVER (PARTITION BY grp) AS n FROM r WHERE hours IS NOT NULL), "
            f"p AS (SELECT grp, {_percentile_sql(0.5)} AS median, {_percentile_sql(0.9)} AS p90 "
            "  FROM o GROUP BY grp) "
            "SELECT g.*, p.median, p.p90 FROM g LEFT JOIN p ON p.grp = g.grp"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


# --- the figures of a group ----------------------------------------------------------------


def figures(row: tuple, period: Period) -> dict:
    """The figures of one group from its grouped_figures row."""
    _, records, reopened, reassigned, breached, sla_known, resolved, hours, median, p90 = row
    hours = float(hours or 0)
    return {
        "records": records,
        "records_per_week": records / period.weeks,
        "records_per_day": records / period.days,
        "resolved": resolved,
        "median_resolution_hours": None if median is None else float(median),
        "p90_resolution_hours": None if p90 is None else float(p90),
        "reopen_rate": reopened / records if records else 0.0,
        "reassignment_rate": reassigned / records if records else 0.0,
        "sla_breach_rate": breached / sla_known if sla_known else None,
        "hours_lost": hours,
    }


def score(fig: dict, period: Period) -> float:
    """Hours lost per week × (1 + reopen rate + reassignment rate + SLA breach rate)."""
    weight = 1 + fig["reopen_rate"] + fig["reassignment_rate"] + (fig["sla_breach_rate"] or 0)
    return fig["hours_lost"] / period.weeks * weight


def _change(now, before):
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def _explain(item: dict, rank: int, total: int, share: float) -> str:
    fig = item
    parts = [
        f"{fig['hours_lost'] / item['weeks']:.1f} hours lost a week "
        f"({_pct(share)} of all hours lost)"
    ]
    if fig["reopen_rate"]:
        parts.append(f"{_pct(fig['reopen_rate'])} reopened")
    if fig["reassignment_rate"]:
        parts.append(f"{_pct(fig['reassignment_rate'])} reassigned")
    if fig["sla_breach_rate"]:
        parts.append(f"SLA breached on {_pct(fig['sla_breach_rate'])}")
    change = item["trend"]["records_change"]
    if change is None:
        parts.append("no records in the previous period to compare with")
    elif change:
        direction = "up" if change > 0 else "down"
        parts.append(f"records {direction} {_pct(abs(change))} on the previous period")
    else:
        parts.append("as many records as in the previous period")
    return f"Ranked {rank} of {total}: " + ", ".join(parts) + "."


def opportunities(
    *, dimension: str, period: Period, kind: str = RecordKind.INCIDENT, system: str = ""
) -> list[dict]:
    """The groups of records opened in `period` by `dimension`, best opportunity first:
    their figures, the previous period's, the trend, the score, the sentence explaining the
    rank, and the open initiatives that already cover them. Four queries whatever the
    number of records or groups."""
    if dimension not in Dimension.values:
        raise InvalidInput(
            f"Unknown dimension {dimension!r}: one of {', '.join(Dimension.values)}.",
            errors={"dimension": [f"One of {', '.join(Dimension.values)}."]},
        )
    if kind not in RecordKind.values:
        raise InvalidInput(
            f"Unknown kind {kind!r}.", errors={"kind": [f"One of {', '.join(RecordKind.values)}."]}
        )
    now_rows = grouped_figures(key_sql=dimension, period_bounds=period.bounds(), kind=kind,
                               system=system)  # fmt: skip
    previous = period.previous()
    before_rows = {
        row[0]: figures(row, previous)
        for row in grouped_figures(
            key_sql=dimension, period_bounds=previous.bounds(), kind=kind, system=system
        )
    }
    covered = covering_initiatives(dimension=dimension, kind=kind)
    items = []
    for row in now_rows:
        group = row[0] or ""
        fig = figures(row, period)
        before = before_rows.get(row[0])
        fig.update(
            group=group,
            label=group or "(unknown)",
            weeks=period.weeks,
            score=score(fig, period),
            previous={
                "records": before["records"] if before else 0,
                "median_resolution_hours": before["median_resolution_hours"] if before else None,
                "hours_lost": before["hours_lost"] if before else 0.0,
            },
            covered_by=sorted(covered.get(group, ())),
        )
        fig["trend"] = {
            "records_change": _change(fig["records"], before["records"] if before else None),
            "median_change": _change(
                fig["median_resolution_hours"],
                before["median_resolution_hours"] if before else None,
            ),
            "hours_lost_change": _change(
                fig["hours_lost"], before["hours_lost"] if before else None
            ),
        }
        items.append(fig)
    items.sort(key=lambda f: (-f["score"], -f["hours_lost"], -f["records"], f["group"]))
    total_lost = sum(f["hours_lost"] for f in items) or 1.0
    for rank, item in enumerate(items, 1):
        item["rank"] = rank
        item["explanation"] = _explain(item, rank, len(items), item["hours_lost"] / total_lost)
        item.pop("weeks")
    return items


def covering_initiatives(*, dimension: str, kind: str) -> dict[str, set[str]]:
    """Group value → references of the open initiatives that cover it: promoted from it (a
    derived KPI over that group) or linked to records of it. Two queries."""
    covered: dict[str, set[str]] = {}
    derivations = (
        KPIDerivation.objects.filter(dimension=dimension, kind=kind)
        .exclude(kpi__initiative__step__in=FINAL_STEPS)
        .values_list("group", "kpi__initiative__reference")
    )
    for group, reference in derivations:
        covered.setdefault(group, set()).add(reference)
    linked = (
        ITSMRecord.initiatives.through.objects.filter(itsmrecord__kind=kind)
        .exclude(initiative__step__in=FINAL_STEPS)
        .values_list(f"itsmrecord__{dimension}", "initiative__reference")
        .distinct()
    )
    for group, reference in linked:
        covered.setdefault(group, set()).add(reference)
    return covered
