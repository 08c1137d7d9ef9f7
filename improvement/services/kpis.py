"""Writes of KPI data: recording measurements and checking KPIs against baseline and target.

The check engine is set-based: a batch of KPIs is read, aggregated over each KPI's own
window in ONE SQL statement, classified by the pure functions of evaluation.py, and written
back with a handful of bulk statements — never a query per KPI. `kpi_check` (one KPI, the
API's "check now"), the after-commit check of new measurements and the periodic sweep all
run through `kpis_check`.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import evaluation, permissions
from ..choices import LIVE_STEPS, WATCHED_STEPS, Aggregation, EventType, KPIStatus, Step
from ..exceptions import Forbidden, InvalidInput
from ..models import KPI, Event, Initiative, KPICheck, Measurement
from .common import events_schedule_dispatch, require
from .metrics import metrics_count

log = logging.getLogger(__name__)

#: KPIs per batch: bounds each statement's parameters on SQLite (3 per KPI) and memory
BATCH_SIZE = 2000
#: most points one call records, to one KPI or across KPIs (SPEC §4)
MAX_POINTS = 10_000
MAX_SOURCE = Measurement._meta.get_field("source").max_length
MAX_NOTE = Measurement._meta.get_field("note").max_length
FINITE_LIMIT = 1e300
#: how far ahead of our clock a sender's clock may be
CLOCK_SKEW = dt.timedelta(minutes=5)


# --- recording measurements ---------------------------------------------------------------


def _parse_instant(text: str) -> dt.datetime | None:
    """ISO 8601 to a datetime (fast path first); None when it is not one."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_datetime(text)
        except ValueError:
            return None


_POINT_FIELDS = frozenset({"value", "measured_at", "source", "note", "kpi"})
#: ISO 8601 as PostgreSQL reads it too: such a text goes to the database as the sender wrote
#: it; any other form Python understands (week dates, a decimal comma ...) is rewritten
_PORTABLE_INSTANT = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d(?::?\d\d)?)"
).fullmatch


def _text_error(text, limit: int) -> str | None:
    """Why `text` cannot be stored in a text column of `limit` characters, or None."""
    if type(text) is not str or len(text) > limit:
        return f"At most {limit} characters of text."
    if "\x00" in text:
        return "The text must not contain NUL characters."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "The text must be valid Unicode (no lone surrogates)."
    return None


def _clean_point(point: dict, *, latest: dt.datetime) -> tuple[tuple, dict]:
    """Validate one point; returns ((value, measured_at, stamp, source, note), field errors).

    `stamp` is the instant as ISO 8601 text that PostgreSQL reads as Python did: the
    sender's own text when it has that form, else None.

    `latest` is the latest instant accepted (now plus a little clock skew). This runs once
    per row of a 10 000-row upload, so the common case takes the short paths.
    """
    errors: dict[str, list[str]] = {}
    if type(point) is not dict:
        return (), {"non_field_errors": ["Expected an object with value and measured_at."]}
    value = point.get("value")
    kind = type(value)
    if kind is float or kind is int:
        value = float(value)
    elif kind is str:
        try:
            value = float(value)
        except ValueError:
            errors["value"] = ["A number is required."]
    else:  # None, booleans, lists, objects
        errors["value"] = ["A number is required."]
    if "value" not in errors and not -FINITE_LIMIT <= value <= FINITE_LIMIT:  # NaN, ±inf
        errors["value"] = ["The value must be a finite number."]
    measured_at = stamp = point.get("measured_at")
    if type(measured_at) is str:
        measured_at = _parse_instant(measured_at)
        if not _PORTABLE_INSTANT(stamp):
            stamp = None
    else:
        stamp = None
    if not isinstance(measured_at, dt.datetime):
        errors["measured_at"] = ["A date and time is required (ISO 8601 with a time zone)."]
    elif measured_at.utcoffset() is None:
        errors["measured_at"] = ["The time must carry a time zone, e.g. 2026-11-21T09:00:00Z."]
    elif not 1900 < measured_at.year < 9000:  # in UTC too: 1901 minus 14 h is still 1900
        errors["measured_at"] = ["The time must be a real date (after 1900)."]
    elif measured_at > latest:
        errors["measured_at"] = ["The time is in the future."]
    source = point.get("source") or ""
    note = point.get("note") or ""
    # the common case, short ASCII text, in one test before the full one
    usual = type(source) is str and source.isascii() and len(source) <= MAX_SOURCE
    if not (usual and "\x00" not in source) and (message := _text_error(source, MAX_SOURCE)):
        errors["source"] = [message]
    if note and (message := _text_error(note, MAX_NOTE)):
        errors["note"] = [message]
    if len(point) > 2 and not point.keys() <= _POINT_FIELDS:
        for name in sorted(point.keys() - _POINT_FIELDS):
            errors[name] = ["Unknown field."]
    return (value, measured_at, stamp, source, note), errors


