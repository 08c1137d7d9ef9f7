"""Writes of KPI data: recording measurements, one KPI's points or a batch across KPIs.

All or nothing, validated row by row with errors that name the row and field; a point at
an instant already stored replaces it, so a retry never counts twice. On PostgreSQL the
rows stream into COPY a chunk at a time while Python validates the next. The KPIs whose
data changed are checked after commit (checks.py), a task per burst.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Iterator, Sequence

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import permissions
from ..exceptions import Conflict, Forbidden, InvalidInput
from ..models import FINITE_LIMIT, KPI, Measurement
from .checks import kpi_schedule_check
from .common import require, text_problem
from .hygiene import initiatives_touch_for_kpis
from .metrics import metrics_count

#: most points one call records, to one KPI or across KPIs (SPEC §4)
MAX_POINTS = 10_000
MAX_SOURCE = Measurement._meta.get_field("source").max_length
MAX_NOTE = Measurement._meta.get_field("note").max_length
MAX_KEY = KPI._meta.get_field("key").max_length
#: how far ahead of our clock a sender's clock may be
CLOCK_SKEW = dt.timedelta(minutes=5)
#: the largest UTC offset PostgreSQL reads (Python's go to ±23:59); real zones stay in ±14:00
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


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
    if kind is float:
        pass
    elif kind is int or kind is str:
        try:
            value = float(value)
        except ValueError:
            errors["value"] = ["A number is required."]
        except OverflowError:  # an integer written out beyond 1.8e308
            value = math.inf
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
    elif (offset := measured_at.utcoffset()) is None:
        errors["measured_at"] = ["The time must carry a time zone, e.g. 2026-11-21T09:00:00Z."]
    elif not -MAX_OFFSET <= offset <= MAX_OFFSET:
        errors["measured_at"] = ["The UTC offset must lie within ±15:59 (e.g. +05:30)."]
    elif not 1900 < measured_at.year < 9000:  # in UTC too: 1901 minus 14 h is still 1900
        errors["measured_at"] = ["The time must be a real date (after 1900)."]
    elif measured_at > latest:
        errors["measured_at"] = ["The time is in the future."]
    source = point.get("source")
    note = point.get("note")
    source = "" if source is None else source  # null is no text; {} or 0 is a wrong type
    note = "" if note is None else note
    # the common case, short ASCII text, in one test before the full one
    usual = type(source) is str and source.isascii() and len(source) <= MAX_SOURCE
    if not (usual and "\x00" not in source) and (message := text_problem(source, MAX_SOURCE)):
        errors["source"] = [message]
    if note != "" and (message := text_problem(note, MAX_NOTE)):
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


# --- audit -----------------------------------------------------------------------------
# A stored point records who wrote it and when (recorded_by, recorded_at). The audit
# history (HistoricalMeasurement) keeps what that row cannot: every overwrite (the state
# before, as written by whom and when, and the state after, by the actor), and every point
# written one KPI at a time by a person (the admin, the API's per-KPI endpoint). A batch
# of new points from an ITSM tool is audited by its rows alone, so the 10 000-point path
# writes no second table.


def _last_per_instant(points: list[Point]) -> dict[tuple, tuple]:
    """The point that wins each (KPI, instant) of a batch: the last one."""
    return {(kpi_id, clean[1]): clean for kpi_id, clean in points}


def _stored_points(latest: dict[tuple, tuple]) -> dict[tuple, Measurement]:
    """The points already stored at the batch's (KPI, instant) pairs, before the write."""
    if not latest:
        return {}
    kpi_ids = {kpi_id for kpi_id, _ in latest}
    instants = {instant for _, instant in latest}
    stored = Measurement.objects.filter(kpi_id__in=kpi_ids, measured_at__in=instants)
    return {(m.kpi_id, m.measured_at): m for m in stored if (m.kpi_id, m.measured_at) in latest}


