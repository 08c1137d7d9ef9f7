"""Writes of ITSM records (SPEC §9): CSV imports with presets, and the push API's upserts.

A record is identified by (system, kind, number), the number in any case. An import reads
the file row by row: each row is cleaned (the preset's or the mapping's columns, `?` and
empty as unknown, dates in the file's own order, day-first or month-first, detected or
given); a row that cannot be read is rejected with its row number and reason, the others
are kept. Of several rows of one record (an audit export) the latest wins: the greatest
`sys_updated_at`, then `sys_mod_count`, then the row further down the file; a stored record
is only replaced by a version at least as recent. The write is one transaction: nothing is
half-imported. PostgreSQL: the clean rows stream into COPY into a temporary table, then one
INSERT ... ON CONFLICT upserts them. After the write the derived KPIs of the records' kind
are measured again (services/derived.py).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from .. import permissions
from ..choices import ImportStatus, RecordKind
from ..exceptions import CIRError, InvalidInput
from ..models import ITSMImport, ITSMRecord
from .common import require

NEED_IMPORT = "Only a CSI manager or an ITSM integration may import or push ITSM records."

#: our fields, in the order the load table holds them (after position, system, kind)
FIELDS = (
    "number",
    "opened_at",
    "resolved_at",
    "closed_at",
    "state",
    "priority",
    "category",
    "subcategory",
    "service",
    "assignment_group",
    "reopen_count",
    "reassignment_count",
    "sla_met",
    "problem",
    "updated_at",
    "version",
)
DATE_FIELDS = ("opened_at", "resolved_at", "closed_at", "updated_at")
TEXT_FIELDS = ("state", "priority", "category", "subcategory", "service", "assignment_group",
               "problem")  # fmt: skip
COUNT_FIELDS = ("reopen_count", "reassignment_count")
TEXT_LIMITS = {
    name: ITSMRecord._meta.get_field(name).max_length for name in (*TEXT_FIELDS, "number")
}

#: the columns each preset reads, by our field: header names and labels, first found wins
#: (headers are compared lower-case with every run of non-letters as one "_")
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "servicenow": {
        "number": ("number",),
        "state": ("incident_state", "state"),
        "opened_at": ("opened_at", "opened", "sys_created_on", "created"),
        "resolved_at": ("resolved_at", "resolved"),
        "closed_at": ("closed_at", "closed"),
        "priority": ("priority",),
        "category": ("category",),
        "subcategory": ("subcategory",),
        "service": ("cmdb_ci", "configuration_item", "business_service", "service"),
        "assignment_group": ("assignment_group",),
        "reopen_count": ("reopen_count",),
        "reassignment_count": ("reassignment_count",),
        "sla_met": ("made_sla",),
        "problem": ("problem_id", "problem"),
        "updated_at": ("sys_updated_at", "sys_updated_on", "updated"),
        "version": ("sys_mod_count", "updates"),
    },
    # Jira Service Management: the issue navigator's CSV export (labels) and the data
    # pipeline's issues file (names)
    "jsm": {
        "number": ("issue_key", "key"),
        "state": ("status",),
        "opened_at": ("created", "created_date"),
        "resolved_at": ("resolved", "resolution_date"),
        "closed_at": (),
        "priority": ("priority", "priority_name"),
        "category": ("custom_field_request_type", "request_type", "issue_type"),
        "subcategory": ("component_s", "components", "component"),
        "service": ("custom_field_affected_services", "affected_services", "labels"),
        "assignment_group": (
            "custom_field_assignee_group",
            "assignee_group",
            "custom_field_team",
            "team",
        ),  # fmt: skip
        "reopen_count": (),
        "reassignment_count": (),
        "sla_met": (),
        "problem": (),
        "updated_at": ("updated", "updated_date"),
        "version": (),
    },
}
PRESET_ALIASES = {"servicenow": "servicenow", "snow": "servicenow", "jsm": "jsm", "jira": "jsm"}

_SYSTEM = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}").fullmatch
_NOT_WORD = re.compile(r"[^a-z0-9]+")
UNKNOWN = frozenset({"", "?"})
_SEPARATORS = "-/."
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
)}  # fmt: skip
_DATE = re.compile(
    r"\s*(\d{1,4})[-/. ]([A-Za-z]{3,9}|\d{1,2})[-/. ]+(\d{2,4})"
    r"(?:[ T]+(\d{1,2}):(\d\d)(?::(\d\d)(?:[.,](\d{1,6}))?)?\s*([AaPp][Mm])?)?"
    r"\s*(Z|[+-]\d\d:?\d\d)?\s*"
).fullmatch
DATE_ORDERS = {"dmy": "dmy", "day-first": "dmy", "mdy": "mdy", "month-first": "mdy",
               "ymd": "ymd", "iso": "ymd"}  # fmt: skip
#: rows between two progress reports
PROGRESS_EVERY = 5000
MAX_REJECTED_SHOWN = 1000


def header_key(name: str) -> str:
    """A header as the presets name it: lower case, every run of non-letters one '_'."""
    return _NOT_WORD.sub("_", name.strip().lower()).strip("_")


@dataclass
class ImportResult:
    """The answer of an import or a push."""

    rows_read: int = 0
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict] = field(default_factory=list)
    rejected_count: int = 0
    date_order: str = ""
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "records": self.records,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected_count": self.rejected_count,
            "rejected": self.rejected,
            "date_order": self.date_order,
            "dry_run": self.dry_run,
        }


# --- reading the options -------------------------------------------------------------------


def _clean_system(system) -> str:
    text = system.strip().lower() if isinstance(system, str) else ""
    if not _SYSTEM(text):
        raise InvalidInput(
            "The system must be a short name such as 'servicenow' or 'jira' (letters, digits, "
            "'.', '-', '_').",
            errors={"system": ["A short name of letters, digits, '.', '-' or '_' is required."]},
        )
    return text


def _clean_kind(kind) -> str:
    if kind not in RecordKind.values:
        raise InvalidInput(
            f"Unknown kind {kind!r}: one of {', '.join(RecordKind.values)}.",
            errors={"kind": [f"One of {', '.join(RecordKind.values)}."]},
        )
    return kind


def _zone(name) -> dt.tzinfo:
    if not name:
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"Unknown time zone {name!r}.",
            errors={"time_zone": ["An IANA zone, e.g. Europe/Paris."]},
        ) from exc


def _decode(content: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM) or UTF-16 with its BOM; else 400."""
    if not content:
        raise InvalidInput("The file is empty.", errors={"file": ["The file is empty."]})
    try:
        if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return content.decode("utf-16")
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read); export it as "
            "UTF-8 CSV.",
            errors={"file": ["Not UTF-8 text."]},
        ) from exc


