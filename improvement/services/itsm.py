"""Writes of ITSM records (SPEC §9): CSV imports with presets, and the push API's upserts.

A record is identified by (system, kind, number), the number in any case. An import reads
the file row by row: each row is cleaned (the preset's or the mapping's columns, `?` and
empty as unknown, dates in the file's own order, day-first or month-first, detected or
given); a row that cannot be read is rejected with its row number and reason, the others
are kept. Of several rows of one record (an audit export) the latest wins: the greatest
`sys_updated_at`, then `sys_mod_count`, then the row further down the file; a stored record
is only replaced by a version at least as recent. The write is one transaction: nothing is
half-imported. PostgreSQL: the file's values are copied as text into a temporary table and
cleaned there in SQL (the values of a shape the SQL does not read go through the Python
reader, once per distinct text: same records, same reasons), then the latest versions are
compared with the stored records, the changed ones updated and the new ones inserted; the
push API's clean rows are copied into the same load table. After the write the derived
KPIs of the records' kind are measured again (services/derived.py).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import queue
import re
import threading
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

    width = len(headers)

    def values() -> Iterator[list]:
        """The rows' values for the SQL cleaning: the row number, then one value per header
        (what the cleaner reads: missing values empty, extra ones left out); the rows the
        cleaner would skip or reject before reading a value are skipped or rejected here."""
        source = _Counting(text) if progress is not None else io.StringIO(text)
        body = csv.reader(source, delimiter=delimiter)
        next(body, None)
        number = 1
        try:
            for row in body:
                number += 1
                if len(row) < 2 and (not row or not row[0].strip()):
                    continue
                result.rows_read += 1
                if has_nul and any("\x00" in v for v in row):
                    result.rejected_count += 1
                    if len(result.rejected) < MAX_REJECTED_SHOWN:
                        result.rejected.append(
                            {"row": number, "reason": "the row holds a NUL character"}
                        )
                    continue
                if len(row) != width:
                    row = row[:width] if len(row) > width else row + [""] * (width - len(row))
                row.insert(0, number)
                yield row
                if progress is not None and result.rows_read % PROGRESS_EVERY == 0:
                    reached[0] = min(99, source.read_chars * 100 // total)
        except csv.Error as exc:
            raise InvalidInput(
                f"Row {number + 1} is not valid CSV: {exc}; nothing was imported.",
                errors={"file": [f"Row {number + 1}: {exc}"]},
            ) from exc

    if connection.vendor == "postgresql" and CLEAN_IN_SQL and width <= MAX_SQL_COLUMNS:

        def load() -> list[str]:
            return _load_staged(rows=values(), headers=headers, columns=columns, order=order,
                         parse_date=parse_date, zone=zone, result=result,
                         between=report)  # fmt: skip

        _write(actor=actor, rows=None, system=system, kind=kind, result=result,
               dry_run=dry_run, between=report, load=load)  # fmt: skip
    else:
        _write(actor=actor, rows=rows(), system=system, kind=kind, result=result,
               dry_run=dry_run, between=report)  # fmt: skip
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


def _write(*, actor, rows: Iterator[tuple[int, Clean]] | None, system: str, kind: str,
           result: ImportResult, dry_run: bool, between: Callable | None = None,
           load: Callable[[], list[str]] | None = None) -> None:  # fmt: skip
    """Store the clean rows, the latest version of each record winning; fills `result`.

    The rows are read (and, on PostgreSQL, loaded into a temporary table) before the
    write's transaction opens, so an import's progress can be seen while the file is read;
    the records themselves are written in one transaction, all or nothing. `load`
    (PostgreSQL) fills the load table itself, instead of the clean `rows`, and returns the
    file's headers (the raw row is made from the values it keeps).
    """
    from .derived import derived_kpis_refresh

    postgres = connection.vendor == "postgresql"
    try:
        if load is not None:
            latest = load()
        else:
            latest = _load_postgresql(rows, between) if postgres else _latest_portable(rows)
        if between is not None:
            between()
        with transaction.atomic():
            if postgres:
                _upsert_postgresql(system, kind, result, headers=latest)
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
_COUNTS = ("reopen_count", "reassignment_count")


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
            cursor.execute("DROP TABLE IF EXISTS cir_itsm_load, cir_itsm_stage, cir_itsm_odd")
    except DatabaseError:  # a failed transaction: its rollback removes the table
        pass


def _upsert_postgresql(system: str, kind: str, result: ImportResult,
                       headers: list[str] | None = None) -> None:  # fmt: skip
    """PostgreSQL: upsert the latest version of each number of the load table; a stored
    record is replaced only by a version at least as recent, and only when it changed.

    The latest versions are compared with the stored records first (one join): the changed
    ones are updated, the new ones inserted, and an unchanged record is neither written nor
    locked (an INSERT ... ON CONFLICT locks every row it meets, which made the re-import of
    an unchanged file slower than its first import).

    `headers`: the load table holds the file's values (c0, c1, ...) rather than the raw row,
    which is made (a JSON object by header) only for the latest versions, as they are
    written: the versions are sorted without it."""
    table = ITSMRecord._meta.db_table
    select = ", ".join(
        f"coalesce({c}, '') AS {c}" if c in _TEXTS
        else f"coalesce({c}, 0) AS {c}" if c in _COUNTS
        else c
        for c in COLUMNS
        if c != "raw" or headers is None
    )  # fmt: skip
    if headers is not None:
        values = ", ".join(f"c{i}" for i in range(len(headers)))
        select += f", jsonb_object(%(headers)s::text[], ARRAY[{values}]) AS raw"
    params = {"system": system, "kind": kind, "headers": headers}
    # the latest versions: the load table's rows whose position won
    latest = (
        f"(SELECT lower(number) AS key, {select} FROM cir_itsm_load "  # noqa: S608
        "WHERE position IN (SELECT position FROM cir_itsm_latest))"
    )
    later = (
        "({t}.source_updated_at IS NULL OR {n}.source_updated_at IS NULL"
        "  OR {n}.source_updated_at > {t}.source_updated_at"
        "  OR ({n}.source_updated_at = {t}.source_updated_at AND"
        "      coalesce({n}.source_version, -1) >= coalesce({t}.source_version, -1)))"
        "  AND ROW({old}) IS DISTINCT FROM ROW({new})"
    )
    stored = f"{table}.system = %(system)s AND {table}.kind = %(kind)s"
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        # names of our own table and columns; the values are parameters
        cursor.execute(
            "CREATE TEMPORARY TABLE cir_itsm_latest ON COMMIT DROP AS "
            "SELECT DISTINCT ON (lower(number)) position "
            "FROM cir_itsm_load ORDER BY lower(number), source_updated_at DESC NULLS LAST, "
            "source_version DESC NULLS LAST, position DESC"
        )
        records = cursor.rowcount
        cursor.execute("ANALYZE cir_itsm_latest")
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608
            + ", ".join(f"{c} = latest.{c}" for c in COMPARED)
            + f", imported_at = now() FROM {latest} AS latest WHERE {stored} "
            f"AND lower({table}.number) = latest.key AND "
            + later.format(
                t=table,
                n="latest",
                old=", ".join(f"{table}.{c}" for c in COMPARED),
                new=", ".join(f"latest.{c}" for c in COMPARED),
            ),  # fmt: skip
            params,
        )
        updated = cursor.rowcount
        # the new ones (ON CONFLICT: one written meanwhile by another import)
        cursor.execute(
            f"WITH written AS (INSERT INTO {table} (system, kind, imported_at, "  # noqa: S608
            f"{', '.join(COLUMNS)}) SELECT %(system)s, %(kind)s, now(), {', '.join(COLUMNS)} "
            f"FROM {latest} AS latest WHERE NOT EXISTS (SELECT FROM {table} WHERE "
            f"{stored} AND lower({table}.number) = latest.key) "
            "ON CONFLICT (system, kind, lower(number)) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in (*COMPARED, "imported_at"))
            + " WHERE "
            + later.format(
                t=table,
                n="excluded",
                old=", ".join(f"{table}.{c}" for c in COMPARED),
                new=", ".join(f"excluded.{c}" for c in COMPARED),
            )  # fmt: skip
            + " RETURNING (xmax = 0) AS created) "
            "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) "
            "FROM written",
            params,
        )
        created, also_updated = cursor.fetchone()
        cursor.execute("DROP TABLE cir_itsm_latest")
    result.records, result.created = records, created
    result.updated = updated + also_updated
    result.unchanged = records - result.created - result.updated


# --- PostgreSQL: the file's values loaded as text, cleaned in SQL ---------------------------

#: whether a PostgreSQL import cleans the values in SQL (False: row by row in Python, as on
#: SQLite; both give the same records and the same answer)
CLEAN_IN_SQL = True
#: files of more columns are cleaned row by row (a PostgreSQL table holds at most 1600)
MAX_SQL_COLUMNS = 1500
#: what Python's str.strip() removes (the characters of str.isspace()), for btrim
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: the load table's column of each of our fields
_LOAD_COLUMN = {"updated_at": "source_updated_at", "version": "source_version"}
_SQL_TYPE = {K_DATE: "timestamptz", K_COUNT: "bigint", K_BOOL: "boolean", K_TEXT: "text"}
#: the usual 19-character shapes the SQL reads (the first branch of the Python reader), the
#: year 1901-8999, the month, the hour, the minutes and the seconds in their ranges; any other
#: value goes to the Python reader, once per distinct text
_YEAR, _MONTH, _DAY = "(190[1-9]|19[1-9][0-9]|[2-8][0-9]{3})", "(0[1-9]|1[0-2])", "[0-3][0-9]"
_TIME = "[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
_SHAPE_YEAR_FIRST = f"^{_YEAR}[-/.]{_MONTH}[-/.]{_DAY}{_TIME}"
_SHAPE_DAY_FIRST = f"^{_DAY}[-/.]{_MONTH}[-/.]{_YEAR}{_TIME}"
_SHAPE_MONTH_FIRST = f"^{_MONTH}[-/.]{_DAY}[-/.]{_YEAR}{_TIME}"


def _sql_text(value: str) -> str:
    """A literal of our own constants (never of the file's values, which are parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _sql_naive_date(x: str, order: str) -> str:
    """SQL reading the column `x` as a timestamp without zone when it has one of the usual
    shapes and is a real date (as the Python reader's first branch does); else NULL."""

    def read(shape: str, year: int, month: int, day: int) -> str:
        y, m, d = (f"substr({x}, {at}, {4 if at == year else 2})::integer"
                   for at in (year, month, day))  # fmt: skip
        h, mi, sec = (f"substr({x}, {at}, 2)::integer" for at in (12, 15, 18))
        last_day = (f"CASE WHEN {m} IN (4, 6, 9, 11) THEN 30 WHEN {m} = 2 THEN CASE WHEN "
                    f"mod({y}, 4) = 0 AND (mod({y}, 100) <> 0 OR mod({y}, 400) = 0) "
                    "THEN 29 ELSE 28 END ELSE 31 END")  # fmt: skip
        return (f"WHEN {x} ~ '{shape}' THEN CASE WHEN {d} BETWEEN 1 AND 28 OR "
                f"({d} >= 1 AND {d} <= {last_day}) "
                f"THEN make_timestamp({y}, {m}, {d}, {h}, {mi}, {sec}) END")  # fmt: skip

    year_first = read(_SHAPE_YEAR_FIRST, 1, 6, 9)
    if order == "mdy":
        year_last = read(_SHAPE_MONTH_FIRST, 7, 1, 4)
    else:
        year_last = read(_SHAPE_DAY_FIRST, 7, 4, 1)
    # the file's own shape first: one pattern read per value
    if order == "ymd":
        return f"CASE {year_first} {year_last} END"
    return f"CASE {year_last} {year_first} END"


def _sql_aware(naive: str, zone: str | None) -> str:
    """SQL placing a timestamp without zone in `zone` as Python does (an hour that occurs
    twice is its first occurrence, fold=0; PostgreSQL would take the second)."""
    if zone is None:
        return f"({naive} AT TIME ZONE 'UTC')"
    z = _sql_text(zone)
    t = f"({naive} AT TIME ZONE {z})"
    before = f"({t} - interval '1 day')"
    offset_before = f"(({before} AT TIME ZONE {z}) - ({before} AT TIME ZONE 'UTC'))"
    first = f"(({naive} - {offset_before}) AT TIME ZONE 'UTC')"
    return (f"(CASE WHEN {first} < {t} AND ({first} AT TIME ZONE {z}) = {naive} "
            f"THEN {first} ELSE {t} END)")  # fmt: skip


def _sql_fast(name: str, kind: int, x: str, order: str) -> str:
    if kind == K_DATE:
        return "NULL::timestamp" if order == "format" else _sql_naive_date(x, order)
    if kind == K_COUNT:
        return f"CASE WHEN length({x}) < 10 AND ltrim({x}, '0123456789') = '' THEN {x}::bigint END"
    true = sorted({v for t in _TRUE for v in (t, t.upper(), t.capitalize())})
    false = sorted({v for t in _FALSE for v in (t, t.upper(), t.capitalize())})
    return (f"CASE WHEN {x} IN ({', '.join(map(_sql_text, true))}) THEN true "
            f"WHEN {x} IN ({', '.join(map(_sql_text, false))}) THEN false END")  # fmt: skip


def _sql_zone(cursor, zone: dt.tzinfo) -> str | None | bool:
    """The zone's name for SQL: None for UTC, False when PostgreSQL does not know it (then
    every date goes to the Python reader)."""
    key = getattr(zone, "key", None)
    if key in ("UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"):
        return None
    if not key:
        return False
    try:
        with transaction.atomic():
            cursor.execute("SELECT now() AT TIME ZONE %s", [key])
    except DatabaseError:
        return False
    return key


def _load_staged(*, rows: Iterator[list], headers: list[str], columns: dict[str, int],
                 order: str, parse_date, zone: dt.tzinfo, result: ImportResult,
                 between: Callable | None) -> list[str]:  # fmt: skip
    """PostgreSQL: COPY the rows' values as text into a temporary table (`rows`: the row
    number then the values, one per header), clean them in SQL into the load table the
    upsert reads (it keeps the values too, for the raw row: the headers are returned),
    reading in Python only the values of a shape the SQL does not read (once per distinct
    text), and report the rejected rows with the Python reader's reasons."""
    width = len(headers)
    stage = ", ".join(f"c{i}" for i in range(width))
    fields = {name: (index, _field_kind(name)) for name, index in columns.items()}
    typed = [name for name, (_, kind) in fields.items() if kind != K_TEXT]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS cir_itsm_stage, cir_itsm_load, cir_itsm_odd")
        _set_temp_buffers(cursor)
        zone_name = _sql_zone(cursor, zone)
        if zone_name is False:  # no date read in SQL: all through the Python reader
            order, zone_name = "format", None
        cursor.execute(
            "CREATE TEMPORARY TABLE cir_itsm_stage (position integer"
            + "".join(f", c{i} text" for i in range(width))
            + ")"
        )
        copy = f"COPY cir_itsm_stage FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({stage}))"
        # 1: each mapped value trimmed, '?' and '' as NULL; 2: read in SQL where it can be;
        # 3: the load table, with the texts the SQL could not read (odd_*)
        trimmed = "".join(
            f", NULLIF(NULLIF(btrim(c{index}, %(ws)s), ''), '?') AS x_{name}"
            for name, (index, _) in fields.items()
        )
        read = "".join(
            f", x_{name}" if kind == K_TEXT
            else f", x_{name}, {_sql_fast(name, kind, f'x_{name}', order)} AS v_{name}"
            for name, (_, kind) in fields.items()
        )  # fmt: skip
        out = []
        for name in FIELDS:
            column = _LOAD_COLUMN.get(name, name)
            if name not in fields:
                out.append(f"NULL::{_SQL_TYPE[_field_kind(name)]} AS {column}")
            elif fields[name][1] == K_TEXT:
                out.append(f"x_{name} AS {column}")
            elif fields[name][1] == K_DATE:
                out.append(f"{_sql_aware(f'v_{name}', zone_name)} AS {column}")
            else:
                out.append(f"v_{name} AS {column}")
        out += [f"CASE WHEN v_{name} IS NULL THEN x_{name} END AS odd_{name}" for name in typed]
        odd_any = " OR ".join(f"(v_{n} IS NULL AND x_{n} IS NOT NULL)" for n in typed) or "false"
        clean = (  # names of our own columns and SQL of our own; the values are parameters
            f"SELECT position, {', '.join(out)}, "  # noqa: S608
            f"{stage}, ({odd_any}) AS odd FROM ("
            f"  SELECT position, {stage}{read} "
            f"  FROM (SELECT position, {stage}{trimmed} FROM cir_itsm_stage OFFSET 0) AS t "
            "  OFFSET 0) AS r"
        )
        params = {"ws": WHITESPACE}
        cursor.execute(f"CREATE TEMPORARY TABLE cir_itsm_load AS {clean} WITH NO DATA", params)
        # COPY_ROWS rows at a time: copied, then cleaned while the next ones are being read
        # (the reading runs in a thread, the cleaning in the database: the work of two cores)
        stream = _Stream(_read_ahead(_stage_chunks(rows), COPY_ROWS // COPY_CHUNK))
        while not stream.ended:
            stream.rows = 0
            cursor.cursor.copy_expert(copy, stream)
            if stream.error is not None:
                raise stream.error
            cursor.execute(f"INSERT INTO cir_itsm_load {clean}", params)
            cursor.execute("TRUNCATE cir_itsm_stage")
            if between is not None:
                between()

        cursor.execute("DROP TABLE cir_itsm_stage")
        reasons = _read_odd(cursor, typed, parse_date) if typed else {}
        _reject_staged(cursor, fields, reasons, result)
    return headers


def _read_odd(cursor, typed: list[str], parse_date) -> dict[tuple[str, str], str]:
    """Read in Python the values the SQL could not (each distinct text once), write the
    readable ones into the load table; the others' reasons by (field, text)."""
    pairs = ", ".join(f"({_sql_text(name)}, odd_{name})" for name in typed)
    cursor.execute(
        "SELECT DISTINCT v.field, v.text FROM cir_itsm_load, "  # noqa: S608
        f"LATERAL (VALUES {pairs}) AS v (field, text) WHERE odd AND v.text IS NOT NULL"
    )
    odd = cursor.fetchall()
    if not odd:
        return {}
    date = _date_reader(parse_date)
    reasons: dict[tuple[str, str], str] = {}
    values = io.StringIO()
    writerow = csv.writer(values, lineterminator="\n").writerow
    for name, text in odd:
        kind = _field_kind(name)
        try:
            if kind == K_DATE:
                value = date(name, text).isoformat()
            elif kind == K_COUNT:
                value = _read_count(name, text)
            else:
                value = "t" if _read_bool(name, text) else "f"
        except ValueError as exc:
            reasons[name, text] = str(exc)
            continue
        writerow((name, text, value))
    cursor.execute("CREATE TEMPORARY TABLE cir_itsm_odd (field text, text text, value text)")
    values.seek(0)
    cursor.cursor.copy_expert("COPY cir_itsm_odd FROM STDIN WITH (FORMAT csv)", values)
    for name in {name for name, _ in odd}:
        column = _LOAD_COLUMN.get(name, name)
        cursor.execute(
            f"UPDATE cir_itsm_load AS l SET {column} = o.value::{_SQL_TYPE[_field_kind(name)]} "  # noqa: S608
            f"FROM cir_itsm_odd AS o WHERE o.field = %s AND o.text = l.odd_{name}",
            [name],
        )
    return reasons


def _reject_staged(cursor, fields: dict[str, tuple[int, int]],
                   reasons: dict[tuple[str, str], str], result: ImportResult) -> None:  # fmt: skip
    """The rows of the load table that cannot be records, removed and reported as the
    Python reader reports them (the first field in the order of the columns, then the
    missing number or opened date), with the rows rejected while reading."""
    checks = []
    for name, (_, kind) in fields.items():
        column = _LOAD_COLUMN.get(name, name)
        if kind == K_TEXT:
            checks.append(f"CASE WHEN length({column}) > {TEXT_LIMITS[name]} THEN '' END")
        else:
            checks.append(f"CASE WHEN {column} IS NULL THEN odd_{name} END")
    bad = " OR ".join(f"({c}) IS NOT NULL" for c in checks)
    bad = f"{bad} OR number IS NULL OR opened_at IS NULL"
    cursor.execute(
        f"SELECT position, count(*) OVER (), number IS NULL, {', '.join(checks)} "  # noqa: S608
        "FROM cir_itsm_load "
        f"WHERE {bad} ORDER BY position LIMIT %s",
        [MAX_REJECTED_SHOWN],
    )
    found = cursor.fetchall()
    shown = []
    for position, _, no_number, *failed in found:
        reason = None
        for (name, (_, kind)), text in zip(fields.items(), failed, strict=True):
            if text is not None:
                reason = (f"{name}: more than {TEXT_LIMITS[name]} characters" if kind == K_TEXT
                          else reasons[name, text])  # fmt: skip
                break
        if reason is None:  # an unknown field passes its check: no number, or no date
            reason = "number: no record number" if no_number else "opened_at: no opened date"
        shown.append({"row": position, "reason": reason})
    if found:
        cursor.execute(f"DELETE FROM cir_itsm_load WHERE {bad}")  # noqa: S608
    result.rejected_count += found[0][1] if found else 0
    result.rejected = sorted([*result.rejected, *shown], key=lambda r: r["row"])[
        :MAX_REJECTED_SHOWN
    ]


def _read_ahead(items: Iterator, ahead: int) -> Iterator:
    """The items of `items`, made in a thread up to `ahead` items before they are asked for
    (what making them raises is raised here, in the asking thread)."""
    made: queue.Queue = queue.Queue(maxsize=ahead)
    end = object()
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        made.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            made.put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the asking thread
            made.put((end, exc))

    thread = threading.Thread(target=make, name="itsm-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = made.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _stage_chunks(rows: Iterator[list]) -> Iterator[str]:
    """The rows as COPY's CSV, COPY_CHUNK rows a chunk (written in C, no work per value)."""
    buffer = io.StringIO()
    writerows = csv.writer(buffer, lineterminator="\n").writerows
    while True:
        writerows(itertools.islice(rows, COPY_CHUNK))
        text = buffer.getvalue()
        if not text:
            return
        yield text
        buffer.seek(0)
        buffer.truncate()


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

    transaction.on_commit(lambda: _send_run(job.pk), robust=True)
    return job


def _send_run(import_id: int) -> bool:
    """Send the task that runs an import; False when the broker is down."""
    from ..tasks import itsm_import_run as task
    from ..tasks.publish import publish

    return publish(task, args=[import_id])


#: an import still queued this long after it was kept never reached a worker (the broker
#: was down when it was started): *Start imports left queued* sends it again
IMPORT_RESEND_AFTER = dt.timedelta(minutes=1)
#: the advisory locks (PostgreSQL) held by the run of an import, one per import
IMPORT_LOCK = 0x43495249  # "CIRI"


def itsm_imports_start_queued(*, older_than: dt.timedelta = IMPORT_RESEND_AFTER,
                              limit: int = 100) -> int:  # fmt: skip
    """Send the task of each import still queued `older_than` after it was kept; returns how
    many were sent. Safe at any time: a task delivered twice runs its import once."""
    cutoff = timezone.now() - older_than
    queued = list(
        ITSMImport.objects.filter(status=ImportStatus.QUEUED, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for import_id in queued:
        if not _send_run(import_id):
            break  # the broker is still down: the next run tries again
        sent += 1
    return sent


def itsm_import_run(*, import_id: int) -> None:
    """Run a kept import (the task's body): its progress is written as the file is read; its
    answer, or the reason it failed, when it ends. A finished import is not run again, nor
    one another worker is running (on PostgreSQL; a killed worker's lock goes with it)."""
    if connection.vendor != "postgresql":
        _import_run(import_id)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [IMPORT_LOCK, import_id])
        if not cursor.fetchone()[0]:
            return
    try:
        _import_run(import_id)
    finally:
        # a connection that broke took its lock with it
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_LOCK, import_id])


def _import_run(import_id: int) -> None:
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