def _audit(latest: dict[tuple, tuple], before: dict[tuple, Measurement], *, actor, now,
           created: bool) -> None:  # fmt: skip
    """Write the history of a batch just stored: each overwritten point (its state before,
    if it has no history yet, then its new state) and, when `created`, each new point."""
    History = Measurement.history.model

    def row(m_id, kpi_id, clean, *, by, at, kind, reason=None):
        value, measured_at, _, source, note = clean
        return History(
            id=m_id, kpi_id=kpi_id, value=value, measured_at=measured_at, source=source,
            note=note, recorded_by_id=by, recorded_at=at, history_date=at, history_type=kind,
            history_user_id=by, history_change_reason=reason,
        )  # fmt: skip

    def as_clean(m: Measurement) -> tuple:
        return (m.value, m.measured_at, None, m.source, m.note)

    changed = {
        pair: m
        for pair, m in before.items()
        if (m.value, m.source, m.note) != (latest[pair][0], latest[pair][3], latest[pair][4])
    }
    histories = []
    if changed:
        audited = set(
            History.objects.filter(id__in=[m.pk for m in changed.values()])
            .values_list("id", flat=True)
            .distinct()
        )
        for pair, old in changed.items():
            if old.pk not in audited:  # written before it had a history: keep its first state
                histories.append(
                    row(
                        old.pk,
                        old.kpi_id,
                        as_clean(old),
                        by=old.recorded_by_id,
                        at=old.recorded_at,
                        kind="+",
                    )  # fmt: skip
                )
            histories.append(
                row(
                    old.pk,
                    pair[0],
                    latest[pair],
                    by=actor.pk,
                    at=now,
                    kind="~",
                    reason="Overwritten by a point at the same instant",
                )  # fmt: skip
            )
    new = [pair for pair in latest if pair not in before]
    if created and new:
        ids = {
            (m.kpi_id, m.measured_at): m.pk
            for m in Measurement.objects.filter(
                kpi_id__in={k for k, _ in new}, measured_at__in={t for _, t in new}
            ).only("pk", "kpi_id", "measured_at")
        }
        histories.extend(
            row(ids[pair], pair[0], latest[pair], by=actor.pk, at=now, kind="+")
            for pair in new
            if pair in ids
        )
    History.objects.bulk_create(histories, batch_size=1000)


def _mark_changed_and_schedule(kpi_ids: Iterable[int]) -> None:
    """The data of these KPIs moved: bump their data version and check them after commit."""
    kpi_ids = sorted(set(kpi_ids))
    KPI.objects.filter(pk__in=kpi_ids).update(data_changed_at=timezone.now())
    initiatives_touch_for_kpis(kpi_ids)
    kpi_schedule_check(kpi_ids=kpi_ids)


#: how many times an upload that lost a deadlock to a concurrent one is tried again
DEADLOCK_RETRIES = 5


def _is_deadlock(exc: BaseException) -> bool:
    """Whether PostgreSQL broke a deadlock by failing this transaction (SQLSTATE 40P01)."""
    return any(getattr(e, "pgcode", None) == "40P01" for e in (exc, exc.__cause__))


def _record(
    validate, total: int, errors: dict, *, actor, now: dt.datetime, kpi_ids, audit_new: bool = False
) -> int:
    """_record_once, tried again when it lost a deadlock: two uploads of the same new points
    in different orders each wait for a point the other has written, and PostgreSQL fails
    one. The loser tries again holding its KPIs' rows first, locked in id order, so that
    uploads tried again wait for each other instead; it then meets the winner's points and
    updates them. Inside a caller's transaction it cannot be tried again: Conflict.

    The first attempt takes no lock (no statement more for an upload that meets no other).
    """
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            lock = kpi_ids if attempt else None
            return _record_once(
                validate, total, errors, actor=actor, now=now, lock=lock, audit_new=audit_new
            )
        except Exception as exc:
            if not _is_deadlock(exc):
                raise
            if connection.in_atomic_block or attempt == DEADLOCK_RETRIES:
                raise Conflict(
                    "A concurrent upload of the same measurements was being recorded; "
                    "nothing was recorded. Send it again."
                ) from exc
            errors.clear()
    raise AssertionError("unreachable")


def _lock_kpis(kpi_ids) -> None:
    """Lock the KPIs' rows in id order (not against reading them, nor against their
    measurements' foreign keys): concurrent uploads to the same KPIs take turns."""
    list(
        KPI.objects.filter(pk__in=sorted(set(kpi_ids)))
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )


