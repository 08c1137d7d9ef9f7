"""Recording measurements and checking KPIs through the services (SPEC §3)."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from improvement import evaluation, services
from improvement.choices import EventType, KPIStatus, Step
from improvement.exceptions import Forbidden, InvalidInput
from improvement.models import KPI, Event, Initiative, KPICheck, Measurement
from improvement.services.checks import kpis_check

from .conftest import force_step
from .factories import InitiativeFactory, KPIFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]

NOW = timezone.now()


def at(days_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


@pytest.fixture
def kpi(initiative_at):
    """A 'decrease' KPI: baseline 10 sixty days ago, target 8 in 120 days (latest value)."""
    initiative = initiative_at(Step.ACTION)
    initiative.kpis.all().delete()
    return KPIFactory(
        initiative=initiative, key="mttr", name="Mean time to resolve",
        baseline_value=10.0, baseline_date=(NOW - dt.timedelta(days=60)).date(),
        target_value=8.0, target_date=(NOW + dt.timedelta(days=120)).date(),
    )  # fmt: skip


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


def test_a_check_run_twice_on_the_same_data_leaves_one_row(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    before = KPICheck.objects.filter(kpi=kpi).count()
    kpis_check(kpi_ids=[kpi.pk])
    kpis_check(kpi_ids=[kpi.pk])
    assert KPICheck.objects.filter(kpi=kpi).count() == before == 1


def test_only_a_status_change_emits_an_event(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(3)}])
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9.1, "measured_at": at(2)}])
    changes = Event.objects.filter(type=EventType.KPI_STATUS_CHANGED)
    # no_data → on_track once; the second point keeps it on track: no second event
    assert [(e.payload["from"], e.payload["to"]) for e in changes] == [("no_data", "on_track")]


def test_achieved_kpi_that_slips_back_after_sustain_reverts(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 7.9, "measured_at": at(5)}])
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.ACHIEVED
    force_step(kpi.initiative, Step.SUSTAIN)
    # progress (9.5 - 10) / -2 = 0.25 < 1 - 0.05 → reverted, with a kpi.reverted alert
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9.5, "measured_at": at(1)}])
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.REVERTED
    assert Event.objects.filter(type=EventType.KPI_REVERTED, payload__kpi="mttr").count() == 1
    assert Initiative.objects.get(pk=kpi.initiative_id).health == KPIStatus.REVERTED


def test_same_slip_before_sustain_is_only_regressed_or_on_track(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 7.9, "measured_at": at(5)}])
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 10.8, "measured_at": at(1)}])
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.REGRESSED


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("latest", 6.0), ("mean", 4.0), ("median", 4.0), ("sum", 12.0), ("min", 2.0),
     ("max", 6.0), ("count", 3.0)],
)  # fmt: skip
def test_every_aggregation_over_the_window_in_sql(initiative_at, csi, aggregation, expected):
    kpi = KPIFactory(
        initiative=initiative_at(Step.ACTION), direction="increase", aggregation=aggregation,
        window_days=7, baseline_value=1.0, baseline_date=(NOW - dt.timedelta(days=30)).date(),
        target_value=100.0, target_date=(NOW + dt.timedelta(days=30)).date(),
    )  # fmt: skip
    points = [{"value": 99.0, "measured_at": at(8)}]  # outside the 7-day window
    points += [{"value": v, "measured_at": at(d)} for v, d in ((2, 6), (4, 3), (6, 1))]
    services.measurement_record(kpi=kpi, actor=csi, points=points)
    check = KPICheck.objects.filter(kpi=kpi).latest("checked_at")
    reference = evaluation.evaluate(
        evaluation.KPIDefinition(
            direction="increase", aggregation=aggregation, window_days=7, baseline_value=1.0,
            baseline_date=kpi.baseline_date, target_value=100.0, target_date=kpi.target_date,
        ),
        [(p["measured_at"], float(p["value"])) for p in points],
        at=check.checked_at,
    )  # fmt: skip
    # the 99 outside the 7-day window counts for no windowed aggregation; latest ignores
    # the window but 99 is not the newest point, so every aggregation gives `expected`
    assert check.current == pytest.approx(expected)
    assert check.current == pytest.approx(reference.current)
    assert check.status == reference.status


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


def _minutes(n: int) -> list[dict]:
    """n points of 'mttr', a minute apart, ending an hour ago."""
    start = NOW - dt.timedelta(hours=1, minutes=n)
    return [
        {"kpi": "mttr", "value": 9.0, "measured_at": (start + dt.timedelta(minutes=i)).isoformat()}
        for i in range(n)
    ]


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
    # savepoint pair, the points, the data version); whatever the number of KPIs
    from django.db import connection

    writes = 5 if connection.vendor == "postgresql" else 4
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


def test_sweep_is_set_based_with_a_fixed_number_of_queries(django_assert_num_queries, csi):
    # given 30 KPIs over 3 initiatives with data, checked once already
    for _ in range(3):
        initiative = InitiativeFactory()
        force_step(initiative, Step.ACTION)
        for _ in range(10):
            k = KPIFactory(initiative=initiative, aggregation="median",
                           baseline_date=(NOW - dt.timedelta(days=30)).date(),
                           target_date=(NOW + dt.timedelta(days=30)).date())  # fmt: skip
            Measurement.objects.create(kpi=k, value=9, measured_at=at(1))
    kpis_check(batch_size=10)
    # when the sweep runs again in batches of 10 with no status change
    # then per batch: on PostgreSQL one statement reads the KPIs and aggregates their
    # windows; SQLite takes a read, an aggregate and a median query. No write and no
    # transaction, as no status and no data changed. Plus one final empty read and one
    # update of the operating counters (/metrics), whatever the number of KPIs per batch.
    from django.db import connection

    per_batch = 3 if connection.vendor == "sqlite" else 1
    with django_assert_num_queries(3 * per_batch + 2):
        summary = kpis_check(batch_size=10)
    assert summary.checked == 30
    assert summary.batches == 3
    assert summary.created == 0


def test_sweep_skips_rejected_cancelled_and_expired_monitoring(initiative_at):
    live = KPIFactory(initiative=initiative_at(Step.ACTION))
    KPIFactory(initiative=force_step(InitiativeFactory(), Step.CANCELLED))
    closed = initiative_at(Step.CLOSED)
    closed.sustain.monitor_until = (NOW - dt.timedelta(days=1)).date()
    closed.sustain.save()
    watched = initiative_at(Step.CLOSED)
    watched.sustain.monitor_until = (NOW + dt.timedelta(days=30)).date()
    watched.sustain.save()
    summary = kpis_check()
    checked = set(summary.results)
    expected = set(live.initiative.kpis.values_list("pk", flat=True)) | {watched.kpis.get().pk}
    assert closed.kpis.get().pk not in checked
    assert checked == expected


def test_only_stale_checks_skip_kpis_already_checked_on_this_data(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    assert kpis_check(kpi_ids=[kpi.pk], only_stale=True).checked == 0
    KPI.objects.filter(pk=kpi.pk).update(data_changed_at=timezone.now())
    assert kpis_check(kpi_ids=[kpi.pk], only_stale=True).checked == 1


def test_missed_after_the_target_date(initiative_at, csi):
    kpi = KPIFactory(
        initiative=initiative_at(Step.REVIEW), baseline_value=10.0, target_value=8.0,
        baseline_date=(NOW - dt.timedelta(days=100)).date(),
        target_date=(NOW - dt.timedelta(days=2)).date(),
    )  # fmt: skip
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.MISSED


def test_review_snapshots_the_latest_check_of_each_kpi(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    force_step(kpi.initiative, Step.REVIEW)
    initiative = Initiative.objects.get(pk=kpi.initiative_id)
    review = services.review_create(initiative=initiative, actor=csi, decision="iterate")
    row = next(r for r in review.kpi_snapshot if r["kpi"] == "mttr")
    assert (row["baseline_value"], row["target_value"], row["current"], row["status"]) == (
        10.0, 8.0, 9.0, "on_track",
    )  # fmt: skip
    # later data does not change what the review recorded
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 7.5, "measured_at": at(0.5)}])
    review.refresh_from_db()
    assert next(r for r in review.kpi_snapshot if r["kpi"] == "mttr")["current"] == 9.0


def test_target_change_pct_is_stored_as_absolute(initiative_at, csi):
    initiative = initiative_at(Step.TARGET)
    kpi = services.kpi_create(
        initiative=initiative, actor=csi, key="csat", name="Satisfaction", direction="increase",
        baseline_value=3.2, baseline_date=dt.date(2026, 1, 1), target_change_pct=25,
        target_date=dt.date(2026, 12, 31),
    )  # fmt: skip
    assert kpi.target_value == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_days", 36_501), ("target_date", dt.date(9999, 12, 31)),
     ("baseline_date", dt.date(1, 1, 1))],
)  # fmt: skip
def test_kpi_windows_and_dates_a_check_cannot_compute_are_refused(kpi, csi, field, value):
    # (a target on 9999-12-31 ends in the year 10 000, which no datetime can hold; the
    # check of every KPI swept with it would fail)
    with pytest.raises(InvalidInput) as err:
        services.kpi_update(kpi=kpi, actor=csi, **{field: value})
    assert field in err.value.errors
    assert getattr(KPI.objects.get(pk=kpi.pk), field) != value


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_days", 36_501), ("target_date", dt.date(9999, 12, 31)),
     ("baseline_date", dt.date(1899, 12, 31))],
)  # fmt: skip
def test_database_refuses_kpi_windows_and_dates_out_of_range(kpi, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        KPI.objects.filter(pk=kpi.pk).update(**{field: value})


def test_widest_window_and_latest_dates_still_check(kpi, csi):
    services.kpi_update(kpi=kpi, actor=csi, window_days=36_500, aggregation="mean",
                        target_date=dt.date(8999, 12, 31))  # fmt: skip
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9.0, "measured_at": at(1)}])
    assert KPICheck.objects.filter(kpi=kpi).latest("checked_at").current == 9.0


def test_a_target_value_and_a_change_together_are_refused(initiative_at, csi):
    with pytest.raises(InvalidInput) as err:
        services.kpi_create(
            initiative=initiative_at(Step.TARGET), actor=csi, key="csat", name="Satisfaction",
            direction="increase", baseline_value=3.2, baseline_date=dt.date(2026, 1, 1),
            target_value=4.5, target_change_pct=25, target_date=dt.date(2026, 12, 31),
        )  # fmt: skip
    assert "target_change_pct" in err.value.errors
    assert not KPI.objects.filter(key="csat").exists()


def test_a_change_next_to_the_current_target_value_replaces_it(kpi, csi):
    # a form shows the current target and sends it back with the change % typed beside it
    services.kpi_update(kpi=kpi, actor=csi, target_value=kpi.target_value, target_change_pct=-25)
    kpi.refresh_from_db()
    assert kpi.target_value == pytest.approx(7.5)


def test_one_kpi_takes_at_most_ten_thousand_points_per_call(kpi, csi):
    points = [{"value": 9.0, "measured_at": at(1) - dt.timedelta(seconds=i)} for i in range(10_001)]
    with pytest.raises(InvalidInput, match="At most 10000 measurements"):
        services.measurement_record(kpi=kpi, actor=csi, points=points)
    assert not Measurement.objects.filter(kpi=kpi).exists()


def test_health_is_the_worst_kpi_status(initiative_at, csi):
    initiative = initiative_at(Step.ACTION)
    good, bad = initiative.kpis.get(), KPIFactory(initiative=initiative, baseline_value=10.0)
    good.baseline_date = bad.baseline_date = (NOW - dt.timedelta(days=30)).date()
    good.target_date = bad.target_date = (NOW + dt.timedelta(days=30)).date()
    KPI.objects.bulk_update([good, bad], ["baseline_date", "target_date"])
    services.measurement_record(kpi=good, actor=csi, points=[{"value": 7, "measured_at": at(1)}])
    services.measurement_record(kpi=bad, actor=csi, points=[{"value": 12, "measured_at": at(1)}])
    assert Initiative.objects.get(pk=initiative.pk).health == KPIStatus.REGRESSED


def test_health_follows_kpis_being_added_and_removed(initiative_at, csi):
    initiative = initiative_at(Step.BASELINE)
    initiative.kpis.all().delete()
    services.initiative_refresh_health(initiative=initiative)
    assert Initiative.objects.get(pk=initiative.pk).health == "none"
    kpi = services.kpi_create(
        initiative=initiative, actor=csi, key="new-kpi", name="New", direction="decrease",
        baseline_value=5.0, baseline_date=dt.date(2026, 1, 1), target_value=4.0,
        target_date=dt.date(2027, 1, 1),
    )  # fmt: skip
    assert Initiative.objects.get(pk=initiative.pk).health == KPIStatus.NO_DATA
    services.kpi_delete(kpi=kpi, actor=csi)
    assert Initiative.objects.get(pk=initiative.pk).health == "none"


def test_measurements_on_a_cancelled_initiative_do_not_move_its_verdict(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(2)}])
    force_step(kpi.initiative, Step.CANCELLED)
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 11, "measured_at": at(1)}])
    kpi.refresh_from_db()
    assert kpi.status == KPIStatus.ON_TRACK  # as it was when the initiative was cancelled


@pytest.mark.parametrize("aggregation", ["latest", "mean", "median", "sum", "min", "max", "count"])
@pytest.mark.parametrize("window_days", [7, 60])
def test_window_edges_in_sql_agree_with_the_reference(initiative_at, aggregation, window_days):
    # given points on both sides of every edge: the window's start (7 days: after the
    # baseline starts), the baseline's start (60 days: the window reaches before it), and
    # the check's instant; one microsecond decides each
    tick = dt.timedelta(microseconds=1)
    baseline_start = dt.datetime.combine((NOW - dt.timedelta(days=30)).date(), dt.time.min,
                                         tzinfo=dt.UTC)  # fmt: skip
    window_start = NOW - dt.timedelta(days=window_days)
    kpi = KPIFactory(
        initiative=initiative_at(Step.ACTION), direction="increase", aggregation=aggregation,
        window_days=window_days, baseline_value=1.0, baseline_date=baseline_start.date(),
        target_value=100.0, target_date=(NOW + dt.timedelta(days=30)).date(),
    )  # fmt: skip
    points = [(window_start - tick, 91.0), (window_start, 3.0), (baseline_start - tick, 93.0),
              (baseline_start, 5.0), (NOW - dt.timedelta(days=1), 7.0), (NOW, 11.0),
              (NOW + tick, 97.0)]  # fmt: skip
    Measurement.objects.bulk_create(
        Measurement(kpi=kpi, measured_at=instant, value=value) for instant, value in points
    )
    # when checked at NOW
    kpis_check(kpi_ids=[kpi.pk], at=NOW)
    # then SQL counted exactly what the pure functions count
    check = KPICheck.objects.get(kpi=kpi)
    reference = evaluation.evaluate(
        evaluation.KPIDefinition(
            direction="increase", aggregation=aggregation, window_days=window_days,
            baseline_value=1.0, baseline_date=kpi.baseline_date, target_value=100.0,
            target_date=kpi.target_date,
        ),
        points,
        at=NOW,
    )  # fmt: skip
    assert check.measurement_count == reference.measurement_count
    assert check.current == pytest.approx(reference.current)
    assert (check.progress, check.status) == (pytest.approx(reference.progress), reference.status)
    # and the edge points decided it: the reference itself is not trivial
    # (latest ignores the window: with 7 days it also counts the two points before it)
    assert reference.measurement_count == (5 if (aggregation, window_days) == ("latest", 7) else 3)


def test_latest_in_sql_ignores_the_window(initiative_at, csi):
    # given a 'latest' KPI whose only point is older than its 7-day window
    kpi = KPIFactory(
        initiative=initiative_at(Step.ACTION), direction="increase", aggregation="latest",
        window_days=7, baseline_value=1.0, baseline_date=(NOW - dt.timedelta(days=30)).date(),
        target_value=100.0, target_date=(NOW + dt.timedelta(days=30)).date(),
    )  # fmt: skip
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 42, "measured_at": at(20)}])
    # then the check still sees it: latest means the newest point since the baseline
    check = KPICheck.objects.filter(kpi=kpi).latest("checked_at")
    assert (check.current, check.measurement_count) == (42.0, 1)
