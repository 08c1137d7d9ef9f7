"""The check engine: KPIs against their baseline and target (SPEC §3), set-based.

A batch of KPIs is read, aggregated over each KPI's own window in ONE SQL statement,
classified by the pure functions of evaluation.py, and written back with a handful of bulk
statements — never a query per KPI. `kpi_check` (one KPI, the API's "check now"), the
after-commit check of new measurements and the periodic sweep all run through `kpis_check`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import evaluation, permissions
from ..choices import WATCHED_STEPS, Aggregation, EventType, KPIStatus, Step
from ..exceptions import InvalidInput
from ..models import KPI, Event, Initiative, KPICheck, Measurement
from ..selectors import live_kpis
from .common import events_schedule_dispatch, require
from .metrics import metrics_count

#: KPIs per batch of the engine: one statement reads and aggregates a batch
BATCH_SIZE = 2000


def kpi_schedule_check(*, kpi_ids: Sequence[int], countdown: float | None = None) -> None:
    """After commit, check these KPIs (a task per burst; stale KPIs only, so one check
    serves every point of a burst) after `countdown` seconds (CIR_CHECK_DELAY_SECONDS by
    default). A broker outage is logged, never raised: the sweep catches up."""
    ids = list(kpi_ids)
    if countdown is None:
        countdown = settings.CIR_CHECK_DELAY_SECONDS

    def enqueue() -> None:
        from ..tasks import kpis_check_stale
        from ..tasks.publish import publish

        for start in range(0, len(ids), BATCH_SIZE):
            if not publish(
                kpis_check_stale, args=[ids[start : start + BATCH_SIZE]], countdown=countdown
            ):
                break

    transaction.on_commit(enqueue, robust=True)


# --- the check engine ---------------------------------------------------------------------


@dataclass
class CheckSummary:
    """What one run of the engine did (for logs, the API and the benchmark)."""

    checked: int = 0
    created: int = 0
    status_changes: int = 0
    batches: int = 0
    #: the result of every KPI checked, by KPI id
    results: dict[int, evaluation.CheckResult] = field(default_factory=dict)


#: what the engine reads of each KPI, in this order
_KPI_COLUMNS = (
    "id", "initiative_id", "initiative__step", "status", "data_changed_at", "created_at",
    "checked_version",
    # the fields of evaluation.KPIDefinition, in its order
    "direction", "aggregation", "window_days", "baseline_value", "baseline_date",
    "target_value", "target_date", "tolerance",
    "next_check_at",
)  # fmt: skip
_DEFINITION = slice(7, 15)
#: where they are in the rows _kpi_batch returns
_ROW_DEFINITION = slice(6, 14)


def _kpi_batch(queryset, *, after: int, size: int, at: dt.datetime) -> list[tuple]:
    """The next `size` KPIs of `queryset` by id after `after`, each as a tuple:
    (id, initiative id, step, status, data version, checked version, the eight fields of
    evaluation.KPIDefinition, measurement count, current value at `at`, stored next check,
    the oldest counting point's instant, the first point's instant after `at`).

    The count and current value follow evaluation.window_bounds and evaluation.aggregate;
    they are 0 and None for a KPI without baseline and target (nothing to aggregate for),
    and so are the two instants that evaluation.next_change reads.
    """
    batch = queryset.filter(pk__gt=after).order_by("pk").values_list(*_KPI_COLUMNS)[:size]
    if connection.vendor == "postgresql":
        return _kpi_batch_postgres(batch, at)
    rows = list(batch)
    bounds, medians = {}, set()
    for row in rows:
        definition = evaluation.KPIDefinition._make(row[_DEFINITION])
        if None not in definition[3:7]:  # baseline and target, value and date
            bounds[row[0]] = (evaluation.window_bounds(definition, at)[0], definition.aggregation)
            if definition.aggregation == Aggregation.MEDIAN:
                medians.add(row[0])
    aggregates = aggregate_windows(bounds, at, medians)
    result = []
    for row in rows:
        count, current, oldest, upcoming = aggregates.get(row[0], (0, None, None, None))
        result.append(
            (*row[:4], row[4] or row[5], *row[6:15], count, current, row[15], oldest, upcoming)
        )
    return result


def _kpi_batch_postgres(batch, at: dt.datetime) -> list[tuple]:
    """PostgreSQL: the batch's KPIs and their current values in ONE statement. Each KPI's
    window is computed in SQL as evaluation.window_bounds does (dates start at midnight
    UTC; days are 24 h), read by an index range scan on (kpi, measured_at), and aggregated
    on the spot: no sort, no grouping; the median and the latest value only where used."""
    sql, params = batch.query.sql_with_params()
    table = Measurement._meta.db_table
    statement = f"""
        WITH k (id, initiative_id, step, status, data_changed_at, created_at, checked_version,
                direction, aggregation, window_days, baseline_value, baseline_date,
                target_value, target_date, tolerance, next_check_at) AS ({sql}),
        b AS (
            SELECT k.*, p.hi, CASE
                WHEN k.baseline_value IS NULL OR k.baseline_date IS NULL
                  OR k.target_value IS NULL OR k.target_date IS NULL THEN NULL
                WHEN k.aggregation = 'latest' THEN k.baseline_date::timestamp AT TIME ZONE 'UTC'
                ELSE greatest(k.baseline_date::timestamp AT TIME ZONE 'UTC',
                              p.hi - k.window_days * interval '86400 seconds')
              END AS lo
              FROM k CROSS JOIN (SELECT %s::timestamptz AS hi) p
        )
        SELECT b.id, b.initiative_id, b.step, b.status,
               coalesce(b.data_changed_at, b.created_at), b.checked_version, b.direction,
               b.aggregation, b.window_days, b.baseline_value, b.baseline_date,
               b.target_value, b.target_date, b.tolerance, a.n,
               CASE WHEN a.n = 0 THEN NULL
                    WHEN b.aggregation = 'latest' THEN
                      (SELECT l.value FROM {table} l
                        WHERE l.kpi_id = b.id AND l.measured_at >= b.lo AND l.measured_at <= b.hi
                        ORDER BY l.measured_at DESC LIMIT 1)
                    WHEN b.aggregation = 'mean' THEN a.mean
                    WHEN b.aggregation = 'median' THEN a.median
                    WHEN b.aggregation = 'sum' THEN a.total
                    WHEN b.aggregation = 'min' THEN a.low
                    WHEN b.aggregation = 'max' THEN a.high
                    WHEN b.aggregation = 'count' THEN a.n::double precision
               END,
               b.next_check_at, a.oldest,
               CASE WHEN b.lo IS NOT NULL THEN
                 (SELECT u.measured_at FROM {table} u WHERE u.kpi_id = b.id AND u.measured_at > b.hi
                   ORDER BY u.measured_at LIMIT 1)
               END
          FROM b CROSS JOIN LATERAL (
            SELECT COUNT(m.value) AS n, AVG(m.value) AS mean, SUM(m.value) AS total,
                   MIN(m.value) AS low, MAX(m.value) AS high, MIN(m.measured_at) AS oldest,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value)
                     FILTER (WHERE b.aggregation = 'median') AS median
              FROM {table} m
             WHERE m.kpi_id = b.id AND m.measured_at >= b.lo AND m.measured_at <= b.hi
          ) a
         ORDER BY b.id
    """  # noqa: S608 - the table name and the queryset's own SQL; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, at))
        return cursor.fetchall()


def aggregate_windows(
    bounds: dict[int, tuple[dt.datetime, str]], upper: dt.datetime, medians: set[int]
) -> dict[int, tuple[int, float | None, dt.datetime | None, dt.datetime | None]]:
    """SQLite: for each KPI id, its measurement count and current value over its window
    (from its own lower bound up to `upper`), the instant of its oldest point there and of
    its first point after `upper`.

    `bounds` maps KPI ids to (lower bound, aggregation). One statement for the batch (the
    bounds travel as a VALUES list) and one more for the medians, which SQLite cannot
    compute. PostgreSQL does all of this in _kpi_batch_postgres.
    """
    if not bounds:
        return {}
    table = Measurement._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    params: list = [adapt(upper)]
    for kpi_id, (lower, aggregation) in bounds.items():
        params.extend((kpi_id, adapt(lower), aggregation))
    values_sql = ", ".join(["(%s, %s, %s)"] * len(bounds))
    sql = f"""
        WITH p(hi) AS (SELECT %s), b(kpi_id, lo, agg) AS (VALUES {values_sql})
        SELECT b.kpi_id, b.agg, COUNT(m.value), AVG(m.value), SUM(m.value), MIN(m.value),
               MAX(m.value),
               CASE WHEN b.agg = 'latest' THEN
                 (SELECT l.value FROM {table} l WHERE l.kpi_id = b.kpi_id
                     AND l.measured_at >= b.lo AND l.measured_at <= p.hi
                   ORDER BY l.measured_at DESC LIMIT 1)
               END,
               MIN(m.measured_at),
               (SELECT u.measured_at FROM {table} u WHERE u.kpi_id = b.kpi_id
                   AND u.measured_at > p.hi ORDER BY u.measured_at LIMIT 1)
          FROM p CROSS JOIN b LEFT JOIN {table} m
            ON m.kpi_id = b.kpi_id AND m.measured_at >= b.lo AND m.measured_at <= p.hi
         GROUP BY b.kpi_id, b.lo, b.agg
    """  # noqa: S608 - only the table name and placeholders are interpolated
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            kpi_id, aggregation, count, mean, total, low, high, latest, oldest, upcoming = row
            current = {
                Aggregation.LATEST: latest, Aggregation.MEAN: mean, Aggregation.SUM: total,
                Aggregation.MIN: low, Aggregation.MAX: high, Aggregation.COUNT: float(count),
                Aggregation.MEDIAN: None,
            }[aggregation]  # fmt: skip
            result[kpi_id] = (
                count, current if count else None, _instant(oldest), _instant(upcoming),
            )  # fmt: skip
    if medians:
        _sqlite_medians(bounds, upper, medians, result)
    return result


def _sqlite_medians(bounds, upper: dt.datetime, medians: set[int], result: dict) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    table = Measurement._meta.db_table
    params, values_sql = [], []
    for kpi_id in medians:
        lower, _ = bounds[kpi_id]
        params.extend([kpi_id, adapt(lower), adapt(upper)])
        values_sql.append("(%s, %s, %s)")
    sql = f"""
        WITH b(kpi_id, lo, hi) AS (VALUES {", ".join(values_sql)})
        SELECT m.kpi_id, m.value FROM b JOIN {table} m
            ON m.kpi_id = b.kpi_id AND m.measured_at >= b.lo AND m.measured_at <= b.hi
    """  # noqa: S608
    values: dict[int, list[float]] = {k: [] for k in medians}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kpi_id, value in cursor.fetchall():
            values[kpi_id].append(value)
    for kpi_id, vals in values.items():
        _, _, oldest, upcoming = result[kpi_id]
        median = evaluation.aggregate(vals, Aggregation.MEDIAN)
        result[kpi_id] = (len(vals), median, oldest, upcoming)


def _instant(value) -> dt.datetime | None:
    """An instant as SQLite's raw cursor returns it (naive or text, in UTC), aware."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)