def _columns(headers: list[str], preset: str | None, mapping: dict | None) -> dict[str, int]:
    """Our field → the index of its column: the mapping's columns over the preset's."""
    by_key: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for index, name in enumerate(headers):
        by_key.setdefault(header_key(name), index)
        by_name.setdefault(name.strip().lower(), index)
    columns: dict[str, int] = {}
    if preset:
        for name, aliases in PRESETS[preset].items():
            for alias in aliases:
                if alias in by_key:
                    columns[name] = by_key[alias]
                    break
    errors = {}
    for name, column in (mapping or {}).items():
        if name not in FIELDS:
            errors[name] = [f"Unknown field; the fields are {', '.join(FIELDS)}."]
            continue
        if not isinstance(column, str) or not column.strip():
            errors[name] = ["Name the column of the file (a header)."]
            continue
        index = by_name.get(column.strip().lower(), by_key.get(header_key(column)))
        if index is None:
            errors[name] = [f"The file has no column {column!r}."]
        else:
            columns[name] = index
    if errors:
        raise InvalidInput(
            f"The mapping names what the file does not have: {next(iter(errors.values()))[0]}",
            errors={"mapping": errors},
        )
    missing = [name for name in ("number", "opened_at") if name not in columns]
    if missing:
        raise InvalidInput(
            f"The file has no column for {' and '.join(missing)}: choose the preset of its "
            "tool or map the column.",
            errors={"mapping": {name: ["No column found."] for name in missing}},
        )
    return columns


# --- dates ---------------------------------------------------------------------------------


def _date_order(values: Iterable[str]) -> str:
    """'ymd', 'dmy' or 'mdy' from the values: the first value whose first field is above 12
    proves day-first, whose second is, month-first (a value of the other order later in the
    file is then a rejected row); day-first when nothing proves either."""
    for value in values:
        match = _DATE(value)
        if match is None:
            continue
        a, b = match.group(1), match.group(2)
        if len(a) == 4:
            return "ymd"
        if not b.isdigit() or int(a) > 12:
            return "dmy"
        if int(b) > 12:
            return "mdy"
    return "dmy"


