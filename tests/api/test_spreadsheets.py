"""Spreadsheets over the API: POST /api/v1/initiatives/import/ (dry run, commit, re-import,
bad files, permission), a KPI's measurements from CSV, and PATCH/DELETE of a measurement."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from improvement import services
from improvement.models import Initiative, KPICheck, Measurement

from .. import factories
from ..sheets import xlsx_upload
from .support import client_for

URL = "/api/v1/initiatives/import/"


def xlsx(rows) -> SimpleUploadedFile:
    return xlsx_upload(rows)


ROWS = [
    ["Summary", "Ext", "Owner", "Value"],
    ["VPN drops", "PRB1", "tina", 4],
    ["Printer jams", "PRB2", "", 2],
]


def test_dry_run_then_commit_then_reimport(csi, team_member):
    client = client_for(csi)
    mapping = json.dumps(
        {"title": "Summary", "external_id": "Ext", "accountable": "Owner", "value": "Value"}
    )

    dry = client.post(URL, {"file": xlsx(ROWS), "mapping": mapping, "dry_run": "true"})
    assert dry.status_code == 200, dry.json()
    assert dry.json()["counts"] == {"create": 2, "update": 0, "unchanged": 0, "error": 0}
    assert not Initiative.objects.exists()

    done = client.post(URL, {"file": xlsx(ROWS), "mapping": mapping, "save_mapping_as": "snow"})
    assert done.status_code == 200 and done.json()["committed"]
    assert Initiative.objects.count() == 2

    again = client.post(URL, {"file": xlsx(ROWS), "mapping_name": "snow"})
    assert again.json()["counts"]["unchanged"] == 2
    assert Initiative.objects.count() == 2


def test_a_commit_with_a_bad_row_is_a_400_and_writes_nothing(csi, team_member):
    rows = [*ROWS, ["Ghost owner", "PRB3", "nobody@example.org", 9]]
    response = client_for(csi).post(
        URL,
        {
            "file": xlsx(rows),
            "mapping": json.dumps(
                {"title": "Summary", "external_id": "Ext", "accountable": "Owner", "value": "Value"}
            ),
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]["rows"]) == {"4"}
    assert set(body["errors"]["rows"]["4"]) == {"accountable", "value"}
    assert [r["outcome"] for r in body["report"]["rows"]] == ["create", "create", "error"]
    assert not Initiative.objects.exists()


@pytest.mark.parametrize(
    ("upload", "field"),
    [
        (SimpleUploadedFile("x.pdf", b"%PDF-1.4"), "file"),
        (SimpleUploadedFile("x.csv", b""), "file"),
        (SimpleUploadedFile("x.csv", b"title\n"), "file"),
        (SimpleUploadedFile("x.xlsx", b"PK\x03\x04broken"), "file"),
    ],
)
def test_bad_files_are_a_400_in_the_error_shape(csi, upload, field):
    response = client_for(csi).post(URL, {"file": upload})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and field in body["errors"]


def test_a_mapping_that_is_not_json_is_a_400(csi):
    response = client_for(csi).post(URL, {"file": xlsx(ROWS), "mapping": "{nope"})
    assert response.status_code == 400 and "mapping" in response.json()["errors"]


@pytest.mark.parametrize(("role", "status"), [("team", 403), ("viewer", 403), (None, 401)])
def test_only_a_csi_manager_imports(make_user, role, status):
    client = client_for(make_user(role)) if role else client_for(None)
    response = client.post(URL, {"file": xlsx(ROWS)})
    assert response.status_code == status
    assert not Initiative.objects.exists()


# --- measurements -------------------------------------------------------------------------


@pytest.fixture
def kpi(initiative_at):
    initiative = initiative_at("action")
    initiative.kpis.all().delete()
    today = timezone.localdate()
    return factories.KPIFactory(
        initiative=initiative, key="mttr", name="MTTR", direction="decrease",
        baseline_value=10.0, baseline_date=today - dt.timedelta(days=60),
        target_value=8.0, target_date=today + dt.timedelta(days=120),
    )  # fmt: skip


@pytest.mark.usefixtures("run_on_commit")
def test_measurements_from_csv_text_dry_run_then_record(kpi, team_member):
    day = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    text = f"measured_at,value,note\n{day}T09:00:00Z,9.5,first\n{day}T10:00:00Z,9,\n"
    client = client_for(team_member)
    url = f"/api/v1/kpis/{kpi.pk}/measurements/import/"

    dry = client.post(url, {"text": text, "dry_run": "true"})
    assert dry.status_code == 200, dry.json()
    assert [r["errors"] for r in dry.json()["rows"]] == [{}, {}]
    assert not Measurement.objects.exists()

    done = client.post(url, {"text": text})
    assert done.json()["recorded"] == 2
    assert KPICheck.objects.filter(kpi=kpi).exists()

    bad = client.post(url, {"text": "measured_at,value\nsoon,x\n"})
    assert bad.status_code == 400 and set(bad.json()["errors"]["rows"]) == {"2"}


@pytest.mark.usefixtures("run_on_commit")
def test_a_measurement_is_corrected_and_deleted_over_the_api(kpi, csi, team_member, viewer):
    at = timezone.now() - dt.timedelta(days=1)
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 12, "measured_at": at}])
    m = Measurement.objects.get()
    url = f"/api/v1/measurements/{m.pk}/"

    assert client_for(viewer).patch(url, {"value": 9}, format="json").status_code == 403
    refused = client_for(team_member).patch(url, {"value": "NaN", "x": 1}, format="json")
    assert refused.status_code == 400

    response = client_for(team_member).patch(url, {"value": 9, "reason": "typo"}, format="json")
    assert response.status_code == 200 and response.json()["value"] == 9.0
    assert m.history.latest("history_date").history_change_reason == "typo"

    assert client_for(team_member).delete(f"{url}?reason=test").status_code == 204
    assert not Measurement.objects.exists()
    kpi.refresh_from_db()
    assert kpi.status == "no_data"


@pytest.mark.usefixtures("run_on_commit")
def test_correcting_a_measurement_takes_a_fixed_number_of_queries(
    kpi, csi, django_assert_num_queries
):
    now = timezone.now()
    for n in range(1, 4):
        services.measurement_record(
            kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": now - dt.timedelta(days=n)}]
        )
    m = Measurement.objects.first()
    client = client_for(csi)
    client.get("/api/v1/users/")  # the token's user read once
    # the check engine reads a batch in one statement on PostgreSQL, two on SQLite
    with django_assert_num_queries(QUERIES_CORRECT + (connection.vendor == "sqlite")):
        response = client.patch(f"/api/v1/measurements/{m.pk}/", {"value": 8.5}, format="json")
    assert response.status_code == 200


#: token, user, roles, measurement and its KPI; the correction (its history, the clash
#: check, the save and its history row, the KPI's data version) and the check that runs
#: after commit (its KPI read, the window aggregate, the writes): the same whatever the
#: KPI's number of measurements
QUERIES_CORRECT = 16