def _check_batch(rows: list[tuple], at: dt.datetime, summary: CheckSummary) -> None:
    """Check one batch of KPIs (tuples from _kpi_batch) at instant `at`.

    Writes a KPICheck (and the KPI's verdict, last_checked_at and next check) only where
    the status or the data changed since the last check, and the next check alone where
    only that moved (evaluation.next_change): a steady sweep reads and computes, and writes
    nothing. (When the sweep last ran is the periodic task's last_run_at.)
    """
    changed_status, to_write, moved = [], [], []
    definition, classify, next_change, results = (
        evaluation.KPIDefinition._make,
        evaluation.classify,
        evaluation.next_change,
        summary.results,
    )
    for row in rows:
        kpi_id, initiative_id, step, previous, version, checked_version = row[:6]
        count, current, stored_next, oldest, upcoming = row[14:19]
        defn = definition(row[_ROW_DEFINITION])
        watched = step in WATCHED_STEPS
        result = classify(
            defn, current=current, count=count, at=at, watched=watched, previous_status=previous
        )
        status = str(result.status)
        results[kpi_id] = result
        next_at = next_change(
            defn, result, at=at, watched=watched, oldest=oldest, upcoming=upcoming
        )
        if status != previous:
            changed_status.append((kpi_id, initiative_id, previous, status, result))
        if status != previous or version != checked_version:
            check = KPICheck(
                kpi_id=kpi_id, checked_at=at, data_version=version,
                current=result.current, progress=result.progress, expected=result.expected,
                status=status, previous_status=previous,
                measurement_count=result.measurement_count,
            )  # fmt: skip
            to_write.append((check, next_at))
        elif next_at != stored_next:
            moved.append((kpi_id, status, version, next_at))
    summary.checked += len(rows)
    summary.created += len(to_write)
    summary.status_changes += len(changed_status)
    summary.batches += 1
    if not to_write:
        if moved:  # only the next checks moved: one statement, no transaction
            _write_verdicts([], moved, at)
        return  # a steady batch writes nothing
    with transaction.atomic():  # each batch commits on its own
        _write_verdicts(to_write, moved, at)
        if changed_status:
            _record_status_changes(changed_status, at)
            _refresh_health({initiative_id for _, initiative_id, _, _, _ in changed_status})