def _date_parser(order: str, strptime_format: str | None, zone: dt.tzinfo) -> Callable:
    """A function reading one date text into an aware datetime (ValueError if it cannot)."""
    if strptime_format:

        def parse_format(text: str) -> dt.datetime:
            value = dt.datetime.strptime(text.strip(), strptime_format)
            if not 1900 < value.year < 9000:
                raise ValueError(text)
            return value if value.tzinfo else value.replace(tzinfo=zone)

        return parse_format

    def parse(text: str) -> dt.datetime:
        if len(text) == 19 and text[13] == ":" == text[16] and text[10] in " T":
            # the usual export: two-digit day and month, four-digit year, seconds, no zone —
            # read by position (what the pattern below reads, without it)
            year, month, day = text[:4], "", ""
            if text[4] in _SEPARATORS and text[7] in _SEPARATORS:
                month, day = text[5:7], text[8:10]  # year first
            elif text[2] in _SEPARATORS and text[5] in _SEPARATORS:
                year = text[6:10]
                day, month = (text[3:5], text[:2]) if order == "mdy" else (text[:2], text[3:5])
            hh, mm, ss = text[11:13], text[14:16], text[17:19]
            digits = year + month + day + hh + mm + ss
            if len(digits) == 14 and digits.isdigit() and digits.isascii():
                value = dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss),
                                    0, tzinfo=zone)  # fmt: skip
                if not 1900 < value.year < 9000:
                    raise ValueError(text)
                return value
        match = _DATE(text)
        if match is None:
            raise ValueError(text)
        a, b, c, hh, mm, ss, frac, ampm, offset = match.groups()
        if len(a) == 4:
            year, month, day = int(a), b, int(c)
        elif order == "mdy" and b.isdigit():
            month, day, year = a, int(b), int(c)
        else:
            day, month, year = int(a), b, int(c)
        month = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower(), 0)
        if year < 100 and len(a if len(a) == 4 else c) <= 2:  # 13/Nov/26: 2026
            year += 2000
        hour = int(hh) if hh else 0
        if ampm:
            if hour > 12:
                raise ValueError(text)
            hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
        micro = int(frac.ljust(6, "0")) if frac else 0
        if offset:
            if offset == "Z":
                tz = dt.UTC
            else:
                sign = -1 if offset[0] == "-" else 1
                digits = offset[1:].replace(":", "")
                if int(digits[:2]) > 15:  # beyond what PostgreSQL reads (and any real zone)
                    raise ValueError(text)
                tz = dt.timezone(
                    sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                )
        else:
            tz = zone
        value = dt.datetime(year, month, day, hour, int(mm or 0), int(ss or 0), micro, tzinfo=tz)
        if not 1900 < year < 9000:
            raise ValueError(text)
        return value

    return parse


# --- cleaning rows -------------------------------------------------------------------------

#: a clean record: our fields (dates aware, counts int, sla_met bool/None, texts str), raw
Clean = dict


K_DATE, K_COUNT, K_BOOL, K_TEXT = range(4)
#: distinct date texts remembered per import (an audit export repeats each opened_at)
DATE_CACHE = 200_000


def _date_reader(parse_date) -> Callable[[str, str], dt.datetime]:
    """`date(field, text)`: the text as an aware datetime, remembered by text (an audit export
    repeats each opened_at); ValueError with the row's reason when it is not a date."""
    dates: dict[str, dt.datetime] = {}

    def date(name: str, text: str) -> dt.datetime:
        value = dates.get(text)
        if value is None:
            try:
                value = parse_date(text)
            except (ValueError, OverflowError):
                raise ValueError(f"{name}: {text!r} is not a date") from None
            if len(dates) >= DATE_CACHE:
                dates.clear()
            dates[text] = value
        return value

    return date


def _read_count(name: str, text: str) -> int:
    """A count or version (a whole number, 0 to 2**31 - 1); ValueError with the reason."""
    try:
        number = int(text) if text.isdigit() else int(float(text))
    except (ValueError, OverflowError):
        raise ValueError(f"{name}: {text!r} is not a whole number") from None
    if not 0 <= number < 2**31:
        raise ValueError(f"{name}: {text!r} is out of range")
    return number


def _read_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name}: {text!r} is not true or false")


def _field_kind(name: str) -> int:
    if name in DATE_FIELDS:
        return K_DATE
    if name in COUNT_FIELDS or name == "version":
        return K_COUNT
    if name == "sla_met":
        return K_BOOL
    return K_TEXT


