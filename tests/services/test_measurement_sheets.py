"""Measurements from a spreadsheet (pasted CSV read into points, checked before recording),
and correcting or deleting a wrong point: audited in the history, the KPI checked again."""

import datetime as dt

import pytest

from improvement import services, sheets
from improvement.choices import KPIStatus
from improvement.exceptions import Forbidden, InvalidInput
from improvement.models import KPICheck, Measurement

from .conftest import at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]


def test_pasted_rows_with_a_header_become_points():
    sheet = sheets.sheet_from_text("Value;Measured at;Note\n7,5;2026-11-20 09:00;first\n")
    [(row, point)] = sheets.measurement_points(sheet)
    assert row == 2
    assert point == {
        "measured_at": "2026-11-20T09:00:00+00:00",
        "value": "7.5",
        "note": "first",
    }


def test_pasted_rows_without_a_header_are_measured_at_value_note():
    sheet = sheets.sheet_from_text("2026-11-20T09:00:00Z\t7\n2026-11-21\t8\tsecond\n")
    points = sheets.measurement_points(sheet)
    assert [(n, p["value"], p.get("note")) for n, p in points] == [
        (1, "7", None),
        (2, "8", "second"),
    ]
    assert points[1][1]["measured_at"] == "2026-11-21T00:00:00+00:00"


def test_the_preview_finds_each_bad_row_without_recording(kpi):
    problems = services.measurement_points_problems(
        [
            {"measured_at": at(1).isoformat(), "value": "9"},
            {"measured_at": "yesterday", "value": "x"},
        ]
    )
    assert set(problems) == {1} and set(problems[1]) == {"measured_at", "value"}
    assert not Measurement.objects.exists()


def _point(kpi, csi, value=9.0, days=1):
    services.measurement_record(
        kpi=kpi, actor=csi, points=[{"value": value, "measured_at": at(days).isoformat()}]
    )
    return Measurement.objects.get(kpi=kpi, measured_at=at(days))


def test_a_correction_is_audited_and_the_kpi_checked_again(kpi, csi, team_member):
    measurement = _point(kpi, csi, value=12.0)  # regressed: above the baseline of 10
    assert KPICheck.objects.filter(kpi=kpi).latest("checked_at").status == KPIStatus.REGRESSED

    services.measurement_correct(
        measurement=measurement, actor=team_member, value=9.0, reason="Typo: 9, not 12"
    )

    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.ON_TRACK
    history = list(measurement.history.order_by("history_date", "history_id"))
    assert [(h.history_type, h.value) for h in history] == [("+", 12.0), ("~", 9.0)]
    assert history[-1].history_user == team_member
    assert history[-1].history_change_reason == "Typo: 9, not 12"


def test_a_deletion_is_audited_and_the_kpi_checked_again(kpi, csi):
    measurement = _point(kpi, csi, value=9.0)
    pk = measurement.pk

    services.measurement_delete(measurement=measurement, actor=csi, reason="Test data")

    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.NO_DATA
    last = Measurement.history.filter(id=pk).latest("history_date")
    assert (last.history_type, last.value, last.history_user) == ("-", 9.0, csi)


def test_a_viewer_may_not_correct_nor_delete(kpi, csi, viewer):
    measurement = _point(kpi, csi)
    with pytest.raises(Forbidden):
        services.measurement_correct(measurement=measurement, actor=viewer, value=1.0)
    with pytest.raises(Forbidden):
        services.measurement_delete(measurement=measurement, actor=viewer)
    assert Measurement.objects.get(pk=measurement.pk).value == 9.0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"value": float("nan")}, "value"),
        ({"value": "abc"}, "value"),
        ({"measured_at": dt.datetime(2026, 1, 1)}, "measured_at"),  # noqa: DTZ001
        ({"source": "x"}, "source"),
    ],
)
def test_a_bad_correction_changes_nothing(kpi, csi, data, field):
    measurement = _point(kpi, csi)
    with pytest.raises(InvalidInput) as exc:
        services.measurement_correct(measurement=measurement, actor=csi, **data)
    assert field in exc.value.errors
    assert Measurement.objects.get(pk=measurement.pk).value == 9.0


def test_a_correction_onto_another_points_instant_is_refused(kpi, csi):
    first, second = _point(kpi, csi, days=1), _point(kpi, csi, days=2)
    with pytest.raises(InvalidInput, match="already has a measurement"):
        services.measurement_correct(measurement=second, actor=csi, measured_at=first.measured_at)
