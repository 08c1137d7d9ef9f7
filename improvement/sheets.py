"""Spreadsheet files in and out: CSV and XLSX (openpyxl), with the formula guard.

Reading turns an uploaded file into a header and rows of plain cell values (text, numbers,
dates), refusing what is not a CSV or XLSX file, empty, headerless or too big with
InvalidInput (the wings answer 400 / a form error). Writing streams CSV a row at a time and
writes XLSX in openpyxl's write-only mode to a temporary file, so memory stays bounded
whatever the number of rows. Text that a spreadsheet would run as a formula is quoted as
text in both formats (formula_safe); the importer takes the quote off again
(formula_unguard), so an export reads back as it was written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .exceptions import InvalidInput

#: the largest file an import reads
MAX_BYTES = 10 * 1024 * 1024
#: the most data rows an import reads
MAX_ROWS = 10_000
MAX_COLUMNS = 200
#: the most an XLSX file may unpack to (a small zip can hold gigabytes of XML)
MAX_UNPACKED = 200 * 1024 * 1024

#: where a spreadsheet may start a new cell, and so a formula: the cell's start, and after a
#: ',' or ';' (a semicolon-separator locale splits "x;=1+1" into "x" and a live "=1+1"),
#: spaces in between included; the formula's first character is quoted with "'"
_FORMULA_START = re.compile(r"(^|[;,])(\s*)(?=[=+\-@\t\r])")
_GUARDED = re.compile(r"(^|[;,])(\s*)'(?=[=+\-@\t\r])")


def formula_safe(value) -> str:
    """Text that a spreadsheet would run as a formula, quoted as text wherever a spreadsheet
    may see a cell start (after a ',' or ';' as well as at the start)."""
    text = "" if value is None else str(value)
    return _FORMULA_START.sub(lambda m: f"{m.group(1)}{m.group(2)}'", text)


def formula_unguard(text: str) -> str:
    """The text formula_safe quoted, as it was (the quote before a formula start removed)."""
    return _GUARDED.sub(lambda m: f"{m.group(1)}{m.group(2)}", text) if "'" in text else text


def _file_error(message: str) -> InvalidInput:
    return InvalidInput(message, errors={"file": [message]})


# --- reading --------------------------------------------------------------------------------


@dataclass
class Sheet:
    """A file's header and data rows; `row_numbers[i]` is row i's number in the file."""

    headers: list[str]
    rows: list[list] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    #: the header row's cells as they were (a paste without a header starts with data)
    header_cells: list = field(default_factory=list)
    header_number: int = 1


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_cell(value):
    if isinstance(value, str):
        return value.strip()
    return value


def _table(lines: Iterable[tuple[int, list]], *, allow_header_only: bool = False) -> Sheet:
    """Header (the first non-empty row) and the non-empty rows after it."""
    sheet = None
    for number, cells in lines:
        cells = [_clean_cell(c) for c in cells]
        if all(_blank(c) for c in cells):
            continue
        if sheet is None:
            if len(cells) > MAX_COLUMNS:
                raise _file_error(f"The file has more than {MAX_COLUMNS} columns.")
            while cells and _blank(cells[-1]):
                cells.pop()
            headers, seen = [], set()
            for index, cell in enumerate(cells, start=1):
                name = "" if cell is None else str(cell).strip()
                name = name or f"Column {index}"
                base, n = name, 2
                while name.lower() in seen:  # two columns of one name stay apart
                    name, n = f"{base} ({n})", n + 1
                seen.add(name.lower())
                headers.append(name)
            sheet = Sheet(headers=headers, header_cells=cells, header_number=number)
            continue
        if len(sheet.rows) >= MAX_ROWS:
            raise _file_error(f"The file has more than {MAX_ROWS} rows; split it.")
        # padded to the header's width (a longer row keeps its extra cells)
        sheet.rows.append(cells + [None] * (len(sheet.headers) - len(cells)))
        sheet.row_numbers.append(number)
    if sheet is None:
        raise _file_error("The file is empty: it needs a header row and at least one row.")
    if not sheet.rows and not allow_header_only:
        raise _file_error("The file has a header row but no rows under it.")
    return sheet


def _read_xlsx(data: bytes) -> Sheet:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNPACKED:
                raise _file_error("The XLSX file unpacks to more than the import reads.")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except InvalidInput:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise _file_error("The file is not a readable XLSX workbook.") from exc
    try:
        worksheet = workbook.worksheets[0] if workbook.worksheets else None
        if worksheet is None:
            raise _file_error("The workbook has no sheet.")
        return _table(
            (number, list(row))
            for number, row in enumerate(worksheet.iter_rows(values_only=True), start=1)
        )
    finally:
        workbook.close()


def _read_csv(data: bytes, *, allow_header_only: bool = False) -> Sheet:
    if b"\x00" in data[:8192]:
        raise _file_error("The file is neither CSV nor XLSX.")
    for encoding in ("utf-8-sig", "cp1252"):  # what Excel saves, on the Web and on Windows
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _file_error("The CSV file is not UTF-8 (nor Windows-1252) text.")
    # the separator of the first line: a tab (pasted from a spreadsheet), a semicolon (a
    # decimal-comma locale's CSV), else a comma
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first else ";" if ";" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(
            ((number, row) for number, row in enumerate(reader, start=1)),
            allow_header_only=allow_header_only,
        )
    except csv.Error as exc:
        raise _file_error(f"The CSV file cannot be read: {exc}.") from exc


def sheet_read(data: bytes, filename: str = "") -> Sheet:
    """The header and rows of an uploaded CSV or XLSX file (the first sheet of a workbook).

    Raises InvalidInput (errors under `file`) for a file that is not CSV or XLSX, empty,
    without rows, or larger than MAX_BYTES / MAX_ROWS.
    """
    if len(data) > MAX_BYTES:
        raise _file_error(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if not data.strip():
        raise _file_error("The file is empty: it needs a header row and at least one row.")
    name = (filename or "").lower()
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or name.endswith(".xls"):
        raise _file_error("Old Excel (.xls) files are not read: save it as .xlsx or .csv.")
    if name.endswith(".xlsx"):
        raise _file_error("The file is not a readable XLSX workbook.")
    if name and not name.endswith((".csv", ".txt", ".tsv")):
        raise _file_error("Upload a CSV or XLSX file.")
    return _read_csv(data)


def sheet_from_text(text: str) -> Sheet:
    """Pasted CSV text (comma, semicolon or tab separated) as a Sheet; one line is enough
    (a paste of one point without a header)."""
    if not text.strip():
        raise _file_error("Nothing was pasted.")
    if len(text) > MAX_BYTES:
        raise _file_error(f"The text is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    return _read_csv(text.encode("utf-8"), allow_header_only=True)


# --- measurements from a spreadsheet ------------------------------------------------------

#: the columns of pasted or uploaded measurements, in the order assumed without a header
POINT_COLUMNS = ("measured_at", "value", "note")


def _instant_text(value) -> str:
    """A cell's instant as ISO 8601 with a zone: a time without a zone (what spreadsheets
    hold) is taken in the site's time zone, a date alone as its midnight."""
    from django.utils import timezone

    if isinstance(value, dt.datetime):
        instant = value
    elif isinstance(value, dt.date):
        instant = dt.datetime.combine(value, dt.time())
    else:
        text = "" if value is None else str(value).strip()
        try:
            instant = dt.datetime.fromisoformat(text)
        except ValueError:
            return text  # the service says what is wrong with it
    if instant.tzinfo is None:
        instant = timezone.make_aware(instant, timezone.get_current_timezone())
    return instant.isoformat()