def _row_cleaner(columns: dict[str, int], parse_date, headers: list[str]) -> Callable:
    """A function reading one row (its values) into a clean record; it raises ValueError
    with the reason when the row cannot be read. Built once per import: it runs per row."""
    specs = []
    for name, index in columns.items():
        kind = _field_kind(name)
        specs.append((name, index, kind, TEXT_LIMITS[name] if kind == K_TEXT else 0))
    width_all = len(headers)
    date = _date_reader(parse_date)

    def clean(values: list[str]) -> Clean:
        width = len(values)
        out: Clean = {}
        for name, index, kind, limit in specs:
            text = values[index].strip() if index < width else ""
            if text == "" or text == "?":
                out[name] = None
            elif kind == K_TEXT:
                if len(text) > limit:
                    raise ValueError(f"{name}: more than {limit} characters")
                out[name] = text
            elif kind == K_DATE:
                out[name] = date(name, text)
            elif kind == K_COUNT:
                out[name] = _read_count(name, text)
            else:
                out[name] = _read_bool(name, text)
        if not out.get("number"):
            raise ValueError("number: no record number")
        if out.get("opened_at") is None:
            raise ValueError("opened_at: no opened date")
        if width == width_all:
            out["raw"] = dict(zip(headers, values, strict=True))
        else:
            out["raw"] = {h: (values[i] if i < width else "") for i, h in enumerate(headers)}
        return out

    return clean


def _clean_row(values: list[str], columns: dict[str, int], parse_date, headers) -> Clean:
    """One row as a clean record; ValueError with the reason when it cannot be read."""
    if any("\x00" in v for v in values):
        raise ValueError("the row holds a NUL character")
    return _row_cleaner(columns, parse_date, headers)(values)