def _record_once(
    validate, total: int, errors: dict, *, actor, now: dt.datetime, lock, audit_new: bool = False
) -> int:
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

    Overwrites are audited (_audit); `audit_new`: new points too.
    """
    collected: list[Point] = []

    def validated(start: int, stop: int) -> list[Point]:
        points = validate(start, stop)
        collected.extend(points)
        return points

    with transaction.atomic():
        if lock is not None:
            _lock_kpis(lock)
        if connection.vendor == "postgresql":
            text = _CopyText(actor.pk, now)
            chunks = (
                text.chunk(points)
                for start in range(0, total, COPY_CHUNK)
                if (points := validated(start, start + COPY_CHUNK)) and not errors
            )
            new = _copy_new_points(chunks)
            if errors:
                raise _rows_invalid(errors)  # rolls back what was copied
            latest = _last_per_instant(collected)
            if new:
                before = {}
                count, changed = text.count, text.kpi_ids
            else:
                before = _stored_points(latest)
                count, changed = _upsert_copied("".join(text.chunks))
        else:
            points = validated(0, total)
            if errors:
                raise _rows_invalid(errors)
            latest = _last_per_instant(collected)
            before = _stored_points(latest)
            count, changed = _store_points_sqlite(points, actor.pk, now)
        if before or audit_new:
            _audit(latest, before, actor=actor, now=now, created=audit_new)
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


#: what a derived KPI answers whoever posts measurements to it by hand
DERIVED_REFUSAL = (
    "This KPI is derived from ITSM records: its measurements are computed from the records "
    "that arrive and cannot be posted by hand."
)


def measurement_record(
    *, kpi: KPI, actor, points: Sequence[dict], from_records: bool = False
) -> int:
    """Record points of one KPI (value, measured_at, source, note), all or nothing.

    A point at an instant already recorded replaces it, so retries never double count.
    The KPI is checked after commit. Returns the number of points stored (one per instant).
    Raises Forbidden or InvalidInput (errors by index), or Conflict for a derived KPI
    (only `from_records`, services/derived.py, measures one).
    """
    require(
        permissions.may_record_measurements(actor, kpi),
        permissions.NEED_FEED,
    )
    if kpi.derived and not from_records:
        raise Conflict(DERIVED_REFUSAL, errors={"kpi": [DERIVED_REFUSAL]})
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

    return _record(
        validate, len(points), errors, actor=actor, now=now, kpi_ids=[kpi.pk], audit_new=True
    )


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
    # only a key the database can be asked about (no NUL, no lone surrogate): any other is
    # unknown, answered per row below
    keys = {
        key
        for r in rows
        if type(r) is dict
        and type(key := r.get("kpi")) is str
        and text_problem(key, MAX_KEY) is None
    }
    # CSI managers and integrations may feed any KPI: no need to load the initiatives
    may_feed_all = permissions.is_csi_manager(actor) or permissions.is_integration(actor)
    # KPI ids by key, and whether the actor may feed each: decided before the rows are read,
    # as no query may run while the rows stream into COPY
    queryset = KPI.objects.filter(key__in=keys)
    if may_feed_all:
        found = list(queryset.values_list("key", "pk", "derived"))
        kpi_ids = {key: pk for key, pk, _ in found}
        allowed = dict.fromkeys(kpi_ids.values(), True)
        derived = {pk for _, pk, is_derived in found if is_derived}
    else:
        # what may_record_measurements reads, for all the KPIs in two queries
        kpis = list(
            queryset.select_related("initiative__service", "initiative__practice")
            .prefetch_related("initiative__responsible")
        )  # fmt: skip
        kpi_ids = {k.key: k.pk for k in kpis}
        allowed = {k.pk: permissions.may_record_measurements(actor, k) for k in kpis}
        derived = {k.pk for k in kpis if k.derived}
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
                row_errors["kpi"] = [f"KPI '{key}': {permissions.NEED_FEED}"]
            elif kpi_id in derived:
                row_errors["kpi"] = [f"KPI '{key}': {DERIVED_REFUSAL}"]
            if row_errors:
                errors[index] = row_errors
            else:
                append((kpi_id, clean))
        return points

    return _record(validate, len(rows), errors, actor=actor, now=now, kpi_ids=kpi_ids.values())


def _rows_invalid(errors: dict) -> InvalidInput:
    """Forbidden when every error is a KPI the actor may not feed; else InvalidInput."""
    if all(
        set(e) == {"kpi"} and e["kpi"][0].endswith(permissions.NEED_FEED) for e in errors.values()
    ):
        return Forbidden(permissions.NEED_FEED, errors={"rows": errors})
    index, first = next(iter(errors.items()))
    field_name, messages = next(iter(first.items()))
    return InvalidInput(
        f"Row {index}: {field_name}: {messages[0]} ({len(errors)} row(s) with errors; "
        f"nothing was recorded.)",
        errors={"rows": errors},
    )


# --- checking points before recording; correcting and deleting one point ------------------


def measurement_points_problems(points: Sequence[dict]) -> dict[int, dict]:
    """The errors of each point (by index) as measurement_record would find them, without
    recording anything: what a preview of pasted rows shows."""
    latest = timezone.now() + CLOCK_SKEW
    problems = {}
    for index, point in enumerate(points):
        _, errors = _clean_point(point, latest=latest)
        if errors:
            problems[index] = errors
    return problems


#: the longest reason a correction keeps (the history's change reason)
MAX_REASON = 100


def _audited_change(measurement: Measurement, *, actor, reason: str):
    """Prepare an audited change of one stored point: its first state kept in the history
    if it was written before it had one, the actor and reason on the change."""
    if problem := text_problem(reason, MAX_REASON) if reason else None:
        raise InvalidInput(problem, errors={"reason": [problem]})
    if not measurement.history.exists():  # stored by a bulk write without a history row
        History = Measurement.history.model
        History.objects.create(
            id=measurement.pk, kpi_id=measurement.kpi_id, value=measurement.value,
            measured_at=measurement.measured_at, source=measurement.source,
            note=measurement.note, recorded_by_id=measurement.recorded_by_id,
            recorded_at=measurement.recorded_at, history_date=measurement.recorded_at,
            history_type="+", history_user_id=measurement.recorded_by_id,
        )  # fmt: skip
    measurement._history_user = actor
    measurement._change_reason = reason or None


def measurement_correct(
    *, measurement: Measurement, actor, reason: str = "", **data
) -> Measurement:
    """Correct a wrong point: its `value`, `measured_at` or `note` (those who may record
    the KPI's measurements). The history keeps it before and after, who and why; the KPI
    is checked again after commit."""
    kpi = measurement.kpi
    require(permissions.may_record_measurements(actor, kpi), permissions.NEED_FEED)
    unknown = sorted(set(data) - {"value", "measured_at", "note"})
    if unknown:
        raise InvalidInput(
            f"Unknown field(s): {', '.join(unknown)}.",
            errors={k: ["This field cannot be corrected."] for k in unknown},
        )
    point = {
        "value": data.get("value", measurement.value),
        "measured_at": data.get("measured_at", measurement.measured_at),
        "note": data.get("note", measurement.note),
    }
    clean, errors = _clean_point(point, latest=timezone.now() + CLOCK_SKEW)
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    value, measured_at, _, _, note = clean
    if (value, measured_at, note) == (measurement.value, measurement.measured_at, measurement.note):
        return measurement
    if (
        measured_at != measurement.measured_at
        and Measurement.objects.filter(kpi=kpi, measured_at=measured_at).exists()
    ):
        message = "The KPI already has a measurement at that time: correct or delete that one."
        raise InvalidInput(message, errors={"measured_at": [message]})
    with transaction.atomic():
        _audited_change(measurement, actor=actor, reason=reason)
        measurement.value, measurement.measured_at, measurement.note = value, measured_at, note
        measurement.recorded_by = actor
        measurement.save()
        _mark_changed_and_schedule([kpi.pk])
    return measurement


def measurement_delete(*, measurement: Measurement, actor, reason: str = "") -> None:
    """Delete a wrong point (those who may record the KPI's measurements); the history
    keeps what it was, who deleted it and why; the KPI is checked again after commit."""
    require(permissions.may_record_measurements(actor, measurement.kpi), permissions.NEED_FEED)
    with transaction.atomic():
        _audited_change(measurement, actor=actor, reason=reason)
        kpi_id = measurement.kpi_id
        measurement.delete()
        _mark_changed_and_schedule([kpi_id])