def _write_verdicts(checks: list[tuple], moved: list[tuple], at: dt.datetime) -> None:
    """Upsert the checks (same data and status → the same row) and the KPIs' verdicts and
    next checks; `checks`: (KPICheck, next check); `moved`: (KPI id, status, data version,
    next check) of KPIs whose next check alone changed (their last_checked_at stays).
    On PostgreSQL a KPI's verdict never goes back to older data than the one it holds
    (two checks of the same KPI may run at once in two worker processes)."""
    if checks:
        KPICheck.objects.bulk_create(
            [check for check, _ in checks],
            update_conflicts=True,
            unique_fields=["kpi", "data_version", "status"],
            update_fields=["checked_at", "current", "progress", "expected", "measurement_count"],
        )
    rows = [(c.kpi_id, c.status, c.data_version, at, next_at) for c, next_at in checks]
    rows += [(kpi_id, status, version, None, next_at) for kpi_id, status, version, next_at in moved]
    if connection.vendor == "postgresql":
        # one UPDATE ... FROM (VALUES ...): linear, where bulk_update's CASE is quadratic
        params = [value for row in rows for value in row]
        values = ", ".join(
            ["(%s::bigint, %s::text, %s::timestamptz, %s::timestamptz, %s::timestamptz)"]
            * len(rows)
        )
        table = KPI._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS k SET status = v.status, checked_version = v.version, "  # noqa: S608
                "last_checked_at = coalesce(v.at, k.last_checked_at), next_check_at = v.next "
                f"FROM (VALUES {values}) AS v(id, status, version, at, next) WHERE k.id = v.id "
                # never back: a check that read older data and commits after one that read
                # newer data would leave the newer data unchecked, with no check to come
                "AND (k.checked_version IS NULL OR k.checked_version <= v.version)",
                params,
            )
        return
    if checks:
        KPI.objects.bulk_update(
            [
                KPI(pk=c.kpi_id, status=c.status, checked_version=c.data_version,
                    last_checked_at=at, next_check_at=next_at)
                for c, next_at in checks
            ],
            ["status", "checked_version", "last_checked_at", "next_check_at"],
        )  # fmt: skip
    if moved:
        KPI.objects.bulk_update(
            [KPI(pk=kpi_id, next_check_at=next_at) for kpi_id, _, _, next_at in moved],
            ["next_check_at"],
        )