def _clean_pushed(item, zone) -> tuple[Clean, str, str]:
    """One pushed record (JSON): (clean record, system, kind); ValueError with the reason."""
    if not isinstance(item, dict):
        raise ValueError("expected an object")
    unknown = set(item) - set(FIELDS) - {"system", "kind"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    system = item.get("system")
    kind = item.get("kind", RecordKind.INCIDENT)
    if not isinstance(system, str) or not _SYSTEM(system.strip().lower()):
        raise ValueError("system: a short name such as 'servicenow' is required")
    if kind not in RecordKind.values:
        raise ValueError(f"kind: one of {', '.join(RecordKind.values)}")
    parse = _date_parser("ymd", None, zone)
    values, columns = [], {}
    for name in FIELDS:
        if name in item:
            value = item[name]
            if value is None:
                value = ""
            elif name in DATE_FIELDS:
                if type(value) is not str or not value.strip():
                    raise ValueError(f"{name}: an ISO 8601 date and time (or null) is required")
            elif name == "sla_met":
                if type(value) is not bool:
                    raise ValueError("sla_met: true, false or null is required")
                value = "true" if value else "false"
            elif name in COUNT_FIELDS or name == "version":
                if type(value) is not int:
                    raise ValueError(f"{name}: a whole number is required")
                value = str(value)
            elif type(value) is not str:
                raise ValueError(f"{name}: a text (or null) is required")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(f"{name}: not valid Unicode (a lone surrogate)") from None
            if name in DATE_FIELDS and value.strip() not in UNKNOWN:
                try:
                    dt.datetime.fromisoformat(value.strip())
                except ValueError:
                    raise ValueError(f"{name}: {value!r} is not an ISO 8601 date") from None
            columns[name] = len(values)
            values.append(value)
    clean = _clean_row(values, columns, parse, [])
    clean["raw"] = dict(item)
    return clean, system.strip().lower(), kind


def _is_later(new: Clean, old: Clean) -> bool:
    """Whether version `new` of a record replaces `old` (latest sys_updated_at, then
    sys_mod_count; a version without them counts as later: the row further down wins)."""
    a, b = new.get("updated_at"), old.get("updated_at")
    if a is not None and b is not None and a != b:
        return a > b
    va, vb = new.get("version"), old.get("version")
    if va is not None and vb is not None and va != vb:
        return va > vb
    return True


# --- the import ----------------------------------------------------------------------------


def itsm_records_import(
    *,
    actor,
    content: bytes,
    system: str,
    kind: str = RecordKind.INCIDENT,
    preset: str | None = None,
    mapping: dict | None = None,
    date_format: str | None = None,
    time_zone: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import the records of a CSV export, all or nothing (see the module's docstring).

    `preset`: 'servicenow' or 'jsm' (default: the system's own, when it has one);
    `mapping`: {our field: their column} over the preset; `date_format`: 'dmy', 'mdy',
    'ymd' or a strptime format (default: detected from the values); `time_zone`: the zone
    of dates written without one (default: TIME_ZONE); `dry_run`: report, write nothing.
    `progress(per_cent)` is called while the file is read. Raises Forbidden, or
    InvalidInput for a file or options that cannot be read (nothing written).
    """
    require(permissions.may_import_itsm(actor), NEED_IMPORT)
    system = _clean_system(system)
    kind = _clean_kind(kind)
    if preset in (None, ""):
        preset = PRESET_ALIASES.get(system)
    elif preset == "none":
        preset = None
    elif preset in PRESET_ALIASES:
        preset = PRESET_ALIASES[preset]
    else:
        raise InvalidInput(
            f"Unknown preset {preset!r}: servicenow, jsm or none.",
            errors={"preset": ["One of servicenow, jsm, none."]},
        )
    if mapping is not None and not isinstance(mapping, dict):
        raise InvalidInput(
            "The mapping must be a JSON object {our field: their column}.",
            errors={"mapping": ["A JSON object is required."]},
        )
    zone = _zone(time_zone)
    text = _decode(content)
    sample = text[:4096]
    first_line = sample.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        headers = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"The file is not CSV: {exc}.", errors={"file": [str(exc)]}) from exc
    if not headers or not any(h.strip() for h in headers):
        raise InvalidInput("The file has no header row.", errors={"file": ["No header row."]})
    columns = _columns(headers, preset, mapping)
    strptime_format = None
    if date_format:
        if "%" in str(date_format):
            strptime_format = str(date_format)
            order = "format"
        elif str(date_format).lower() in DATE_ORDERS:
            order = DATE_ORDERS[str(date_format).lower()]
        else:
            raise InvalidInput(
                "The date_format is dmy, mdy, ymd or a strptime format such as "
                "'%d-%m-%Y %H:%M:%S'.",
                errors={"date_format": ["dmy, mdy, ymd or a strptime format."]},
            )
    else:
        date_columns = [columns[n] for n in DATE_FIELDS if n in columns]
        order = _date_order(_date_values(text, delimiter, date_columns))
    parse_date = _date_parser(order, strptime_format, zone)
    result = ImportResult(date_order=order, dry_run=bool(dry_run))
    total = len(text) or 1

    clean = _row_cleaner(columns, parse_date, headers)
    has_nul = "\x00" in text
    #: the progress reached, reported between two reads of the file (the connection may be
    #: busy with a COPY while rows are read)
    reached = [None]

    def report() -> None:
        if progress is not None and reached[0] is not None:
            progress(reached[0])
            reached[0] = None

    def rows() -> Iterator[tuple[int, Clean]]:
        """The clean rows with their row number (the header is row 1); rejects the rest."""
        source = _Counting(text) if progress is not None else io.StringIO(text)
        body = csv.reader(source, delimiter=delimiter)
        next(body, None)
        number = 1
        try:
            for values in body:
                number += 1
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                result.rows_read += 1
                try:
                    if has_nul and any("\x00" in v for v in values):
                        raise ValueError("the row holds a NUL character")
                    yield number, clean(values)
                except ValueError as exc:
                    result.rejected_count += 1
                    if len(result.rejected) < MAX_REJECTED_SHOWN:
                        result.rejected.append({"row": number, "reason": str(exc)})
                if progress is not None and result.rows_read % PROGRESS_EVERY == 0:
                    reached[0] = min(99, source.read_chars * 100 // total)
        except csv.Error as exc:
            raise InvalidInput(
                f"Row {number + 1} is not valid CSV: {exc}; nothing was imported.",
                errors={"file": [f"Row {number + 1}: {exc}"]},
            ) from exc

    _write(actor=actor, rows=rows(), system=system, kind=kind, result=result, dry_run=dry_run,
           between=report)  # fmt: skip
    if progress is not None:
        progress(100)
    return result


class _Counting:
    """The lines of a text, counting the characters handed out (for progress)."""

    def __init__(self, text: str):
        self.lines = iter(io.StringIO(text))
        self.read_chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.read_chars += len(line)
        return line


def _date_values(text: str, delimiter: str, indexes: list[int]) -> Iterator[str]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    next(reader, None)
    try:
        for values in reader:
            for index in indexes:
                if index < len(values):
                    yield values[index]
    except csv.Error:
        return  # reported by the reading pass, with its row


def itsm_records_push(*, actor, items) -> ImportResult:
    """Upsert a list of records sent as JSON (the push API), all or nothing: any bad item
    and nothing is written (InvalidInput with errors by index)."""
    require(permissions.may_import_itsm(actor), NEED_IMPORT)
    if not isinstance(items, list) or not items:
        raise InvalidInput("Send a non-empty list of records.", errors={"rows": ["Empty."]})
    if len(items) > 10_000:
        raise InvalidInput(
            f"At most 10000 records per request; this one has {len(items)}.",
            errors={"rows": ["At most 10000 records."]},
        )
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    errors: dict = {}
    by_target: dict[tuple[str, str], list[tuple[int, Clean]]] = {}
    for index, item in enumerate(items):
        try:
            clean, system, kind = _clean_pushed(item, zone)
        except ValueError as exc:
            errors[index] = {"non_field_errors": [str(exc)]}
            continue
        by_target.setdefault((system, kind), []).append((index, clean))
    if errors:
        index, first = next(iter(errors.items()))
        raise InvalidInput(
            f"Record {index}: {first['non_field_errors'][0]} ({len(errors)} record(s) with "
            "errors; nothing was written.)",
            errors={"rows": errors},
        )
    total = ImportResult(rows_read=len(items))
    with transaction.atomic():
        for (system, kind), rows in by_target.items():
            part = ImportResult()
            _write(actor=actor, rows=iter(rows), system=system, kind=kind, result=part,
                   dry_run=False)  # fmt: skip
            total.records += part.records
            total.created += part.created
            total.updated += part.updated
            total.unchanged += part.unchanged
    return total


# --- storing -------------------------------------------------------------------------------

#: the record's columns an import writes, in the load table's order
COLUMNS = ("number", "opened_at", "resolved_at", "closed_at", "state", "priority", "category",
           "subcategory", "service", "assignment_group", "reopen_count", "reassignment_count",
           "sla_met", "problem", "raw", "source_updated_at", "source_version")  # fmt: skip
#: what is compared to tell an updated record from an unchanged one
COMPARED = tuple(c for c in COLUMNS if c != "number")


def _as_columns(clean: Clean) -> tuple:
    return (
        clean["number"],
        clean.get("opened_at"),
        clean.get("resolved_at"),
        clean.get("closed_at"),
        *(
            clean.get(name) or ""
            for name in (
                "state",
                "priority",
                "category",
                "subcategory",
                "service",
                "assignment_group",
            )
        ),  # fmt: skip
        clean.get("reopen_count") or 0,
        clean.get("reassignment_count") or 0,
        clean.get("sla_met"),
        clean.get("problem") or "",
        clean["raw"],
        clean.get("updated_at"),
        clean.get("version"),
    )


class _DryRun(Exception):
    """Rolls a dry run's writes back."""


def _write(*, actor, rows: Iterator[tuple[int, Clean]], system: str, kind: str,
           result: ImportResult, dry_run: bool,
           between: Callable | None = None) -> None:  # fmt: skip
    """Store the clean rows, the latest version of each record winning; fills `result`.

    The rows are read (and, on PostgreSQL, loaded into a temporary table) before the
    write's transaction opens, so an import's progress can be seen while the file is read;
    the records themselves are written in one transaction, all or nothing.
    """
    from .derived import derived_kpis_refresh

    postgres = connection.vendor == "postgresql"
    try:
        latest = _load_postgresql(rows, between) if postgres else _latest_portable(rows)
        if between is not None:
            between()
        with transaction.atomic():
            if postgres:
                _upsert_postgresql(system, kind, result)
            else:
                _store_portable(latest, system, kind, result)
            if dry_run:
                raise _DryRun
            if result.created or result.updated:
                derived_kpis_refresh(actor=actor, system=system, kind=kind)
    except _DryRun:
        pass
    finally:
        if postgres:
            _drop_load()


def _latest_portable(rows) -> dict[str, Clean]:
    """The latest version of each number (lower case), in memory."""
    latest: dict[str, Clean] = {}
    for _, clean in rows:
        key = clean["number"].lower()
        old = latest.get(key)
        if old is None or _is_later(clean, old):
            latest[key] = clean
    return latest


def _store_portable(latest: dict[str, Clean], system: str, kind: str,
                    result: ImportResult) -> None:  # fmt: skip
    """SQLite (and any database): insert the new records and update the changed ones."""
    result.records = len(latest)
    keys = list(latest)
    stored: dict[str, ITSMRecord] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for record in ITSMRecord.objects.annotate(key=Lower("number")).filter(
            system=system, kind=kind, key__in=chunk
        ):
            stored[record.number.lower()] = record
    now = timezone.now()
    new, changed = [], []
    for key, clean in latest.items():
        values = dict(zip(COLUMNS, _as_columns(clean), strict=True))
        record = stored.get(key)
        if record is None:
            new.append(ITSMRecord(system=system, kind=kind, imported_at=now, **values))
            continue
        old = {"updated_at": record.source_updated_at, "version": record.source_version}
        if not _is_later(clean, old):
            continue
        if all(getattr(record, c) == values[c] for c in COMPARED):
            continue
        for name in COMPARED:
            setattr(record, name, values[name])
        record.imported_at = now
        changed.append(record)
    ITSMRecord.objects.bulk_create(new, batch_size=500)
    ITSMRecord.objects.bulk_update(changed, [*COMPARED, "imported_at"], batch_size=500)
    result.created, result.updated = len(new), len(changed)
    result.unchanged = result.records - result.created - result.updated


#: rows a chunk of COPY's text; rows a COPY (between two, the progress is reported)
COPY_CHUNK = 1_000
COPY_ROWS = 100_000
_LOAD_COLUMNS = ("position", *COLUMNS)
_TEXTS = ("state", "priority", "category", "subcategory", "service", "assignment_group",
          "problem")  # fmt: skip


_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _copy_chunks(rows) -> Iterator[str]:
    """The clean rows as COPY's CSV in the load table's column order, COPY_CHUNK rows a
    chunk (None and an empty text are NULL in COPY's CSV: the upsert turns a NULL text back
    into ''). This runs once per row of a million-row export: no intermediate tuples."""
    buffer = io.StringIO()
    writerow = csv.writer(buffer, lineterminator="\n").writerow
    for count, (position, clean) in enumerate(rows, 1):
        get = clean.get
        resolved, closed, updated, sla = (
            get("resolved_at"), get("closed_at"), get("updated_at"), get("sla_met")
        )  # fmt: skip
        writerow(
            (
                position, clean["number"], clean["opened_at"].isoformat(),
                resolved and resolved.isoformat(), closed and closed.isoformat(),
                get("state"), get("priority"), get("category"), get("subcategory"),
                get("service"), get("assignment_group"), get("reopen_count") or 0,
                get("reassignment_count") or 0, None if sla is None else ("t" if sla else "f"),
                get("problem"), _to_json(clean["raw"]), updated and updated.isoformat(),
                get("version"),
            )
        )  # fmt: skip
        if count % COPY_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class _Stream:
    """COPY's input read from the chunks as they are made, COPY_ROWS rows at most: the
    database parses one chunk while the next is being cleaned (the work of two cores)."""

    def __init__(self, chunks: Iterator[str]):
        self.chunks = chunks
        self.ended = False
        self.rows = 0
        #: what reading the rows raised (an unreadable file): the COPY ends, then it is raised
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        if self.ended or self.rows >= COPY_ROWS:
            return ""
        try:
            text = next(self.chunks, None)
        except Exception as exc:  # raised again once COPY has ended (not as a COPY error)
            self.error, text = exc, None
        if text is None:
            self.ended = True
            return ""
        self.rows += COPY_CHUNK
        return text


def _load_postgresql(rows, between: Callable | None = None) -> None:
    """PostgreSQL: COPY the clean rows into a temporary table of this session, streamed,
    COPY_ROWS rows a COPY (between two, `between()` may use the connection: the reader's
    progress)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS cir_itsm_load")
        _set_temp_buffers(cursor)
        cursor.execute(
            "CREATE TEMPORARY TABLE cir_itsm_load (position bigint, number text, "
            "opened_at timestamptz, resolved_at timestamptz, closed_at timestamptz, "
            "state text, priority text, category text, subcategory text, service text, "
            "assignment_group text, reopen_count integer, reassignment_count integer, "
            "sla_met boolean, problem text, raw jsonb, source_updated_at timestamptz, "
            "source_version bigint)"
        )
        copy = f"COPY cir_itsm_load ({', '.join(_LOAD_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
        stream = _Stream(_copy_chunks(rows))
        while not stream.ended:
            stream.rows = 0
            cursor.cursor.copy_expert(copy, stream)
            if stream.error is not None:
                raise stream.error
            if between is not None:
                between()


#: memory for the load table: PostgreSQL's default (8 MB) spills a large export to disk
TEMP_BUFFERS = "256MB"
#: memory for the upsert's sort (DISTINCT ON) and hashes, for its transaction only
WORK_MEM = "256MB"


def _set_temp_buffers(cursor) -> None:
    """Give the session's temporary tables room, when it can still be set: PostgreSQL
    refuses once the session has used a temporary table (then the setting stays as it is)."""
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves any outer transaction usable
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        pass


def _drop_load() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS cir_itsm_load")
    except DatabaseError:  # a failed transaction: its rollback removes the table
        pass


def _upsert_postgresql(system: str, kind: str, result: ImportResult) -> None:
    """PostgreSQL: one INSERT ... ON CONFLICT upserts the latest version of each number of
    the load table; a stored record is replaced only by a version at least as recent."""
    table = ITSMRecord._meta.db_table
    select = ", ".join(f"coalesce({c}, '') AS {c}" if c in _TEXTS else c for c in COLUMNS)
    compared = ", ".join(f"{table}.{c}" for c in COMPARED)
    compared_new = ", ".join(f"excluded.{c}" for c in COMPARED)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        # names of our own table and columns; the values are parameters
        cursor.execute(
            f"WITH latest AS (SELECT DISTINCT ON (lower(number)) {select} FROM cir_itsm_load "  # noqa: S608
            "  ORDER BY lower(number), source_updated_at DESC NULLS LAST, "
            "  source_version DESC NULLS LAST, position DESC), "
            f"written AS (INSERT INTO {table} (system, kind, imported_at, {', '.join(COLUMNS)}) "
            f"  SELECT %s, %s, now(), {', '.join(COLUMNS)} FROM latest "
            "  ON CONFLICT (system, kind, lower(number)) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in (*COMPARED, "imported_at"))
            + f"  WHERE ({table}.source_updated_at IS NULL OR excluded.source_updated_at IS NULL"  # noqa: S608
            f"    OR excluded.source_updated_at > {table}.source_updated_at"
            f"    OR (excluded.source_updated_at = {table}.source_updated_at AND"
            "        coalesce(excluded.source_version, -1) >= "
            f"        coalesce({table}.source_version, -1)))"
            f"   AND ROW({compared}) IS DISTINCT FROM ROW({compared_new}) "
            "  RETURNING (xmax = 0) AS created) "
            "SELECT (SELECT count(*) FROM latest), count(*) FILTER (WHERE created), "
            "count(*) FILTER (WHERE NOT created) FROM written",
            [system, kind],
        )
        records, created, updated = cursor.fetchone()
    result.records, result.created, result.updated = records, created, updated
    result.unchanged = records - created - updated


# --- imports started from the browser: run as a task, their progress polled -------------------


def itsm_import_start(*, actor, content: bytes, file_name: str, system: str, kind: str,
                      options: dict) -> ITSMImport:  # fmt: skip
    """Keep an uploaded file and run its import as a task after commit (in-process in the
    embedded default). The options are checked now: a bad system or kind is refused before
    anything is kept."""
    require(permissions.may_import_itsm(actor), NEED_IMPORT)
    system = _clean_system(system)
    kind = _clean_kind(kind)
    if not content:
        raise InvalidInput("The file is empty.", errors={"file": ["The file is empty."]})
    job = ITSMImport.objects.create(
        created_by=actor, system=system, kind=kind, options=options,
        file_name=(file_name or "")[:200], content=content,
    )  # fmt: skip

    def enqueue() -> None:
        from ..tasks import itsm_import_run as task
        from ..tasks.publish import publish

        publish(task, args=[job.pk])

    transaction.on_commit(enqueue, robust=True)
    return job


def itsm_import_run(*, import_id: int) -> None:
    """Run a kept import (the task's body): its progress is written as the file is read; its
    answer, or the reason it failed, when it ends. A finished import is not run again."""
    job = ITSMImport.objects.select_related("created_by").filter(pk=import_id).first()
    if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
        return
    ITSMImport.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, progress=0)

    def progress(per_cent: int) -> None:
        ITSMImport.objects.filter(pk=job.pk).update(progress=per_cent)

    options = job.options or {}
    try:
        result = itsm_records_import(
            actor=job.created_by,
            content=bytes(job.content),
            system=job.system,
            kind=job.kind,
            preset=options.get("preset") or None,
            mapping=options.get("mapping") or None,
            date_format=options.get("date_format") or None,
            time_zone=options.get("time_zone") or None,
            dry_run=bool(options.get("dry_run")),
            progress=progress,
        )
    except CIRError as exc:
        ITSMImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED, error=exc.message, content=b"", finished_at=timezone.now()
        )
        return
    ITSMImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.DONE, progress=100, result=result.as_dict(), content=b"",
        finished_at=timezone.now(),
    )  # fmt: skip