_MEASUREMENT_COLUMNS = ("kpi_id", "value", "measured_at", "source", "note", "recorded_by_id",
                        "recorded_at")  # fmt: skip
_UPSERT_SET = ", ".join(
    f"{c} = excluded.{c}" for c in ("value", "source", "note", "recorded_by_id", "recorded_at")
)
# only a point whose content differs is rewritten (the columns are NOT NULL: <> is safe)
_UPSERT_CHANGED = " OR ".join(
    f"{Measurement._meta.db_table}.{c} <> excluded.{c}" for c in ("value", "source", "note")
)

#: a validated point: (KPI id, (value, measured_at, stamp, source, note))
Point = tuple[int, tuple]
#: rows validated per chunk of COPY data: PostgreSQL stores one chunk while the next is checked
COPY_CHUNK = 1000


def _store_points_sqlite(points: list[Point], actor_pk: int | None, now: dt.datetime):
    """SQLite: parameterised INSERT ... ON CONFLICT, the last point of an instant winning.
    Returns (points stored, ids of the KPIs whose data changed)."""
    unique = {(kpi_id, clean[1]): (kpi_id, clean) for kpi_id, clean in points}
    changed: set[int] = set()
    adapt = connection.ops.adapt_datetimefield_value
    recorded_at = adapt(now)
    table = Measurement._meta.db_table
    columns = ", ".join(_MEASUREMENT_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(_MEASUREMENT_COLUMNS)) + ")"
    rows = list(unique.values())
    # SQLite allows 32 766 parameters per statement: 4 000 rows x 7 stay below it
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 4000):
            chunk = rows[start : start + 4000]
            params = []
            for kpi_id, (value, measured_at, _, source, note) in chunk:
                params.extend(
                    (kpi_id, value, adapt(measured_at), source, note, actor_pk, recorded_at)
                )
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT (kpi_id, measured_at) DO UPDATE SET {_UPSERT_SET} "
                f"WHERE {_UPSERT_CHANGED} RETURNING kpi_id",
                params,
            )
            changed.update(row[0] for row in cursor.fetchall())
    return len(rows), changed


class _CopyText:
    """Validated points as COPY's CSV, chunk by chunk; remembers what it wrote."""

    def __init__(self, actor_pk: int | None, now: dt.datetime):
        self.tail = f",{'' if actor_pk is None else actor_pk},{now.isoformat()}\n"  # '': NULL
        self.quoted = {"": '""'}  # each distinct text is quoted once
        self.chunks: list[str] = []
        self.count = 0
        self.kpi_ids: set[int] = set()

    def chunk(self, points: list[Point]) -> str:
        quoted, tail = self.quoted, self.tail
        lines = []
        append = lines.append
        for kpi_id, (value, measured_at, stamp, source, note) in points:
            if (source_csv := quoted.get(source)) is None:
                source_csv = quoted[source] = '"' + source.replace('"', '""') + '"'
            if (note_csv := quoted.get(note)) is None:
                note_csv = quoted[note] = '"' + note.replace('"', '""') + '"'
            instant = stamp or measured_at.isoformat()
            append(f"{kpi_id},{value!r},{instant},{source_csv},{note_csv}{tail}")
        self.count += len(points)
        self.kpi_ids.update(kpi_id for kpi_id, _ in points)
        text = "".join(lines)
        self.chunks.append(text)
        return text


class _ChunkReader:
    """The file psycopg2's COPY reads: each read() returns the next chunk ('' at the end)."""

    def __init__(self, chunks: Iterator[str]):
        self.chunks = chunks

    def read(self, size: int = -1) -> str:
        return next(self.chunks, "")

    def drain(self) -> None:
        for _ in self.chunks:
            pass


_COPY_OPTIONS = "WITH (FORMAT csv)"


