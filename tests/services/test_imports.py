"""Importing a register from CSV/XLSX: reading files, mapping columns, dry run, commit,
idempotence, people, steps through the workflow's guards, and bad files."""

from __future__ import annotations

import datetime as dt

import pytest

from improvement import services, sheets
from improvement.choices import Step
from improvement.exceptions import Forbidden, InvalidInput
from improvement.models import Event, ImportMapping, Initiative, TransitionLog
from improvement.services import imports
from tests import factories
from tests.sheets import xlsx_bytes

HEADER = [
    "Title", "Source", "External system", "External ID", "Owner", "Goals", "Value",
    "Effort", "Urgency", "Due date", "Step", "Vision statement", "Expected value",
]  # fmt: skip


def xlsx(rows, header=HEADER) -> bytes:
    return xlsx_bytes([header, *rows])


@pytest.fixture
def register_file(team_member):
    factories.GoalFactory(title="Delight customers")
    team_member.email = "tina@example.org"
    team_member.save()
    return xlsx(
        [
            # good: created in proposed
            [
                "VPN drops",
                "problem",
                "ServiceNow",
                "PRB1",
                "tina",
                "",
                4,
                2,
                4,
                dt.date(2027, 3, 1),
                "proposed",
                "",
                "",
            ],
            # good: owner by email, accepted into step 1 then 2 (its vision is complete)
            [
                "Password resets",
                "Incident",
                "servicenow",
                "PRB2",
                "tina@example.org",
                "Delight customers",
                3,
                3,
                3,
                None,
                "baseline",
                "Self-service",
                "Fewer calls",
            ],
            # bad: unknown person, value out of range
            ["Bad one", "problem", "servicenow", "PRB3", "nobody", "", 9, 2, 2, None, "", "", ""],
            # bad: asks for step 2 without a vision
            [
                "No vision",
                "problem",
                "servicenow",
                "PRB4",
                "tina",
                "",
                3,
                3,
                3,
                None,
                "baseline",
                "",
                "",
            ],
        ]  # fmt: skip
    )


def read(data: bytes, name="register.xlsx"):
    return sheets.sheet_read(data, name)


def test_the_mapping_is_guessed_from_names_labels_and_aliases():
    guess = imports.mapping_guess(["TITLE", "external id", "Owner", "Due-Date", "Whatever"])
    assert guess == {
        "title": "TITLE",
        "external_id": "external id",
        "accountable": "Owner",
        "due_date": "Due-Date",
    }


def test_a_dry_run_reports_every_row_and_writes_nothing(csi, register_file):
    before = (Initiative.objects.count(), Event.objects.count(), TransitionLog.objects.count())

    report = services.register_import(actor=csi, sheet=read(register_file), dry_run=True)

    assert [r.outcome for r in report.rows] == ["create", "create", "error", "error"]
    assert [r.row for r in report.rows] == [2, 3, 4, 5]
    bad = report.rows[2].errors
    assert "No user 'nobody'" in bad["accountable"][0]
    assert "1 to 5" in bad["value"][0]
    blocked = report.rows[3].errors["step"]
    assert "The vision statement is missing." in blocked
    assert not report.committed
    assert (
        Initiative.objects.count(),
        Event.objects.count(),
        TransitionLog.objects.count(),
    ) == before


def test_a_commit_with_a_bad_row_writes_nothing_and_gives_the_same_report(csi, register_file):
    dry = services.register_import(actor=csi, sheet=read(register_file), dry_run=True)
    report = services.register_import(actor=csi, sheet=read(register_file), dry_run=False)
    assert not report.committed
    assert report.row_errors == dry.row_errors
    assert Initiative.objects.count() == 0