def _number(value):
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")  # a decimal comma
        return text
    return value


def measurement_points(sheet: Sheet) -> list[tuple[int, dict]]:
    """The points of a sheet of measurements, each with its row number in the file.

    Columns by header (`measured_at`, `value`, optional `note`, any case) or, when the first
    row is not such a header, in that order; the first row is then a point too.
    """
    names = [h.strip().lower().replace(" ", "_") for h in sheet.headers]
    rows = list(zip(sheet.row_numbers, sheet.rows, strict=True))
    if {"measured_at", "value"} <= set(names):
        index = {name: names.index(name) for name in POINT_COLUMNS if name in names}
    else:
        index = {name: n for n, name in enumerate(POINT_COLUMNS)}
        rows.insert(0, (sheet.header_number, list(sheet.header_cells)))
    points = []
    for number, cells in rows:
        cells = cells + [None] * (len(POINT_COLUMNS) - len(cells))
        point = {
            "measured_at": _instant_text(cells[index["measured_at"]])
            if "measured_at" in index
            else None,
            "value": _number(cells[index["value"]]) if "value" in index else None,
        }
        if "note" in index and index["note"] < len(cells) and cells[index["note"]] is not None:
            point["note"] = formula_unguard(str(cells[index["note"]]))
        points.append((number, point))
    return points


# --- writing --------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def _csv_value(value) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return formula_safe(value)


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text a line at a time (for a streaming response), every text cell guarded."""
    writer = csv.writer(_Echo())
    yield writer.writerow([formula_safe(h) for h in header])
    for row in rows:
        yield writer.writerow([_csv_value(v) for v in row])


#: control characters XML 1.0 cannot hold (openpyxl refuses them): dropped from XLSX cells
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_value(value):
    if value is None or isinstance(value, bool | int | float | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)  # XLSX has no time zones
        return value
    return formula_safe(_NOT_IN_XML.sub("", str(value)))


#: one sheet of a workbook: its title, header and rows
SheetData = tuple[str, list[str], Iterable[Iterable]]


def xlsx_file(sheets: Iterable[SheetData]):
    """An XLSX workbook of `sheets`, written in write-only mode (rows go to disk as they
    come) into a temporary file, returned open at its start for a FileResponse."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        worksheet = workbook.create_sheet(title=title[:31])
        worksheet.append([formula_safe(h) for h in header])
        for row in rows:
            worksheet.append([_xlsx_value(v) for v in row])
    output = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    workbook.save(output)
    output.seek(0)
    return output


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
