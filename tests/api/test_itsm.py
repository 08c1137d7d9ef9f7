"""The ITSM records API: CSV import (presets, audit rows, day-first, `?`, rejected rows,
all or nothing), push, opportunities checked against an independent computation, and
promote with a derived KPI whose measurements keep coming from the records."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.urls import reverse

from improvement.models import KPI, Initiative, ITSMRecord, KPIDerivation, Measurement

from ..itsm.reference import SAMPLE, figures_by, latest_records
from .support import client_for

IMPORT = "/api/v1/itsm-records/import/"
PUSH = "/api/v1/itsm-records/"
OPPS = "/api/v1/opportunities/"
PROMOTE = "/api/v1/opportunities/promote/"
#: the sample's last 90 days, and the 90 before
PERIOD = {"from": "2026-08-31", "to": "2026-11-28"}


def upload(client, content: bytes, name="export.csv", **fields):
    data = {"system": "servicenow", "kind": "incident", **fields}
    data["file"] = io.BytesIO(content)
    data["file"].name = name
    return client.post(IMPORT, data, format="multipart")


@pytest.fixture
def csi_client(csi):
    return client_for(csi)


@pytest.fixture
def imported(csi_client):
    response = upload(csi_client, SAMPLE.read_bytes())
    assert response.status_code == 200, response.json()
    return response.json()


# --- import ------------------------------------------------------------------------------


def test_audit_export_imports_one_record_per_incident_the_latest_row_winning(imported):
    reference = latest_records()
    assert imported["records"] == imported["created"] == len(reference) == 180
    assert imported["rows_read"] == sum(1 for _ in SAMPLE.open()) - 1
    assert imported["rejected"] == [] and imported["date_order"] == "dmy"
    assert ITSMRecord.objects.count() == 180
    for key, row in list(reference.items())[:40]:
        record = ITSMRecord.objects.get(number__iexact=key)
        assert record.state == row["incident_state"]
        assert record.source_version == int(row["sys_mod_count"])
        assert record.service == ("" if row["cmdb_ci"] == "?" else row["cmdb_ci"])
        assert record.sla_met == {"?": None, "true": True, "false": False}[row["made_sla"]]
        # day-first: 04-11-2026 is 4 November
        opened = dt.datetime.strptime(row["opened_at"], "%d-%m-%Y %H:%M:%S")
        assert record.opened_at == opened.replace(tzinfo=dt.UTC)
        assert record.raw["number"] == row["number"]


def test_reimport_updates_nothing_and_never_doubles(csi_client, imported):
    again = upload(csi_client, SAMPLE.read_bytes(), system="ServiceNow").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 180)
    assert ITSMRecord.objects.count() == 180


def test_a_later_version_updates_and_an_older_one_does_not(csi_client):
    head = "number,incident_state,opened_at,sys_updated_on,sys_mod_count\n"
    first = head + "INC1,New,01-11-2026 10:00:00,01-11-2026 10:00:00,0\n"
    assert upload(csi_client, first.encode()).json()["created"] == 1
    later = head + "inc1,Resolved,01-11-2026 10:00:00,02-11-2026 10:00:00,3\n"
    assert upload(csi_client, later.encode()).json()["updated"] == 1
    older = head + "INC1,In Progress,01-11-2026 10:00:00,01-11-2026 11:00:00,1\n"
    answer = upload(csi_client, older.encode()).json()
    assert (answer["updated"], answer["unchanged"]) == (0, 1)
    record = ITSMRecord.objects.get()
    assert (record.state, record.number) == ("Resolved", "INC1")


def test_rejected_rows_are_reported_with_their_number_and_reason(csi_client):
    text = (
        "number,opened_at,reopen_count,made_sla\n"
        "INC1,13-11-2026 10:00:00,0,true\n"
        ",13-11-2026 10:00:00,0,true\n"
        "INC3,not a date,0,true\n"
        "INC4,13-11-2026 10:00:00,many,true\n"
        "INC5,?,0,true\n"
        "INC6,13-11-2026 10:00:00,1,maybe\n"
    )
    answer = upload(csi_client, text.encode()).json()
    assert answer["rows_read"] == 6 and answer["created"] == 1
    assert [r["row"] for r in answer["rejected"]] == [3, 4, 5, 6, 7]
    reasons = " | ".join(r["reason"] for r in answer["rejected"])
    for words in ("no record number", "not a date", "not a whole number", "no opened date",
                  "not true or false"):  # fmt: skip
        assert words in reasons


def test_display_labels_and_month_first_dates_are_read(csi_client):
    text = (
        '"Number","State","Opened","Resolved","Assignment group","Made SLA","Updates"\n'
        "INC1,Resolved,11/13/2026 10:00:00,11/13/2026 12:30:00,Network,false,2\n"
    )
    answer = upload(csi_client, text.encode()).json()
    assert answer["date_order"] == "mdy" and answer["created"] == 1
    record = ITSMRecord.objects.get()
    assert record.assignment_group == "Network" and record.sla_met is False
    assert record.resolved_at - record.opened_at == dt.timedelta(hours=2, minutes=30)


def test_jira_service_management_export(csi_client):
    text = (
        "Summary,Issue key,Issue id,Status,Priority,Created,Resolved,Component/s,"
        "Custom field (Request Type),Updated\n"
        "VPN down,ITSD-12,10012,Resolved,High,13/Nov/26 9:15 AM,13/Nov/26 2:45 PM,VPN,"
        "Get IT help,13/Nov/26 2:45 PM\n"
    )
    answer = upload(csi_client, text.encode(), system="jira").json()
    assert answer["created"] == 1, answer
    record = ITSMRecord.objects.get()
    assert (record.number, record.subcategory, record.category) == ("ITSD-12", "VPN", "Get IT help")
    assert record.opened_at == dt.datetime(2026, 11, 13, 9, 15, tzinfo=dt.UTC)
    assert record.resolved_at == dt.datetime(2026, 11, 13, 14, 45, tzinfo=dt.UTC)


def test_mapping_and_date_format(csi_client):
    text = "Ref;Start;Team\nX-1;2026.11.13 10:00;Ops\n"
    mapping = json.dumps({"number": "Ref", "opened_at": "Start", "assignment_group": "team"})
    answer = upload(csi_client, text.encode(), system="homegrown", mapping=mapping,
                    date_format="%Y.%m.%d %H:%M").json()  # fmt: skip
    assert answer["created"] == 1, answer
    assert ITSMRecord.objects.get().assignment_group == "Ops"


def test_dry_run_reports_and_writes_nothing(csi_client):
    answer = upload(csi_client, SAMPLE.read_bytes(), dry_run="true").json()
    assert answer["created"] == 180 and answer["dry_run"] is True
    assert not ITSMRecord.objects.exists()


@pytest.mark.parametrize(
    ("fields", "content", "field"),
    [
        ({"system": "bad system!"}, b"number,opened_at\n", "system"),
        ({"kind": "outage"}, b"number,opened_at\n", "kind"),
        ({"preset": "remedy"}, b"number,opened_at\nINC1,13-11-2026 10:00\n", "preset"),
        ({}, "number,opened_at\nINC1,13-11-2026 10:00 é\n".encode("latin-1"), "file"),
        ({}, b"", "file"),
        ({"mapping": '{"number": "Nope"}'}, b"number,opened_at\nINC1,13-11-2026\n", "mapping"),
        ({"mapping": "[1"}, b"number,opened_at\nINC1,13-11-2026\n", "mapping"),
        ({}, b"id,when\n1,13-11-2026\n", "mapping"),
        ({"date_format": "whenever"}, b"number,opened_at\nINC1,13-11-2026\n", "date_format"),
    ],
)
def test_bad_input_is_400_in_the_error_shape_and_writes_nothing(csi_client, fields, content,
                                                                field):  # fmt: skip
    response = upload(csi_client, content, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["message"] and field in body["errors"]
    assert not ITSMRecord.objects.exists()


def test_no_file_is_400(csi_client):
    response = csi_client.post(IMPORT, {"system": "servicenow"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["errors"]


def test_a_broken_csv_row_imports_nothing(csi_client):
    # a NUL byte inside a quoted field: the row is rejected, the others are imported
    text = b'number,opened_at\nINC1,13-11-2026 10:00\n"INC\x002",13-11-2026 10:00\n'
    answer = upload(csi_client, text).json()
    assert answer["created"] == 1 and answer["rejected"][0]["row"] == 3


def test_an_unreadable_row_after_many_good_ones_is_400_and_imports_nothing(csi_client):
    # the error comes while the first rows are already being loaded (PostgreSQL: streamed
    # into COPY): still the import's 400, not a database error, and nothing written
    good = "".join(f"INC{n},13-11-2026 10:00\n" for n in range(3000))
    text = f'number,opened_at\n{good}INC9,"{"x" * 200_000}"\n'.encode()
    response = upload(csi_client, text)
    assert response.status_code == 400, response.content[:200]
    assert "not valid CSV" in response.json()["message"]
    assert not ITSMRecord.objects.exists()


@pytest.mark.parametrize(("role", "code"), [("viewer", 403), ("team", 403), ("integration", 200)])
def test_who_may_import(make_user, role, code):
    response = upload(client_for(make_user(role)), b"number,opened_at\nINC1,13-11-2026 10:00\n")
    assert response.status_code == code


# --- push ------------------------------------------------------------------------------


def test_push_upserts_by_number_and_is_all_or_nothing(make_user):
    client = client_for(make_user("integration"))
    item = {
        "system": "servicenow",
        "kind": "incident",
        "number": "INC9",
        "opened_at": "2026-11-20T09:00:00Z",
        "category": "Network",
        "sla_met": True,
    }
    assert client.post(PUSH, [item], format="json").json()["created"] == 1
    changed = {**item, "number": "inc9", "resolved_at": "2026-11-20T10:00:00Z"}
    assert client.post(PUSH, [changed], format="json").json()["updated"] == 1
    bad = client.post(PUSH, [{**item, "number": "INC10"}, {**item, "opened_at": "soon"}],
                      format="json")  # fmt: skip
    assert bad.status_code == 400 and "1" in bad.json()["errors"]["rows"]
    assert ITSMRecord.objects.count() == 1
    assert client.post(PUSH, {"number": "x"}, format="json").status_code == 400


def test_record_list_query_count_is_fixed(csi_client, imported, django_assert_num_queries):
    with django_assert_num_queries(4):  # token+user, groups, count, page
        response = csi_client.get(PUSH + "?limit=100")
    assert response.json()["count"] == 180


# --- opportunities -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dimension", "column"),
    [("subcategory", "subcategory"), ("service", "cmdb_ci"), ("priority", "priority")],
)
def test_opportunity_figures_match_an_independent_computation(csi_client, imported, dimension,
                                                              column):  # fmt: skip
    body = csi_client.get(OPPS, {"dimension": dimension, **PERIOD}).json()
    reference = figures_by(column, dt.date(2026, 8, 31), dt.date(2026, 11, 29))
    results = body["results"]
    assert {r["group"] for r in results} == set(reference)
    for item in results:
        ref = reference[item["group"]]
        for name, value in ref.items():
            assert item[name] == (None if value is None else pytest.approx(value, rel=1e-9)), name
    expected_order = sorted(reference, key=lambda g: -reference[g]["score"])
    assert [r["group"] for r in results] == expected_order
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    assert results[0]["explanation"].startswith("Ranked 1 of")
    previous = figures_by(column, dt.date(2026, 6, 2), dt.date(2026, 8, 31))
    top = results[0]
    assert top["previous"]["records"] == previous.get(top["group"], {"records": 0})["records"]


def test_opportunities_read_by_a_viewer_in_a_fixed_number_of_queries(
    make_user, imported, django_assert_num_queries
):
    client = client_for(make_user("viewer"))
    with django_assert_num_queries(6):  # token+user, groups, two grouped, two coverage
        response = client.get(OPPS, {"dimension": "category", **PERIOD})
    assert response.status_code == 200 and response.json()["results"]


@pytest.mark.parametrize(
    "query", [{"dimension": "colour"}, {"from": "2026-12-01", "to": "2026-11-01"}, {"to": "x"}]
)
def test_opportunities_bad_query_is_400(csi_client, query):
    response = csi_client.get(OPPS, query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


# --- promote and the derived KPI ----------------------------------------------------------


def test_promote_creates_a_proposed_initiative_with_a_derived_kpi(csi_client, imported):
    top = csi_client.get(OPPS, {"dimension": "subcategory", **PERIOD}).json()["results"][0]
    response = csi_client.post(
        PROMOTE,
        {"dimension": "subcategory", "group": top["group"], "metric": "median_resolution_hours",
         **PERIOD, "target_change_pct": -30},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    initiative = Initiative.objects.get(pk=body["initiative"]["id"])
    assert initiative.step == "proposed" and initiative.source == "incident"
    assert top["group"] in initiative.description and "2026-08-31" in initiative.description
    assert initiative.itsm_records.count() == top["records"]
    kpi = KPI.objects.get(pk=body["kpi"]["id"])
    assert kpi.derived and body["kpi"]["derived"] is True
    assert kpi.baseline_value == pytest.approx(top["median_resolution_hours"], rel=1e-9)
    assert kpi.baseline_date == dt.date(2026, 11, 28)
    assert kpi.target_value == pytest.approx(top["median_resolution_hours"] * 0.7)
    assert kpi.target_date == dt.date(2026, 11, 28) + dt.timedelta(days=90)
    assert kpi.measurements.exists()
    # the group is now marked covered, not hidden
    again = csi_client.get(OPPS, {"dimension": "subcategory", **PERIOD}).json()["results"]
    assert again[0]["group"] == top["group"]
    assert again[0]["covered_by"] == [initiative.reference]


def test_derived_kpi_measurements_follow_a_second_import(
    csi_client, imported, django_capture_on_commit_callbacks
):
    response = csi_client.post(
        PROMOTE,
        {"dimension": "subcategory", "group": "VPN", "metric": "records_per_week", **PERIOD},
        format="json",
    )
    kpi = KPI.objects.get(pk=response.json()["kpi"]["id"])
    reference = figures_by("subcategory", dt.date(2026, 8, 31), dt.date(2026, 11, 29))
    assert kpi.baseline_value == pytest.approx(reference["VPN"]["records_per_week"])
    week = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)  # a Monday
    before = Measurement.objects.get(kpi=kpi, measured_at=week).value
    # when three more VPN incidents of that week arrive
    text = "number,opened_at,subcategory\n" + "".join(
        f"INC99{i},2{4 + i}-11-2026 09:00:00,VPN\n" for i in range(3)
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload(csi_client, text.encode())
    # then that week's measurement counts them, computed by the same service
    assert Measurement.objects.get(kpi=kpi, measured_at=week).value == before + 3
    kpi.refresh_from_db()
    assert kpi.last_checked_at is not None  # the usual checks ran after the commit
    assert kpi.checks.exists()


def test_derived_kpi_refuses_measurements_by_hand(csi_client, imported):
    response = csi_client.post(
        PROMOTE, {"dimension": "category", "group": "Network", "metric": "reopen_rate", **PERIOD},
        format="json",
    )  # fmt: skip
    kpi = KPI.objects.get(pk=response.json()["kpi"]["id"])
    count = kpi.measurements.count()
    point = {"value": 1, "measured_at": "2026-11-20T09:00:00Z"}
    one = csi_client.post(f"/api/v1/kpis/{kpi.pk}/measurements/", point, format="json")
    assert one.status_code == 409 and "derived" in one.json()["message"]
    bulk = csi_client.post("/api/v1/measurements/", [{**point, "kpi": kpi.key}], format="json")
    assert bulk.status_code == 400 and "derived" in json.dumps(bulk.json())
    assert kpi.measurements.count() == count


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"dimension": "subcategory", "group": "Nothing here", **PERIOD}, 400),
        ({"dimension": "colour", "group": "VPN", **PERIOD}, 400),
        ({"dimension": "subcategory", "group": "VPN", "metric": "vibes", **PERIOD}, 400),
    ],
)
def test_promote_bad_input(csi_client, imported, payload, code):
    response = csi_client.post(PROMOTE, payload, format="json")
    assert response.status_code == code and response.json()["code"] == "invalid"
    assert not KPIDerivation.objects.exists() and not Initiative.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "team", "integration"])
def test_only_csi_managers_promote(make_user, imported, role):
    response = client_for(make_user(role)).post(
        PROMOTE, {"dimension": "subcategory", "group": "VPN", **PERIOD}, format="json"
    )
    assert response.status_code == 403
    assert not Initiative.objects.exists()


def test_urls_resolve():
    assert reverse("api:opportunity-promote") == PROMOTE