def _record_status_changes(changed: list, at: dt.datetime) -> None:
    """One kpi.status_changed event per change (kpi.reverted as well when it reverted).
    `changed`: (KPI id, initiative id, previous status, status, CheckResult) tuples."""
    events = []
    kpi_info = {
        k["id"]: k
        for k in KPI.objects.filter(pk__in=[kpi_id for kpi_id, *_ in changed]).values(
            "id", "key", "name", "initiative_id", "initiative__reference"
        )
    }
    for kpi_id, _, previous, status, result in changed:
        info = kpi_info[kpi_id]
        payload = {
            "kpi": info["key"], "kpi_id": info["id"], "name": info["name"],
            "initiative_id": info["initiative_id"], "initiative": info["initiative__reference"],
            "from": previous, "to": status, "current": result.current,
            "progress": result.progress, "expected": result.expected,
            "checked_at": at.isoformat(),
        }  # fmt: skip
        events.append(Event(id=uuid.uuid4(), type=EventType.KPI_STATUS_CHANGED, payload=payload))
        if status == KPIStatus.REVERTED:
            events.append(Event(id=uuid.uuid4(), type=EventType.KPI_REVERTED, payload=payload))
    Event.objects.bulk_create(events)
    events_schedule_dispatch(e.id for e in events)


def _refresh_health(initiative_ids: set[int]) -> None:
    """Recompute the health (worst KPI status) of these initiatives in two statements.

    A rejected or cancelled initiative shows none (it is no longer checked); a closed one
    follows the KPIs still watched, so a revert shows.
    """
    statuses: dict[int, list[str]] = {i: [] for i in initiative_ids}
    ended = (Step.REJECTED, Step.CANCELLED)
    rows = KPI.objects.filter(initiative_id__in=initiative_ids).exclude(initiative__step__in=ended)
    for initiative_id, status in rows.values_list("initiative_id", "status"):
        statuses[initiative_id].append(status)
    updates = [Initiative(pk=i, health=evaluation.worst_status(s)) for i, s in statuses.items()]
    # bulk_update bypasses save(): the protected step is neither read nor written
    Initiative.objects.bulk_update(updates, ["health"])


def initiative_refresh_health(*, initiative: Initiative) -> str:
    """Recompute one initiative's health now (after a KPI is added or removed)."""
    _refresh_health({initiative.pk})
    return Initiative.objects.values_list("health", flat=True).get(pk=initiative.pk)