def _copy_new_points(chunks: Iterator[str]) -> bool:
    """PostgreSQL: COPY the chunks straight into the table, under a savepoint. False (and
    nothing stored) when the unique index refuses a point: one met a point already stored
    or one earlier in the batch. Reads every chunk either way."""
    import psycopg2

    table = Measurement._meta.db_table
    reader = _ChunkReader(chunks)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            columns = ", ".join(_MEASUREMENT_COLUMNS)
            cursor.cursor.copy_expert(
                f"COPY {table} ({columns}) FROM STDIN {_COPY_OPTIONS}", reader
            )
        return True
    except psycopg2.IntegrityError:
        return False
    finally:
        reader.drain()


def _upsert_copied(text: str) -> tuple[int, set[int]]:
    """PostgreSQL, for a batch that meets stored points (a re-send, a correction): COPY into
    a temporary table, then one INSERT ... ON CONFLICT, the last point of each instant
    winning. Returns (points stored, ids of the KPIs whose data changed)."""
    table = Measurement._meta.db_table
    columns = ", ".join(_MEASUREMENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS cir_measurement_load ("
            "position bigint GENERATED ALWAYS AS IDENTITY, kpi_id bigint, "
            "value double precision, measured_at timestamptz, source text, note text, "
            "recorded_by_id bigint, recorded_at timestamptz) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE cir_measurement_load")
        cursor.cursor.copy_expert(
            f"COPY cir_measurement_load ({columns}) FROM STDIN {_COPY_OPTIONS}", io.StringIO(text)
        )
        cursor.execute(
            f"WITH latest AS (SELECT DISTINCT ON (kpi_id, measured_at) {columns} "  # noqa: S608
            "  FROM cir_measurement_load ORDER BY kpi_id, measured_at, position DESC), "
            f"written AS (INSERT INTO {table} ({columns}) SELECT {columns} FROM latest "
            "  ON CONFLICT (kpi_id, measured_at) "
            f"  DO UPDATE SET {_UPSERT_SET} WHERE {_UPSERT_CHANGED} RETURNING kpi_id) "
            "SELECT (SELECT count(*) FROM latest), ARRAY(SELECT DISTINCT kpi_id FROM written)"
        )
        count, changed = cursor.fetchone()
        return count, set(changed)


def _mark_changed_and_schedule(kpi_ids: Iterable[int]) -> None:
    """The data of these KPIs moved: bump their data version and check them after commit."""
    kpi_ids = sorted(set(kpi_ids))
    KPI.objects.filter(pk__in=kpi_ids).update(data_changed_at=timezone.now())
    kpi_schedule_check(kpi_ids=kpi_ids)


def _record(validate, total: int, errors: dict, *, actor, now: dt.datetime) -> int:
    """Validate `total` rows and store them, all or nothing; mark and schedule what changed.

    `validate(start, stop)` returns the points of rows start..stop-1 and puts the errors of
    the others into `errors` by row index. Insert or update: (kpi, measured_at) decides, so
    a re-sent point updates it, and of several points at one instant the last wins; an
    identical re-sent point changes nothing, so it triggers no new check. Returns the
    number of points stored.

    PostgreSQL: the rows are validated a chunk at a time while the database COPYs the
    chunks before (two cores at work), straight into the table when they are new points,
    else through _upsert_copied; invalid input rolls it all back. SQLite: validate all, then
    upsert. Plain values either way: model instances cost more than the database's work.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            text = _CopyText(actor.pk, now)
            chunks = (
                text.chunk(points)
                for start in range(0, total, COPY_CHUNK)
                if (points := validate(start, start + COPY_CHUNK)) and not errors
            )
            new = _copy_new_points(chunks)
            if errors:
                raise _rows_invalid(errors)  # rolls back what was copied
            if new:
                count, changed = text.count, text.kpi_ids
            else:
                count, changed = _upsert_copied("".join(text.chunks))
        else:
            points = validate(0, total)
            if errors:
                raise _rows_invalid(errors)
            count, changed = _store_points_sqlite(points, actor.pk, now)
        if changed:
            _mark_changed_and_schedule(changed)
        metrics_count(measurements=count)
    return count


def _require_at_most_max_points(rows: Sequence) -> None:
    if len(rows) > MAX_POINTS:
        raise InvalidInput(
            f"At most {MAX_POINTS} measurements per request; this one has {len(rows)}.",
            errors={"rows": [f"At most {MAX_POINTS} rows."]},
        )


def measurement_record(*, kpi: KPI, actor, points: Sequence[dict]) -> int:
    """Record points of one KPI (value, measured_at, source, note), all or nothing.

    A point at an instant already recorded replaces it, so retries never double count.
    The KPI is checked after commit. Returns the number of points stored (one per instant).
    Raises Forbidden or InvalidInput (errors by index).
    """
    require(
        permissions.may_record_measurements(actor, kpi),
        "You may not record measurements for this KPI.",
    )
    if not points:
        raise InvalidInput("No measurement was given.", errors={"rows": ["Send at least one."]})
    _require_at_most_max_points(points)
    now = timezone.now()
    latest = now + CLOCK_SKEW
    errors: dict = {}

    def validate(start: int, stop: int) -> list[Point]:
        clean_points = []
        for index in range(start, min(stop, len(points))):
            clean, point_errors = _clean_point(points[index], latest=latest)
            if point_errors:
                errors[index] = point_errors
            else:
                clean_points.append((kpi.pk, clean))
        return clean_points

    return _record(validate, len(points), errors, actor=actor, now=now)


def measurements_record_bulk(*, actor, rows: Sequence[dict]) -> int:
    """Record up to 10 000 points across KPIs addressed by key, all or nothing.

    Every row is validated before anything is committed; errors name the row index and
    field: InvalidInput(errors={"rows": {3: {"kpi": ["Unknown KPI key 'x'."]}}}), or
    Forbidden when the only errors are KPIs the actor may not feed. Re-sending the same
    batch changes nothing. Returns the number of points stored (one per KPI and instant).
    """
    if not isinstance(rows, list | tuple) or not rows:
        raise InvalidInput("Send a non-empty list of measurements.", errors={"rows": ["Empty."]})
    _require_at_most_max_points(rows)
    keys = {key for r in rows if type(r) is dict and type(key := r.get("kpi")) is str}
    # CSI managers and integrations may feed any KPI: no need to load the initiatives
    may_feed_all = permissions.is_csi_manager(actor) or permissions.is_integration(actor)
    # KPI ids by key, and whether the actor may feed each: decided before the rows are read,
    # as no query may run while the rows stream into COPY
    queryset = KPI.objects.filter(key__in=keys)
    if may_feed_all:
        kpi_ids = dict(queryset.values_list("key", "pk"))
        allowed = dict.fromkeys(kpi_ids.values(), True)
    else:
        # what may_record_measurements reads, for all the KPIs in two queries
        kpis = list(
            queryset.select_related("initiative__service", "initiative__practice")
            .prefetch_related("initiative__responsible")
        )  # fmt: skip
        kpi_ids = {k.key: k.pk for k in kpis}
        allowed = {k.pk: permissions.may_record_measurements(actor, k) for k in kpis}
    now = timezone.now()
    latest = now + CLOCK_SKEW
    errors: dict = {}

    def validate(start: int, stop: int) -> list[Point]:
        points = []
        append = points.append  # this loop runs 10 000 times a request
        for index in range(start, min(stop, len(rows))):
            row = rows[index]
            clean, row_errors = _clean_point(row, latest=latest)
            key = row.get("kpi") if type(row) is dict else None
            kpi_id = kpi_ids.get(key) if type(key) is str else None
            if kpi_id is None:
                if type(row) is dict:
                    row_errors["kpi"] = [
                        f"Unknown KPI key '{key}'." if key else "The KPI key is required."
                    ]
            elif not allowed[kpi_id]:
                row_errors["kpi"] = [f"You may not record measurements for KPI '{key}'."]
            if row_errors:
                errors[index] = row_errors
            else:
                append((kpi_id, clean))
        return points

    return _record(validate, len(rows), errors, actor=actor, now=now)


def _rows_invalid(errors: dict) -> InvalidInput:
    """Forbidden when every error is a KPI the actor may not feed; else InvalidInput."""
    if all(set(e) == {"kpi"} and "may not" in e["kpi"][0] for e in errors.values()):
        return Forbidden("You may not record measurements for these KPIs.", errors={"rows": errors})
    index, first = next(iter(errors.items()))
    field_name, messages = next(iter(first.items()))
    return InvalidInput(
        f"Row {index}: {field_name}: {messages[0]} ({len(errors)} row(s) with errors; "
        f"nothing was recorded.)",
        errors={"rows": errors},
    )


def kpi_schedule_check(*, kpi_ids: Sequence[int], countdown: float | None = None) -> None:
    """After commit, check these KPIs (a task per burst; stale KPIs only, so one check
    serves every point of a burst) after `countdown` seconds (CIR_CHECK_DELAY_SECONDS by
    default). A broker outage is logged, never raised: the sweep catches up."""
    ids = list(kpi_ids)
    if countdown is None:
        countdown = settings.CIR_CHECK_DELAY_SECONDS

    def enqueue() -> None:
        from ..tasks import kpis_check_stale

        for start in range(0, len(ids), BATCH_SIZE):
            kpis_check_stale.apply_async(
                args=[ids[start : start + BATCH_SIZE]], countdown=countdown, retry=False
            )

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
)  # fmt: skip
_DEFINITION = slice(7, 15)
#: where they are in the rows _kpi_batch returns
_ROW_DEFINITION = slice(6, 14)


def _kpi_batch(queryset, *, after: int, size: int, at: dt.datetime) -> list[tuple]:
    """The next `size` KPIs of `queryset` by id after `after`, each as a tuple:
    (id, initiative id, step, status, data version, checked version, the eight fields of
    evaluation.KPIDefinition, measurement count, current value at `at`).

    The count and current value follow evaluation.window_bounds and evaluation.aggregate;
    they are 0 and None for a KPI without baseline and target (nothing to aggregate for).
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
        count, current = aggregates.get(row[0], (0, None))
        result.append((*row[:4], row[4] or row[5], *row[6:], count, current))
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
                target_value, target_date, tolerance) AS ({sql}),
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
               END
          FROM b CROSS JOIN LATERAL (
            SELECT COUNT(m.value) AS n, AVG(m.value) AS mean, SUM(m.value) AS total,
                   MIN(m.value) AS low, MAX(m.value) AS high,
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
) -> dict[int, tuple[int, float | None]]:
    """SQLite: for each KPI id, its measurement count and current value over its window:
    from its own lower bound up to `upper`.

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
               END
          FROM p CROSS JOIN b LEFT JOIN {table} m
            ON m.kpi_id = b.kpi_id AND m.measured_at >= b.lo AND m.measured_at <= p.hi
         GROUP BY b.kpi_id, b.lo, b.agg
    """  # noqa: S608 - only the table name and placeholders are interpolated
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kpi_id, aggregation, count, mean, total, low, high, latest in cursor.fetchall():
            current = {
                Aggregation.LATEST: latest, Aggregation.MEAN: mean, Aggregation.SUM: total,
                Aggregation.MIN: low, Aggregation.MAX: high, Aggregation.COUNT: float(count),
                Aggregation.MEDIAN: None,
            }[aggregation]  # fmt: skip
            result[kpi_id] = (count, current if count else None)
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
        result[kpi_id] = (len(vals), evaluation.aggregate(vals, Aggregation.MEDIAN))


