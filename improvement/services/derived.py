"""Opportunities turned into initiatives, and the KPIs derived from ITSM records.

`opportunity_promote` creates a proposed initiative from a group of records (source
`incident`, the group and period in its description, linked to the group's records of the
period) with a derived KPI: a metric over that group, whose baseline value and date come
from the records of the period. `derived_kpis_refresh` measures the derived KPIs again from
the records after every import and push, a bucket (day or week, starting 00:00 UTC on the
day or the Monday) per measurement, through measurement_record, so the usual checks give
the verdict. A bucket's value counts the records opened in it.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import connection, transaction
from django.utils import timezone

from .. import permissions
from ..choices import LIVE_STEPS, Aggregation, DerivedMetric, Dimension, RecordKind, Source
from ..exceptions import InvalidInput
from ..models import KPI, Initiative, ITSMRecord, KPIDerivation
from ..opportunities import Period, figures, grouped_figures
from .common import require
from .initiatives import initiative_create
from .kpis import kpi_create
from .measurements import MAX_POINTS, measurement_record

NEED_PROMOTE = "Only a CSI manager may promote an opportunity to an initiative."

#: per metric: its unit, the bucket it is measured by, and the KPI's aggregation
METRICS = {
    DerivedMetric.RECORDS_PER_WEEK: ("records/week", "week", Aggregation.MEAN),
    DerivedMetric.RECORDS_PER_DAY: ("records/day", "day", Aggregation.MEAN),
    DerivedMetric.MEDIAN_RESOLUTION_HOURS: ("hours", None, Aggregation.MEDIAN),
    DerivedMetric.REOPEN_RATE: ("ratio", None, Aggregation.MEAN),
    DerivedMetric.SLA_BREACH_RATE: ("ratio", None, Aggregation.MEAN),
}
#: the window of a derived KPI's current value: four weeks of buckets
WINDOW_DAYS = 28


def _where(derivation_like) -> tuple[str, tuple]:
    return f"{derivation_like.dimension} = %s", (derivation_like.group,)


def metric_value(metric: str, fig: dict) -> float | None:
    """The value of `metric` in a group's figures (None when the records do not tell)."""
    return {
        DerivedMetric.RECORDS_PER_WEEK: fig["records_per_week"],
        DerivedMetric.RECORDS_PER_DAY: fig["records_per_day"],
        DerivedMetric.MEDIAN_RESOLUTION_HOURS: fig["median_resolution_hours"],
        DerivedMetric.REOPEN_RATE: fig["reopen_rate"],
        DerivedMetric.SLA_BREACH_RATE: fig["sla_breach_rate"],
    }[metric]


def _unique_key(base: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:80] or "itsm"
    taken = set(KPI.objects.filter(key__startswith=base).values_list("key", flat=True))
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    return key


def opportunity_promote(
    *,
    actor,
    dimension: str,
    group: str,
    period: Period,
    metric: str,
    kind: str = RecordKind.INCIDENT,
    system: str = "",
    bucket: str = "",
    title: str = "",
    target_change_pct: float | None = None,
    target_date: dt.date | None = None,
) -> Initiative:
    """Create a proposed initiative for the records of one group with a derived KPI (see the
    module's docstring); InvalidInput when the group has no records in the period, or none
    that tell the metric. `target_change_pct` (-30: 30 % below the baseline) sets a target,
    due on `target_date` (default: one period after the baseline date)."""
    require(permissions.may_promote(actor), NEED_PROMOTE)
    errors = {}
    if dimension not in Dimension.values:
        errors["dimension"] = [f"One of {', '.join(Dimension.values)}."]
    if metric not in DerivedMetric.values:
        errors["metric"] = [f"One of {', '.join(DerivedMetric.values)}."]
    if kind not in RecordKind.values:
        errors["kind"] = [f"One of {', '.join(RecordKind.values)}."]
    if bucket not in ("", *KPIDerivation.Bucket.values):
        errors["bucket"] = ["day or week."]
    if not isinstance(group, str):
        errors["group"] = ["The group's value (text) is required."]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    unit, fixed_bucket, aggregation = METRICS[DerivedMetric(metric)]
    bucket = fixed_bucket or bucket or KPIDerivation.Bucket.WEEK
    where, params = f"{dimension} = %s", (group,)
    rows = grouped_figures(key_sql="'all'", period_bounds=period.bounds(), kind=kind,
                           system=system, where=where, params=params)  # fmt: skip
    if not rows or not rows[0][1]:
        raise InvalidInput(
            "This group has no records in the period: nothing to build a baseline from.",
            errors={"group": ["No records in the period."]},
        )
    fig = figures(rows[0], period)
    baseline = metric_value(metric, fig)
    if baseline is None:
        raise InvalidInput(
            f"The records of this group do not tell the {DerivedMetric(metric).label.lower()} "
            "(no resolved record, or no SLA value).",
            errors={"metric": ["Not known from these records."]},
        )
    label = group or "(unknown)"
    dim_label = Dimension(dimension).label
    kind_label = RecordKind(kind).label.lower()
    source = {
        RecordKind.INCIDENT: Source.INCIDENT,
        RecordKind.PROBLEM: Source.PROBLEM,
        RecordKind.CHANGE: Source.CHANGE,
    }[RecordKind(kind)]
    period_text = f"{period.start:%Y-%m-%d} to {period.last_day:%Y-%m-%d}"
    description = (
        f"Promoted from the opportunities of {kind_label}s{f' of {system}' if system else ''}: "
        f"{dim_label} = {label}, {period_text}. {fig['records']} {kind_label}s, "
        f"{fig['hours_lost']:.1f} hours lost, median resolution "
        + (
            f"{fig['median_resolution_hours']:.1f} h"
            if fig["median_resolution_hours"] is not None
            else "unknown"
        )
        + f", reopen rate {fig['reopen_rate'] * 100:.0f} %."
    )
    target: dict = {}
    if target_change_pct is not None:
        # by default the target is due one period after the baseline
        target = {
            "target_change_pct": target_change_pct,
            "target_date": target_date or period.last_day + (period.end - period.start),
        }
    elif target_date is not None:
        target = {"target_date": target_date}
    with transaction.atomic():
        initiative = initiative_create(
            actor=actor,
            title=(title or f"Reduce {kind_label}s of {dim_label.lower()} {label}")[:200],
            description=description,
            source=source,
        )
        kpi = kpi_create(
            initiative=initiative,
            actor=actor,
            key=_unique_key(f"{kind}-{dimension}-{label}-{metric}"),
            name=f"{DerivedMetric(metric).label}: {dim_label} {label}"[:200],
            direction="decrease",
            unit=unit,
            aggregation=aggregation,
            window_days=WINDOW_DAYS,
            baseline_value=baseline,
            baseline_date=period.last_day,
            **target,
        )
        KPI.objects.filter(pk=kpi.pk).update(derived=True)
        kpi.derived = True
        derivation = KPIDerivation.objects.create(
            kpi=kpi, system=system, kind=kind, dimension=dimension, group=group, metric=metric,
            bucket=bucket, period_start=period.start, period_end=period.end,
        )  # fmt: skip
        _link_records(initiative, derivation, period)
        derived_kpi_measure(derivation=derivation, actor=actor)
    return initiative


