"""Recording measurements (services/measurements.py): one KPI's points or a batch across
KPIs, all or nothing, with errors per row and field; re-sent points update, never double."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from improvement import services
from improvement.choices import KPIStatus, Step
from improvement.exceptions import Forbidden, InvalidInput
from improvement.models import KPI, Initiative, KPICheck, Measurement

from ..factories import KPIFactory
from .conftest import NOW, at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]


def _minutes(n: int) -> list[dict]:
    """n points of 'mttr', a minute apart, ending an hour ago."""
    start = NOW - dt.timedelta(hours=1, minutes=n)
    return [
        {"kpi": "mttr", "value": 9.0, "measured_at": (start + dt.timedelta(minutes=i)).isoformat()}
        for i in range(n)
    ]


def test_recording_checks_the_kpi_after_commit(kpi, csi):
    services.measurement_record(
        kpi=kpi, actor=csi, points=[{"value": 9.0, "measured_at": at(1), "source": "snow"}]
    )
    kpi.refresh_from_db()
    check = KPICheck.objects.get(kpi=kpi)
    # progress (9 - 10) / (8 - 10) = 0.5; expected 60/181 days ≈ 0.33 → on track
    assert check.current == 9.0
    assert check.progress == pytest.approx(0.5)
    assert check.status == KPIStatus.ON_TRACK
    assert kpi.status == KPIStatus.ON_TRACK
    assert Initiative.objects.get(pk=kpi.initiative_id).health == KPIStatus.ON_TRACK


def test_resending_a_point_updates_it_instead_of_double_counting(kpi, csi):
    point = {"value": 9.5, "measured_at": at(2), "source": "snow"}
    services.measurement_record(kpi=kpi, actor=csi, points=[point])
    services.measurement_record(kpi=kpi, actor=csi, points=[point | {"value": 9.0}])
    assert list(Measurement.objects.filter(kpi=kpi).values_list("value", flat=True)) == [9.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "finite"), (float("inf"), "finite"), ("12x", "number"), (None, "number"),
     (True, "number"), (1e301, "finite")],
)  # fmt: skip
def test_bad_values_are_refused_and_nothing_is_written(kpi, csi, value, message):
    with pytest.raises(InvalidInput) as err:
        services.measurement_record(
            kpi=kpi, actor=csi,
            points=[{"value": 9, "measured_at": at(2)}, {"value": value, "measured_at": at(1)}],
        )  # fmt: skip
    assert message in err.value.errors["rows"][1]["value"][0]
    assert not Measurement.objects.filter(kpi=kpi).exists()


@pytest.mark.parametrize(
    "measured_at",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        dt.datetime(2026, 1, 1),
        None,
        NOW + dt.timedelta(days=2),
    ],
)
def test_bad_times_are_refused(kpi, csi, measured_at):
    with pytest.raises(InvalidInput) as err:
        services.measurement_record(
            kpi=kpi, actor=csi, points=[{"value": 1, "measured_at": measured_at}]
        )
    assert "measured_at" in err.value.errors["rows"][0]


def test_database_refuses_non_finite_values_even_bypassing_services(kpi):
    with pytest.raises(IntegrityError), transaction.atomic():
        Measurement.objects.create(kpi=kpi, value=float("inf"), measured_at=at(1))


def test_bulk_is_all_or_nothing_with_errors_per_row_and_field(kpi, csi):
    rows = [
        {"kpi": "mttr", "value": 9, "measured_at": at(3).isoformat()},
        {"kpi": "no-such-kpi", "value": 9, "measured_at": at(2).isoformat()},
        {"kpi": "mttr", "value": "NaN", "measured_at": at(1).isoformat()},
    ]
    with pytest.raises(InvalidInput) as err:
        services.measurements_record_bulk(actor=csi, rows=rows)
    errors = err.value.errors["rows"]
    assert set(errors) == {1, 2}
    assert errors[1]["kpi"] == ["Unknown KPI key 'no-such-kpi'."]
    assert "finite" in errors[2]["value"][0]
    assert Measurement.objects.count() == 0


def test_bulk_resend_of_the_same_batch_is_a_no_op(kpi, csi):
    rows = [
        {"kpi": "mttr", "value": 9 + i / 10, "measured_at": at(i + 1).isoformat()} for i in range(5)
    ]
    assert services.measurements_record_bulk(actor=csi, rows=rows) == 5
    snapshot = list(Measurement.objects.order_by("measured_at").values_list("measured_at", "value"))
    assert services.measurements_record_bulk(actor=csi, rows=rows) == 5
    assert (
        list(Measurement.objects.order_by("measured_at").values_list("measured_at", "value"))
        == snapshot
    )


def test_bulk_resend_does_not_move_the_data_version(kpi, csi):
    rows = [{"kpi": "mttr", "value": 9.5, "measured_at": at(2).isoformat()}]
    services.measurements_record_bulk(actor=csi, rows=rows)
    version = KPI.objects.values_list("data_changed_at", flat=True).get(pk=kpi.pk)
    assert version is not None
    services.measurements_record_bulk(actor=csi, rows=rows)
    assert KPI.objects.values_list("data_changed_at", flat=True).get(pk=kpi.pk) == version


def test_points_at_one_instant_in_a_batch_count_once_and_the_last_wins(kpi, csi):
    rows = [
        {"kpi": "mttr", "value": 9.5, "measured_at": at(2).isoformat(), "source": "first"},
        {"kpi": "mttr", "value": 9.4, "measured_at": at(1).isoformat()},
        # the same instant as the first, written in another time zone
        {"kpi": "mttr", "value": 9.1, "source": "second",
         "measured_at": at(2).astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()},
    ]  # fmt: skip
    assert services.measurements_record_bulk(actor=csi, rows=rows) == 2
    assert list(
        Measurement.objects.filter(kpi=kpi).order_by("measured_at").values_list("value", "source")
    ) == [(9.1, "second"), (9.4, "")]


def test_a_batch_overlapping_stored_points_updates_them_and_adds_the_rest(kpi, csi):
    # given two stored points
    services.measurements_record_bulk(
        actor=csi,
        rows=[{"kpi": "mttr", "value": v, "measured_at": at(d).isoformat()} for d, v in
              [(3, 9.8), (2, 9.6)]],
    )  # fmt: skip
    # when a batch corrects one, re-sends the other unchanged and adds a new one
    rows = [
        {"kpi": "mttr", "value": 9.7, "measured_at": at(3).isoformat()},
        {"kpi": "mttr", "value": 9.6, "measured_at": at(2).isoformat()},
        {"kpi": "mttr", "value": 9.2, "measured_at": at(1).isoformat()},
    ]
    assert services.measurements_record_bulk(actor=csi, rows=rows) == 3
    # then each instant holds one point, the latest word on it
    assert list(
        Measurement.objects.filter(kpi=kpi).order_by("measured_at").values_list("value", flat=True)
    ) == [9.7, 9.6, 9.2]
    assert KPICheck.objects.filter(kpi=kpi).latest("checked_at").current == 9.2


def test_an_error_in_a_late_chunk_of_a_large_batch_stores_nothing(kpi, csi):
    # (on PostgreSQL the first chunks are already streaming into the table by then)
    rows = _minutes(2500)
    rows[2100]["value"] = "n/a"
    with pytest.raises(InvalidInput) as err:
        services.measurements_record_bulk(actor=csi, rows=rows)
    assert set(err.value.errors["rows"]) == {2100}
    assert not Measurement.objects.filter(kpi=kpi).exists()
    assert KPI.objects.get(pk=kpi.pk).data_changed_at is None


def test_a_stored_point_in_a_late_chunk_of_a_large_batch_is_updated(kpi, csi):
    rows = _minutes(2500)
    services.measurements_record_bulk(actor=csi, rows=[rows[2200] | {"value": 11.0}])
    assert services.measurements_record_bulk(actor=csi, rows=rows) == 2500
    assert Measurement.objects.filter(kpi=kpi).count() == 2500
    assert set(Measurement.objects.filter(kpi=kpi).values_list("value", flat=True)) == {9.0}


@pytest.mark.parametrize(
    ("text", "microseconds"),
    [
        ("{iso_year}-W{week:02d}-{weekday}T09:30:00Z", 0),  # an ISO week date
        ("{date}T09:30:00,5Z", 500_000),  # a decimal comma
        ("{date}T10:00:00+0030", 0),  # an offset without a colon
        ("{date}T09:30:00.1234567Z", 123_456),  # more than microseconds: as Python reads it
        ("{date} 09:30Z", 0),  # a space and no seconds
    ],
)
def test_instants_in_any_iso_8601_form_are_stored_as_that_instant(kpi, csi, text, microseconds):
    day = at(3).date()
    iso_year, week, weekday = day.isocalendar()
    text = text.format(iso_year=iso_year, week=week, weekday=weekday, date=day.isoformat())
    rows = [{"kpi": "mttr", "value": 9.5, "measured_at": text}]
    services.measurements_record_bulk(actor=csi, rows=rows)
    stored = Measurement.objects.get(kpi=kpi).measured_at
    assert stored == dt.datetime.combine(day, dt.time(9, 30, 0, microseconds), tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [("snow\x00", "source", "NUL"), ("a\ud800b", "note", "surrogate"),
     ("x" * 501, "note", "500 characters")],
)  # fmt: skip
def test_text_the_database_cannot_store_is_refused(kpi, csi, text, field, message):
    point = {"value": 9.5, "measured_at": at(1), field: text}
    with pytest.raises(InvalidInput) as err:
        services.measurement_record(kpi=kpi, actor=csi, points=[point])
    assert message in err.value.errors["rows"][0][field][0]
    assert not Measurement.objects.filter(kpi=kpi).exists()


def test_text_beyond_ascii_and_with_quotes_is_stored_as_sent(kpi, csi):
    point = {"value": 9.5, "measured_at": at(1), "source": 'Zürich "NOC", 2nd line',
             "note": "Ünïcödé, \"quoted\"\nand a new line; 测试"}  # fmt: skip
    services.measurement_record(kpi=kpi, actor=csi, points=[point])
    stored = Measurement.objects.get(kpi=kpi)
    assert (stored.source, stored.note) == (point["source"], point["note"])


@pytest.mark.parametrize("count", [2, 12])
def test_a_team_member_feeding_many_kpis_costs_the_same_queries(
    initiative_at, make_user, count, django_assert_num_queries, monkeypatch
):
    # given KPIs on initiatives where the member is Responsible but not Accountable
    member = make_user("team", username="rita")
    kpis = []
    for n in range(count):
        initiative = initiative_at(Step.ACTION)
        initiative.responsible.add(member)
        kpis.append(KPIFactory(initiative=initiative, key=f"k{n}"))
    rows = [{"kpi": k.key, "value": 1.0, "measured_at": at(1).isoformat()} for k in kpis]
    # then roles, KPIs with their initiatives, their Responsible people; the write (a
    # savepoint pair, the points, the data version, the initiatives' activity stamp);
    # whatever the number of KPIs

    # SQLite also reads the stored points the batch meets before its upsert (the audit of
    # overwrites); PostgreSQL does so only when a COPY meets stored points
    writes = 6
    # (the check that follows the commit is counted elsewhere)
    monkeypatch.setattr("django.db.transaction.on_commit", lambda *args, **kwargs: None)
    with django_assert_num_queries(3 + writes):
        assert services.measurements_record_bulk(actor=member, rows=rows) == count


def test_bulk_refuses_more_than_ten_thousand_rows(csi):
    rows = [{"kpi": "x", "value": 1, "measured_at": "2026-01-01T00:00:00Z"}] * 10_001
    with pytest.raises(InvalidInput, match="At most 10000"):
        services.measurements_record_bulk(actor=csi, rows=rows)


def test_viewer_cannot_record_measurements(kpi, viewer):
    with pytest.raises(Forbidden):
        services.measurement_record(
            kpi=kpi, actor=viewer, points=[{"value": 1, "measured_at": at(1)}]
        )


def test_integration_may_record_measurements(kpi, integration):
    services.measurement_record(
        kpi=kpi, actor=integration, points=[{"value": 9, "measured_at": at(1)}]
    )
    assert Measurement.objects.get(kpi=kpi).recorded_by == integration


def test_one_kpi_takes_at_most_ten_thousand_points_per_call(kpi, csi):
    points = [{"value": 9.0, "measured_at": at(1) - dt.timedelta(seconds=i)} for i in range(10_001)]
    with pytest.raises(InvalidInput, match="At most 10000 measurements"):
        services.measurement_record(kpi=kpi, actor=csi, points=points)
    assert not Measurement.objects.filter(kpi=kpi).exists()