def due_q(at: dt.datetime) -> Q:
    """KPIs a steady sweep checks at `at`: those whose next check has come (their status
    may have moved with time), never checked, or whose data or definition changed since
    their last check. Served by the KPI indexes improvement_kpi_next_check and _stale."""
    return (
        Q(next_check_at__lte=at)
        | Q(checked_version__isnull=True)
        | Q(data_changed_at__gt=F("checked_version"))
    )


def kpis_check(
    *, kpi_ids: Sequence[int] | None = None, at: dt.datetime | None = None,
    only_stale: bool = False, due_only: bool = False, id_range: tuple[int, int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> CheckSummary:  # fmt: skip
    """Check KPIs at `at` (default now), set-based, in batches of `batch_size`.

    kpi_ids=None checks every live KPI (a full sweep), or with due_only=True only those
    whose next check has come or whose data changed (due_q: a steady sweep, same verdicts);
    id_range=(lo, hi) keeps ids lo < id <= hi (one batch of a fanned-out sweep).
    only_stale=True skips KPIs whose data has not changed since their last check (the
    after-measurement check: one per burst). Idempotent: the same data and status refresh
    the same KPICheck row; only a status change writes an event. Each batch commits on its
    own.
    """
    at = at or timezone.now()
    summary = CheckSummary()
    if kpi_ids is None:
        queryset = live_kpis(at)
    elif only_stale:  # the after-measurement check: a rejected or cancelled KPI stays put
        queryset = live_kpis(at).filter(pk__in=list(kpi_ids))
    else:  # an explicit check of these KPIs, whatever their initiative's state
        queryset = KPI.objects.filter(pk__in=list(kpi_ids))
    if only_stale:
        queryset = queryset.filter(
            Q(checked_version__isnull=True)
            | Q(data_changed_at__isnull=False, data_changed_at__gt=F("checked_version"))
        )
    if due_only:
        queryset = queryset.filter(due_q(at))
    last_id = 0
    if id_range is not None:
        last_id = id_range[0]
        queryset = queryset.filter(pk__lte=id_range[1])
    while True:
        rows = _kpi_batch(queryset, after=last_id, size=batch_size, at=at)
        if not rows:
            break
        _check_batch(rows, at, summary)
        last_id = rows[-1][0]
        if len(rows) < batch_size or (id_range is not None and last_id >= id_range[1]):
            break
    metrics_count(kpi_checks=summary.checked, kpi_status_changes=summary.status_changes)
    return summary


def sweep_ranges(
    *, at: dt.datetime | None = None, due_only: bool = True, batch_size: int = BATCH_SIZE
) -> list[tuple[int, int]]:
    """Split the live KPIs a sweep checks (due_only: only the due ones, see due_q) into id
    ranges (lo, hi], lo < id <= hi, of at most `batch_size` KPIs each: the independent
    batches of a fanned-out sweep (tasks.kpis_check_range). One query (the ids)."""
    at = at or timezone.now()
    queryset = live_kpis(at)
    if due_only:
        queryset = queryset.filter(due_q(at))
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    ranges, low = [], 0
    for start in range(0, len(ids), batch_size):
        high = ids[min(start + batch_size, len(ids)) - 1]
        ranges.append((low, high))
        low = high
    return ranges


def kpis_sweep_run(
    *, at: dt.datetime | None = None, due_only: bool = True, batch_size: int = BATCH_SIZE
) -> CheckSummary:
    """A whole sweep in this process, range after range (what the fanned-out tasks do
    between them): for tests, benchmarks and a shell."""
    at = at or timezone.now()
    total = CheckSummary()
    for low, high in sweep_ranges(at=at, due_only=due_only, batch_size=batch_size):
        part = kpis_check(at=at, due_only=due_only, id_range=(low, high), batch_size=batch_size)
        total.checked += part.checked
        total.created += part.created
        total.status_changes += part.status_changes
        total.batches += part.batches
        total.results.update(part.results)
    return total


def kpi_check(*, kpi: KPI, actor=None, at: dt.datetime | None = None) -> KPICheck:
    """Check one KPI now (the API's "run a check"): the same engine as the sweep."""
    if actor is not None:
        require(permissions.may_view(actor), permissions.NEED_VIEW)
    summary = kpis_check(kpi_ids=[kpi.pk], at=at)
    if kpi.pk not in summary.results:
        raise InvalidInput("The KPI could not be checked.")
    from ..selectors import LATEST_CHECK_ORDER

    return KPICheck.objects.filter(kpi=kpi).order_by(*LATEST_CHECK_ORDER).first()
