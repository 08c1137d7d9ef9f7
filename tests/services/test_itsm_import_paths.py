"""The ITSM import on PostgreSQL cleans the file's values in SQL; the row-by-row Python
cleaner (SQLite's) must give the same answer and the same records for the same file: a
messy audit export with crafted bad, odd and tricky rows goes through both."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from improvement.models import ITSMRecord
from improvement.services import itsm

from ..itsm.reference import SAMPLE

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

STORED = ("system", "kind", "number", "opened_at", "resolved_at", "closed_at", "state",
          "priority", "category", "subcategory", "service", "assignment_group", "reopen_count",
          "reassignment_count", "sla_met", "problem", "raw", "source_updated_at",
          "source_version")  # fmt: skip


def _row(**values) -> dict:
    base = {"number": "CRAFT1", "short_description": "crafted", "incident_state": "New",
            "opened_at": "13-11-2026 10:00:00", "sys_updated_on": "13-11-2026 10:00:00",
            "sys_mod_count": "0", "reopen_count": "0", "made_sla": "?"}  # fmt: skip
    return {**base, **values}


#: crafted rows after the sample's: (values, what they test)
CRAFTED = [
    _row(number=""),  # no number
    _row(number="?"),
    _row(opened_at="?"),  # no opened date
    _row(opened_at="not a date"),
    _row(opened_at="31-02-2026 10:00:00"),  # the usual shape, not a day of the calendar
    _row(opened_at="29-02-2028 10:00:00", number="LEAP"),
    _row(opened_at="13-11-2026 24:00:00"),
    _row(opened_at="13-11-1900 10:00:00"),
    _row(opened_at="13/Nov/26 9:15 AM", number="ODD1"),  # read by the pattern
    _row(opened_at="2026-11-13T10:00:00+02:00", number="ODD2"),
    _row(opened_at="2026.11.13 10:00:00.25", number="ODD3"),
    _row(opened_at="2026-11-13T10:00:00", number="ISO1", resolved_at="2026/11/13 12:00:00"),
    _row(reopen_count="many"),
    _row(reopen_count="-1"),
    _row(reopen_count="99999999999"),
    _row(reopen_count="1.0", number="COUNT1"),
    _row(reopen_count="1e3", number="COUNT2"),
    _row(reopen_count="007", number="COUNT3", reassignment_count=" 4 "),
    _row(made_sla="maybe"),
    _row(made_sla="yEs", number="BOOL1"),
    _row(made_sla="TRUE", number="BOOL2"),
    _row(made_sla="N", number="BOOL3"),
    _row(incident_state="x" * 65),  # too long
    _row(incident_state="x" * 65, opened_at="not a date"),  # the first column's reason
    _row(incident_state="y" * 64, number="LONG64"),
    _row(number="  SPACED\u00a0", incident_state="\u2003In Progress\t"),
    _row(number="QUOTED", short_description='He said "no", then\nleft; a, b', cmdb_ci=" ? "),
    _row(number="UNI", category="Réseau ünïcode", short_description="\u2028line"),
    _row(number="inc0010056", sys_updated_on="01-01-2030 10:00:00", incident_state="Newest"),
    _row(number="DUP", sys_updated_on="13-11-2026 11:00:00", sys_mod_count="2"),
    _row(number="dup", sys_updated_on="13-11-2026 11:00:00", sys_mod_count="1"),
    _row(number="DUP", sys_updated_on="13-11-2026 11:00:00", sys_mod_count="2", priority="2"),
    _row(number="NOVERSION", sys_updated_on="?", sys_mod_count="?"),
]


def messy_export() -> bytes:
    """The sample, the crafted rows, a blank line, a short row, a long row, a NUL row."""
    text = SAMPLE.read_text(encoding="utf-8")
    headers = text.split("\n", 1)[0].split(",")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=headers,
                            lineterminator="\r\n")  # fmt: skip
    for row in CRAFTED:
        writer.writerow({k: v for k, v in row.items() if k in headers})
    extra = (
        "\r\n"  # a blank line: skipped, counted in the row numbers
        "SHORT1,short row,New,13-11-2026 10:00:00\r\n"
        + ",".join(["LONG1", "long row", "New", "13-11-2026 10:00:00"] + [""] * 13)
        + ",extra,values\r\n"
        "NUL1,a \x00 in it,New,13-11-2026 10:00:00\r\n"
        '"\ufeffBOM1",bom,New,13-11-2026 10:00:00\r\n'
    )
    return (text + buffer.getvalue() + extra).encode("utf-8")


def _import(csi, content: bytes, *, in_sql: bool, monkeypatch, **options) -> dict:
    monkeypatch.setattr(itsm, "CLEAN_IN_SQL", in_sql)
    result = itsm.itsm_records_import(actor=csi, content=content, system="servicenow",
                                      **options)  # fmt: skip
    return result.as_dict()


def _stored() -> list[dict]:
    return list(ITSMRecord.objects.order_by("number").values(*STORED))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"time_zone": "Europe/Paris"},
        {"date_format": "mdy"},
        {"date_format": "ymd"},
        {"date_format": "%d-%m-%Y %H:%M:%S"},
    ],
    ids=["detected", "paris", "mdy", "ymd", "strptime"],
)
def test_sql_and_python_cleaning_give_the_same_answer_and_records(csi, monkeypatch, options):
    content = messy_export()
    if options.get("time_zone"):  # an hour that occurs twice, and one that does not occur
        content += (b"FOLD1,fold,New,25-10-2026 02:30:00,25-10-2026 02:59:59\r\n"
                    b"GAP1,gap,New,29-03-2026 02:30:00\r\n")  # fmt: skip
    by_python = _import(csi, content, in_sql=False, monkeypatch=monkeypatch, **options)
    python_records = _stored()
    ITSMRecord.objects.all().delete()
    by_sql = _import(csi, content, in_sql=True, monkeypatch=monkeypatch, **options)
    assert by_sql == by_python
    assert _stored() == python_records
    assert by_sql["rejected_count"] > 10 and by_sql["created"] > 10
    # what one path stored, the other finds unchanged
    again = _import(csi, content, in_sql=False, monkeypatch=monkeypatch, **options)
    assert (again["created"], again["updated"]) == (0, 0)


def test_the_reasons_are_the_python_readers(csi, monkeypatch):
    answer = _import(csi, messy_export(), in_sql=True, monkeypatch=monkeypatch)
    reasons = {r["reason"] for r in answer["rejected"]}
    assert {"number: no record number", "opened_at: no opened date",
            "opened_at: 'not a date' is not a date",
            "opened_at: '31-02-2026 10:00:00' is not a date",
            "reopen_count: 'many' is not a whole number",
            "reopen_count: '-1' is out of range", "sla_met: 'maybe' is not true or false",
            "state: more than 64 characters",
            "the row holds a NUL character"} <= reasons  # fmt: skip
    rows = [r["row"] for r in answer["rejected"]]
    assert rows == sorted(rows)
    record = ITSMRecord.objects.get(number="QUOTED")
    assert record.raw["short_description"] == 'He said "no", then\nleft; a, b'
    assert record.service == "?" or record.service == ""  # " ? " is unknown once stripped
    assert ITSMRecord.objects.get(number="SPACED").state == "In Progress"


def test_the_whitespace_stripped_in_sql_is_pythons():
    assert set(itsm.WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_many_rejected_rows_show_the_first_thousand(csi, monkeypatch):
    lines = ["number,opened_at"] + [f"INC{n},bad {n}" for n in range(1500)] + ["OK1,13-11-2026"]
    content = "\n".join(lines).encode()
    by_python = _import(csi, content, in_sql=False, monkeypatch=monkeypatch)
    ITSMRecord.objects.all().delete()
    by_sql = _import(csi, content, in_sql=True, monkeypatch=monkeypatch)
    assert by_sql == by_python
    assert by_sql["rejected_count"] == 1500 and len(by_sql["rejected"]) == 1000


def test_a_file_of_more_columns_than_a_table_holds_is_cleaned_row_by_row(csi, monkeypatch):
    headers = ["number", "opened_at"] + [f"extra {n}" for n in range(itsm.MAX_SQL_COLUMNS + 100)]
    row = ["INC1", "13-11-2026 10:00:00"] + ["x"] * (itsm.MAX_SQL_COLUMNS + 100)
    content = (",".join(headers) + "\n" + ",".join(row) + "\n").encode()
    answer = _import(csi, content, in_sql=True, monkeypatch=monkeypatch)
    assert answer["created"] == 1
    assert ITSMRecord.objects.get().raw["extra 1499"] == "x"


def test_a_zone_the_database_does_not_know_reads_the_dates_in_python(csi, monkeypatch):
    content = messy_export() + b"FOLD1,fold,New,25-10-2026 02:30:00\r\n"
    options = {"time_zone": "Europe/Paris"}
    by_python = _import(csi, content, in_sql=False, monkeypatch=monkeypatch, **options)
    python_records = _stored()
    ITSMRecord.objects.all().delete()
    monkeypatch.setattr(itsm, "_sql_zone", lambda cursor, zone: False)
    by_sql = _import(csi, content, in_sql=True, monkeypatch=monkeypatch, **options)
    assert by_sql == by_python
    assert _stored() == python_records


def test_an_import_another_process_runs_is_not_run_again(csi):
    """A task delivered twice (sent again by *Start imports left queued*, or redelivered)
    while its import runs: the second finds the import's lock taken and leaves it."""
    import psycopg2
    from django.db import connection

    job = itsm.ITSMImport.objects.create(
        created_by=csi, system="servicenow", kind="incident", content=SAMPLE.read_bytes()
    )
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:  # the run in another worker holds the lock
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [itsm.IMPORT_LOCK, job.pk])
        itsm.itsm_import_run(import_id=job.pk)
        job.refresh_from_db()
        assert job.status == "queued" and not ITSMRecord.objects.exists()
    finally:
        with other.cursor() as cursor:  # that run ends (closing the connection frees the
            # lock too, but only once its backend has gone, a moment later)
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [itsm.IMPORT_LOCK, job.pk])
        other.close()
    itsm.itsm_import_run(import_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and ITSMRecord.objects.count() == 180