def _check_batch(rows: list[tuple], at: dt.datetime, summary: CheckSummary) -> None:
    """Check one batch of KPIs (tuples from _kpi_batch) at instant `at`.

    Writes a KPICheck (and the KPI's verdict and last_checked_at) only where the status or
    the data changed since the last check: a steady sweep reads and computes, and writes
    nothing. (When the sweep last ran is the periodic task's last_run_at.)
    """
    changed_status, to_write = [], []
    definition, classify, results = (
        evaluation.KPIDefinition._make,
        evaluation.classify,
        summary.results,
    )
    for row in rows:
        kpi_id, initiative_id, step, previous, version, checked_version = row[:6]
        count, current = row[14], row[15]
        result = classify(
            definition(row[_ROW_DEFINITION]), current=current, count=count, at=at,
            watched=step in WATCHED_STEPS, previous_status=previous,
        )  # fmt: skip
        status = str(result.status)
        results[kpi_id] = result
        if status != previous:
            changed_status.append((kpi_id, initiative_id, previous, status, result))
        if status != previous or version != checked_version:
            to_write.append(
                KPICheck(
                    kpi_id=kpi_id, checked_at=at, data_version=version,
                    current=result.current, progress=result.progress, expected=result.expected,
                    status=status, previous_status=previous,
                    measurement_count=result.measurement_count,
                )
            )  # fmt: skip
    summary.checked += len(rows)
    summary.created += len(to_write)
    summary.status_changes += len(changed_status)
    summary.batches += 1
    if not to_write:
        return  # a steady batch: not even a transaction
    with transaction.atomic():  # each batch commits on its own
        _write_checks(to_write, at)
        if changed_status:
            _record_status_changes(changed_status, at)
            _refresh_health({initiative_id for _, initiative_id, _, _, _ in changed_status})