def _link_records(initiative: Initiative, derivation: KPIDerivation, period: Period) -> None:
    """Link the initiative to the group's records of the period: one INSERT ... SELECT."""
    through = ITSMRecord.initiatives.through._meta.db_table
    table = ITSMRecord._meta.db_table
    start, end = period.bounds()
    sql = (
        f"INSERT INTO {through} (itsmrecord_id, initiative_id) "  # noqa: S608
        f"SELECT id, %s FROM {table} WHERE kind = %s AND {derivation.dimension} = %s "
        "AND opened_at >= %s AND opened_at < %s"
    )
    adapt = connection.ops.adapt_datetimefield_value
    params = [initiative.pk, derivation.kind, derivation.group, adapt(start), adapt(end)]
    if derivation.system:
        sql += " AND system = %s"
        params.append(derivation.system)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _bucket_sql(bucket: str) -> str:
    if connection.vendor == "postgresql":
        unit = "week" if bucket == "week" else "day"
        return f"to_char(date_trunc('{unit}', opened_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
    if bucket == "week":
        return "date(opened_at, '-6 days', 'weekday 1')"
    return "date(opened_at)"


def derived_kpi_measure(*, derivation: KPIDerivation, actor) -> int:
    """Measure a derived KPI again from the records: one point per bucket, from the first
    bucket of its records (or of its baseline period) to the current one. Counts are 0 in a
    past bucket without records (the bucket under way has a point once it holds a record:
    its count so far); the other metrics have no point in a bucket without records.
    Returns the points stored."""
    metric = derivation.metric
    bucket = derivation.bucket
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    now = timezone.now()
    first = dt.datetime(1901, 1, 2, tzinfo=dt.UTC)
    rows = grouped_figures(
        key_sql=_bucket_sql(bucket),
        period_bounds=(first, now + dt.timedelta(days=1)),
        kind=derivation.kind,
        system=derivation.system,
        where=f"{derivation.dimension} = %s",
        params=(derivation.group,),
    )
    values: dict[dt.date, float] = {}
    length = Period(dt.date(2000, 1, 3), dt.date(2000, 1, 3) + step)  # one bucket
    for row in rows:
        start = dt.date.fromisoformat(str(row[0])[:10])
        value = metric_value(metric, figures(row, length))
        if value is not None:
            values[start] = value
    if metric in (DerivedMetric.RECORDS_PER_WEEK, DerivedMetric.RECORDS_PER_DAY):
        today = now.date()
        current = today - dt.timedelta(days=today.weekday()) if bucket == "week" else today
        begin = derivation.period_start
        if bucket == "week":
            begin -= dt.timedelta(days=begin.weekday())
        if values:
            begin = min(begin, min(values))
        day = begin
        while day < current:  # the bucket under way has a point once a record is in it
            values.setdefault(day, 0.0)
            day += step
    points = [
        {
            "value": value,
            "measured_at": dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
            "source": f"itsm:{derivation.system or 'all'}",
        }
        for day, value in sorted(values.items())
        if dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) <= now
    ]
    stored = 0
    for start in range(0, len(points), MAX_POINTS):
        stored += measurement_record(
            kpi=derivation.kpi, actor=actor, points=points[start : start + MAX_POINTS],
            from_records=True,
        )  # fmt: skip
    return stored


def derived_kpis_refresh(*, actor, system: str, kind: str) -> int:
    """After records of (system, kind) arrived: measure again every derived KPI they may
    feed, on initiatives still checked. Returns how many were measured."""
    derivations = (
        KPIDerivation.objects.filter(kind=kind, system__in=("", system))
        .filter(kpi__initiative__step__in=LIVE_STEPS)
        .select_related("kpi__initiative__service", "kpi__initiative__practice")
    )
    count = 0
    for derivation in derivations:
        derived_kpi_measure(derivation=derivation, actor=actor)
        count += 1
    return count