def test_commit_then_reimport_updates_never_duplicates(csi, register_file):
    # given the bad rows left out
    sheet = read(register_file)
    sheet.rows, sheet.row_numbers = sheet.rows[:2], sheet.row_numbers[:2]

    report = services.register_import(actor=csi, sheet=sheet, dry_run=False)

    assert report.committed and report.counts["create"] == 2
    vpn = Initiative.objects.get(external_id="PRB1")
    assert (vpn.step, vpn.accountable.username, vpn.value, vpn.due_date) == (
        Step.PROPOSED, "tina", 4, dt.date(2027, 3, 1),
    )  # fmt: skip
    resets = Initiative.objects.get(external_id="PRB2")
    assert resets.step == Step.BASELINE
    assert resets.vision.statement == "Self-service"
    assert list(resets.transitions.values_list("to_step", flat=True)) == ["vision", "baseline"]
    assert resets.external_system == "servicenow"

    again = services.register_import(actor=csi, sheet=read(register_file), dry_run=True)
    assert [r.outcome for r in again.rows[:2]] == ["unchanged", "unchanged"]
    sheet = read(register_file)
    sheet.rows, sheet.row_numbers = sheet.rows[:2], sheet.row_numbers[:2]
    sheet.rows[0][6] = 5  # the value changes
    changed = services.register_import(actor=csi, sheet=sheet, dry_run=False)
    assert [(r.outcome, r.changes) for r in changed.rows] == [
        ("update", ["value"]),
        ("unchanged", []),
    ]
    assert Initiative.objects.count() == 2
    assert Initiative.objects.get(external_id="PRB1").value == 5


def test_rows_are_matched_by_reference(csi):
    initiative = services.initiative_create(actor=csi, title="Old title")
    data = xlsx([[initiative.reference, "New title"], ["CIR-99999", "Ghost"]],
                header=["Reference", "Title"])  # fmt: skip
    report = services.register_import(actor=csi, sheet=read(data), dry_run=True)
    assert [r.outcome for r in report.rows] == ["update", "error"]
    assert "No initiative CIR-99999" in report.rows[1].errors["reference"][0]


def test_their_own_reference_serves_as_the_external_id(csi):
    data = xlsx([["XL-1", "First"]], header=["Ref", "Title"])
    services.register_import(actor=csi, sheet=read(data), dry_run=False)
    again = services.register_import(actor=csi, sheet=read(data), dry_run=False)
    assert again.rows[0].outcome == "unchanged"
    assert Initiative.objects.get().external_id == "XL-1"


def test_only_a_csi_manager_imports(team_member, register_file):
    with pytest.raises(Forbidden):
        services.register_import(actor=team_member, sheet=read(register_file))


def test_a_mapping_to_a_missing_column_is_refused(csi, register_file):
    with pytest.raises(InvalidInput) as exc:
        services.register_import(actor=csi, sheet=read(register_file), mapping={"title": "Nope"})
    assert "no column 'Nope'" in exc.value.message


def test_a_mapping_is_saved_by_name(csi):
    services.import_mapping_save(actor=csi, name="ServiceNow", mapping={"title": "Short"})
    services.import_mapping_save(actor=csi, name="ServiceNow", mapping={"title": "Summary"})
    assert ImportMapping.objects.get().mapping == {"title": "Summary"}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "x.csv", "empty"),
        (b"\n\n", "x.csv", "empty"),
        (b"title\n", "x.csv", "no rows"),
        (b"\x00\x01\x02garbage", "x.bin", "CSV or XLSX"),
        (b"PK\x03\x04not a zip", "x.xlsx", "not a readable XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "x.xls", ".xls"),
        (b"a,b\n1,2\n", "x.pdf", "CSV or XLSX"),
    ],
)
def test_bad_files_are_refused_with_a_message(data, name, message):
    with pytest.raises(InvalidInput) as exc:
        sheets.sheet_read(data, name)
    assert message in exc.value.message
    assert "file" in exc.value.errors


def test_a_huge_file_is_refused(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 3)
    with pytest.raises(InvalidInput, match="more than 3 rows"):
        sheets.sheet_read(b"title\n" + b"x\n" * 4, "x.csv")


def test_csv_with_semicolons_is_read():
    sheet = sheets.sheet_read("Title;Value\nCafé;3\n".encode("cp1252"), "x.csv")
    assert sheet.headers == ["Title", "Value"] and sheet.rows == [["Café", "3"]]


def test_the_formula_guard_is_undone_on_import():
    assert sheets.formula_unguard(sheets.formula_safe("=1+1;-2")) == "=1+1;-2"