def _write_checks(checks: list[KPICheck], at: dt.datetime) -> None:
    """Upsert the checks (same data and status → the same row) and the KPIs' verdicts."""
    KPICheck.objects.bulk_create(
        checks,
        update_conflicts=True,
        unique_fields=["kpi", "data_version", "status"],
        update_fields=["checked_at", "current", "progress", "expected", "measurement_count"],
    )
    if connection.vendor == "postgresql":
        # one UPDATE ... FROM (VALUES ...): linear, where bulk_update's CASE is quadratic
        params = []
        for check in checks:
            params.extend([check.kpi_id, check.status, check.data_version, at])
        values = ", ".join(
            ["(%s::bigint, %s::text, %s::timestamptz, %s::timestamptz)"] * len(checks)
        )
        table = KPI._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS k SET status = v.status, checked_version = v.version, "  # noqa: S608
                f"last_checked_at = v.at FROM (VALUES {values}) AS v(id, status, version, at) "
                "WHERE k.id = v.id",
                params,
            )
    else:
        KPI.objects.bulk_update(
            [
                KPI(
                    pk=c.kpi_id, status=c.status, checked_version=c.data_version, last_checked_at=at
                )
                for c in checks
            ],
            ["status", "checked_version", "last_checked_at"],
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
    """Recompute the health (worst KPI status) of these initiatives in two statements."""
    statuses: dict[int, list[str]] = {i: [] for i in initiative_ids}
    for initiative_id, status in KPI.objects.filter(initiative_id__in=initiative_ids).values_list(
        "initiative_id", "status"
    ):
        statuses[initiative_id].append(status)
    updates = [Initiative(pk=i, health=evaluation.worst_status(s)) for i, s in statuses.items()]
    # bulk_update bypasses save(): the protected step is neither read nor written
    Initiative.objects.bulk_update(updates, ["health"])


def initiative_refresh_health(*, initiative: Initiative) -> str:
    """Recompute one initiative's health now (after a KPI is added or removed)."""
    _refresh_health({initiative.pk})
    return Initiative.objects.values_list("health", flat=True).get(pk=initiative.pk)


def live_kpis(at: dt.datetime | None = None):
    """KPIs that are checked: of initiatives not rejected or cancelled; after closure while
    the sustain record's monitor_until has not passed (or is not set)."""
    today = (at or timezone.now()).date()
    return KPI.objects.filter(initiative__step__in=LIVE_STEPS).exclude(
        Q(initiative__step=Step.CLOSED) & Q(initiative__sustain__monitor_until__lt=today)
    )


def kpis_check(
    *, kpi_ids: Sequence[int] | None = None, at: dt.datetime | None = None,
    only_stale: bool = False, batch_size: int = BATCH_SIZE,
) -> CheckSummary:  # fmt: skip
    """Check KPIs at `at` (default now), set-based, in batches of `batch_size`.

    kpi_ids=None checks every live KPI (the sweep). only_stale=True skips KPIs whose data
    has not changed since their last check (the after-measurement check: one per burst).
    Idempotent: the same data and status refresh the same KPICheck row; only a status
    change writes an event. Each batch commits on its own.
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
    last_id = 0
    while True:
        rows = _kpi_batch(queryset, after=last_id, size=batch_size, at=at)
        if not rows:
            break
        _check_batch(rows, at, summary)
        last_id = rows[-1][0]
        if len(rows) < batch_size:
            break
    metrics_count(kpi_checks=summary.checked, kpi_status_changes=summary.status_changes)
    return summary


def kpi_check(*, kpi: KPI, actor=None, at: dt.datetime | None = None) -> KPICheck:
    """Check one KPI now (the API's "run a check"): the same engine as the sweep."""
    if actor is not None:
        require(permissions.may_view(actor), "You may not check this KPI.")
    summary = kpis_check(kpi_ids=[kpi.pk], at=at)
    if kpi.pk not in summary.results:
        raise InvalidInput("The KPI could not be checked.")
    from ..selectors import LATEST_CHECK_ORDER

    return KPICheck.objects.filter(kpi=kpi).order_by(*LATEST_CHECK_ORDER).first()
