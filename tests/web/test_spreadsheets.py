"""Spreadsheets in the browser: the register's CSV/XLSX exports (parsed back, every field,
formulas guarded, query counts flat), the export → import round trip, the import page, a
KPI's measurements pasted, corrected and deleted, and the KPI and portfolio exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import load_workbook

from improvement import services, sheets
from improvement.choices import Step
from improvement.models import ImportMapping, Initiative, KPICheck, Measurement
from improvement.services import imports
from improvement.web.register import EXPORT_COLUMNS

from .. import factories
from ..sheets import xlsx_upload
from .conftest import text, url

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def _xlsx(response) -> dict[str, list[tuple]]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook.worksheets}


@pytest.fixture
def register(csi, team_member, viewer):
    """Three initiatives with every kind of field set, one of them with a formula title."""
    goal = factories.GoalFactory(title="Delight customers")
    service = factories.ServiceFactory(name="VPN")
    first = services.initiative_create(
        actor=csi, title="VPN drops", description="Users lose the tunnel", source="problem",
        external_system="servicenow", external_id="PRB1", service=service, value=4,
        effort=2, urgency=5, due_date=dt.date(2027, 3, 1), accountable=team_member,
        goals=[goal], responsible=[team_member], informed=[viewer],
    )  # fmt: skip
    services.step_record_update(
        initiative=first, record="vision", actor=csi, statement="Stable VPN",
        expected_value="Fewer calls",
    )  # fmt: skip
    services.initiative_transition(initiative=first, to=Step.VISION, actor=csi)
    services.initiative_create(actor=csi, title='=HYPERLINK("http://evil")')
    services.initiative_create(actor=csi, title="Printer jams", external_id="123")
    return first


# --- register exports ---------------------------------------------------------------------


def test_the_xlsx_export_has_every_field_and_agrees_with_the_csv(client_for, viewer, register):
    client = client_for(viewer)
    rows_csv = _csv(client.get(url("register-export"), {"scope": "all"}))
    response = client.get(url("register-export-xlsx"), {"scope": "all"})
    assert response["Content-Type"] == sheets.XLSX_TYPE
    [(title, rows_xlsx)] = _xlsx(response).items()
    assert title == "Register"
    assert list(rows_xlsx[0]) == list(EXPORT_COLUMNS) == rows_csv[0]
    assert len(rows_xlsx) == len(rows_csv) == 4
    by_ref = {r[0]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows_xlsx[1:]}
    vpn = by_ref[register.reference]
    assert (vpn["title"], vpn["step"], vpn["owner"], vpn["goals"], vpn["service"]) == (
        "VPN drops", "vision", "tina", "Delight customers", "VPN",
    )  # fmt: skip
    assert (vpn["value"], vpn["urgency"], vpn["responsible"], vpn["informed"]) == (
        4, 5, "tina", "victor",
    )  # fmt: skip
    assert vpn["due_date"].date() == dt.date(2027, 3, 1)
    assert vpn["vision_statement"] == "Stable VPN" and vpn["expected_value"] == "Fewer calls"
    csv_vpn = next(r for r in rows_csv if r[0] == register.reference)
    assert dict(zip(rows_csv[0], csv_vpn, strict=True))["description"] == "Users lose the tunnel"


def test_the_xlsx_export_guards_formulas(client_for, viewer, register):
    rows = _xlsx(client_for(viewer).get(url("register-export-xlsx")))["Register"]
    titles = [r[1] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil")' in titles
    assert not any(str(cell).startswith("=") for row in rows for cell in row if cell)


def test_the_register_export_imports_back_unchanged(client_for, csi, register):
    response = client_for(csi).get(url("register-export-xlsx"), {"scope": "all"})
    data = b"".join(response.streaming_content)
    count = Initiative.objects.count()

    report = services.register_import(
        actor=csi, sheet=sheets.sheet_read(data, "export.xlsx"), dry_run=False
    )

    assert report.committed, report.row_errors
    assert [r.outcome for r in report.rows] == ["unchanged"] * 3
    assert Initiative.objects.count() == count
    # the CSV export too
    response = client_for(csi).get(url("register-export"), {"scope": "all"})
    sheet = sheets.sheet_read(b"".join(response.streaming_content), "export.csv")
    again = services.register_import(actor=csi, sheet=sheet, dry_run=True)
    assert [r.outcome for r in again.rows] == ["unchanged"] * 3, again.row_errors


@pytest.mark.parametrize("name", ["register-export", "register-export-xlsx"])
def test_the_export_query_count_does_not_grow_with_rows(
    client_for, viewer, team_member, django_assert_num_queries, name
):
    client = client_for(viewer)
    client.get(url("register"))  # warm the session

    def export():
        response = client.get(url(name))
        return b"".join(response.streaming_content)

    factories.InitiativeFactory(accountable=team_member).goals.add(factories.GoalFactory())
    # session, user, roles; the initiatives; goals, responsible, consulted, informed
    with django_assert_num_queries(8):
        export()
    for _ in range(6):
        factories.InitiativeFactory(accountable=team_member).goals.add(factories.GoalFactory())
    with django_assert_num_queries(8):
        export()


# --- the import page ----------------------------------------------------------------------


def test_the_import_page_previews_then_imports(client_for, csi, team_member):
    client = client_for(csi)
    rows = [["Summary", "Owner"], ["VPN drops", "tina"], ["Ghost", "nobody"]]

    preview = client.post(url("register-import"), {"file": xlsx_upload(rows)})

    assert preview.status_code == 422
    page = text(preview)
    assert "No user 'nobody'" in page and 'id="import-commit"' not in page
    content = preview.context["content"]
    # the mapping chosen on the page: the owner column left out, and saved by name
    ok = client.post(
        url("register-import"),
        {"content": content, "filename": "register.xlsx", "mapped": "1",
         "map_title": "Summary", "save_mapping_as": "Titles only", "action": "preview"},
    )  # fmt: skip
    assert ok.status_code == 200 and 'id="import-commit"' in text(ok)
    assert not Initiative.objects.exists()
    assert ImportMapping.objects.get(name="Titles only").mapping == {"title": "Summary"}

    done = client.post(
        url("register-import"),
        {"content": content, "filename": "register.xlsx", "mapped": "1",
         "map_title": "Summary", "action": "commit"},
    )  # fmt: skip
    assert done.status_code == 302
    assert sorted(Initiative.objects.values_list("title", flat=True)) == ["Ghost", "VPN drops"]


def test_the_import_page_refuses_a_bad_file(client_for, csi):
    response = client_for(csi).post(
        url("register-import"), {"file": SimpleUploadedFile("x.pdf", b"%PDF")}
    )
    assert response.status_code == 422 and "CSV or XLSX" in text(response)


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("team", 403), ("csi", 200)])
def test_only_a_csi_manager_opens_the_import_page(client_for, make_user, role, status):
    assert client_for(make_user(role)).get(url("register-import")).status_code == status


def test_the_import_page_query_count(client_for, csi, django_assert_num_queries):
    client = client_for(csi)
    client.get(url("register-import"))
    ImportMapping.objects.create(name="a", mapping={})
    # session, user, roles, saved mappings, the header's unread notifications
    with django_assert_num_queries(5):
        assert client.get(url("register-import")).status_code == 200


def test_the_guess_maps_every_exported_column_the_import_reads():
    guess = imports.mapping_guess(list(EXPORT_COLUMNS))
    assert set(guess) == {f.name for f in imports.IMPORT_FIELDS}


# --- a KPI's measurements -----------------------------------------------------------------


@pytest.fixture
def kpi(initiative_at):
    initiative = initiative_at(Step.ACTION)
    initiative.kpis.all().delete()
    today = timezone.localdate()
    return factories.KPIFactory(
        initiative=initiative, key="mttr", name="MTTR", direction="decrease",
        baseline_value=10.0, baseline_date=today - dt.timedelta(days=60),
        target_value=8.0, target_date=today + dt.timedelta(days=120),
    )  # fmt: skip


def _data_url(kpi):
    return url("kpi-data", kpi.initiative.reference, kpi.pk)


@pytest.mark.usefixtures("run_on_commit")
def test_pasted_measurements_are_previewed_then_recorded(client_for, team_member, kpi):
    client = client_for(team_member)
    day = timezone.localdate() - dt.timedelta(days=1)
    pasted = f"{day} 09:00\t9,5\tfirst\n{day} 10:00\tnine\n"

    preview = client.post(_data_url(kpi), {"text": pasted, "action": "preview"})

    assert preview.status_code == 422
    assert "A number is required." in text(preview)
    assert not Measurement.objects.exists()
    fixed = f"{day} 09:00\t9,5\tfirst\n{day} 10:00\t9\n"
    ok = client.post(_data_url(kpi), {"text": fixed, "action": "preview"})
    assert ok.status_code == 200 and 'id="points-record"' in text(ok)
    done = client.post(_data_url(kpi), {"text": ok.context["form"].initial["text"],
                                        "action": "record"})  # fmt: skip
    assert done.status_code == 302
    assert sorted(Measurement.objects.values_list("value", flat=True)) == [9.0, 9.5]
    assert KPICheck.objects.filter(kpi=kpi).exists()


def test_a_viewer_sees_the_data_but_may_not_paste(client_for, viewer, kpi):
    client = client_for(viewer)
    page = client.get(_data_url(kpi))
    assert page.status_code == 200 and 'id="points-form"' not in text(page)
    assert client.post(_data_url(kpi), {"text": "x", "action": "preview"}).status_code == 403


@pytest.mark.usefixtures("run_on_commit")
def test_a_measurement_is_corrected_then_deleted_on_its_page(client_for, csi, team_member, kpi):
    at = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 12, "measured_at": at}])
    m = Measurement.objects.get()
    client = client_for(team_member)
    page_url = url("measurement-edit", kpi.initiative.reference, kpi.pk, m.pk)
    initiative_page = text(client.get(url("initiative", kpi.initiative.reference)))
    assert page_url in initiative_page  # the KPI card's data table links to it

    local = timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(page_url, {"value": "x", "measured_at": local})
    assert refused.status_code == 422
    done = client.post(
        page_url, {"value": "9", "measured_at": local, "reason": "typo", "action": "correct"}
    )
    assert done.status_code == 302
    m.refresh_from_db()
    assert m.value == 9.0
    kpi.refresh_from_db()
    assert kpi.status == "on_track"
    history = text(client.get(page_url))
    assert "typo" in history and "changed" in history

    gone = client.post(page_url, {"action": "delete", "delete_reason": "test"})
    assert gone.status_code == 302 and not Measurement.objects.exists()
    assert Measurement.history.filter(id=m.pk, history_type="-").get().history_user == team_member


def test_a_viewer_may_not_open_the_correction_page(client_for, csi, viewer, kpi):
    services.measurement_record(
        kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": timezone.now()}]
    )
    m = Measurement.objects.get()
    page_url = url("measurement-edit", kpi.initiative.reference, kpi.pk, m.pk)
    assert client_for(viewer).get(page_url).status_code == 403
    assert client_for(viewer).post(page_url, {"action": "delete"}).status_code == 403
    assert Measurement.objects.exists()


@pytest.mark.usefixtures("run_on_commit")
def test_the_kpi_exports_parse_back(client_for, csi, viewer, kpi, django_assert_num_queries):
    now = timezone.now().replace(microsecond=0)
    services.measurement_record(
        kpi=kpi, actor=csi,
        points=[{"value": 9.5, "measured_at": now - dt.timedelta(days=2), "note": "=1+1"},
                {"value": 9.0, "measured_at": now - dt.timedelta(days=1)}],
    )  # fmt: skip
    client = client_for(viewer)
    reference = kpi.initiative.reference
    rows = _csv(client.get(url("kpi-export", reference, kpi.pk, "measurements", "csv")))
    assert rows[0][:4] == ["measured_at", "value", "source", "note"]
    assert [(r[1], r[3]) for r in rows[1:]] == [("9.5", "'=1+1"), ("9.0", "")]
    checks = _csv(client.get(url("kpi-export", reference, kpi.pk, "checks", "csv")))
    assert checks[0][:2] == ["checked_at", "status"] and checks[-1][1] == "on_track"
    book = _xlsx(client.get(url("kpi-export", reference, kpi.pk, "data", "xlsx")))
    assert [r[1] for r in book["Measurements"][1:]] == [9.5, 9.0]
    assert book["Checks"][-1][1] == "on_track"
    # flat: session, user, roles, initiative, KPI, measurements, checks
    with django_assert_num_queries(7):
        _xlsx(client.get(url("kpi-export", reference, kpi.pk, "data", "xlsx")))
    assert client.get(url("kpi-export", reference, kpi.pk, "data", "pdf")).status_code == 404


def test_the_portfolio_exports_parse_back(client_for, viewer, register):
    client = client_for(viewer)
    book = _xlsx(client.get(url("portfolio-export", "xlsx")))
    assert set(book) >= {"By step", "By health", "By goal", "Value vs effort"}
    steps = {r[0]: r[2] for r in book["By step"][1:]}
    assert steps["proposed"] == 2 and steps["vision"] == 1
    rows = _csv(client.get(url("portfolio-export", "csv")))
    assert rows[2][:4] == ["By step", "proposed", "Proposed", "2"]
    goal_rows = [r for r in rows if r[0] == "By goal" and r[1] == "Delight customers"]
    assert goal_rows[0][2] == "1"


def test_control_characters_never_break_nor_unguard_an_xlsx_export(client_for, csi):
    services.initiative_create(actor=csi, title="\x01=1+1 bell\x07")
    rows = _xlsx(client_for(csi).get(url("register-export-xlsx")))["Register"]
    assert rows[1][1] == "'=1+1 bell"


@pytest.mark.usefixtures("run_on_commit")
def test_the_measurement_pages_query_counts(
    client_for, csi, team_member, kpi, django_assert_num_queries
):
    now = timezone.now()
    for n in range(1, 4):
        services.measurement_record(
            kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": now - dt.timedelta(days=n)}]
        )
    m = Measurement.objects.first()
    client = client_for(team_member)
    data_url = _data_url(kpi)
    edit_url = url("measurement-edit", kpi.initiative.reference, kpi.pk, m.pk)
    client.get(data_url)
    # session, user, roles, initiative, KPI, RACI (may record), measurements, the header's
    # unread notifications
    with django_assert_num_queries(7):
        assert client.get(data_url).status_code == 200
    # session, user, roles, initiative, KPI, measurement, history (RACI: with the KPI),
    # the header's unread notifications
    with django_assert_num_queries(8):
        assert client.get(edit_url).status_code == 200
