"""The check engine (services/checks.py): verdicts after commit and by the sweep, set-based
in SQL and agreeing with evaluation.py, reverts after sustain, health."""

import datetime as dt

import pytest
from django.utils import timezone

from improvement import evaluation, services
from improvement.choices import EventType, KPIStatus, Step
from improvement.models import KPI, Event, Initiative, KPICheck, Measurement
from improvement.services.checks import kpis_check

from ..conftest import force_step
from ..factories import InitiativeFactory, KPIFactory
from .conftest import NOW, at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]


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


def test_health_is_the_worst_kpi_status(initiative_at, csi):
    initiative = initiative_at(Step.ACTION)
    good, bad = initiative.kpis.get(), KPIFactory(initiative=initiative, baseline_value=10.0)
    good.baseline_date = bad.baseline_date = (NOW - dt.timedelta(days=30)).date()
    good.target_date = bad.target_date = (NOW + dt.timedelta(days=30)).date()
    KPI.objects.bulk_update([good, bad], ["baseline_date", "target_date"])
    services.measurement_record(kpi=good, actor=csi, points=[{"value": 7, "measured_at": at(1)}])
    services.measurement_record(kpi=bad, actor=csi, points=[{"value": 12, "measured_at": at(1)}])
    assert Initiative.objects.get(pk=initiative.pk).health == KPIStatus.REGRESSED


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


def test_the_after_measurement_task_checks_every_stale_live_kpi_at_once(kpi, csi):
    """Coalescing: the task sent after one post also checks the KPIs other posts left
    stale (their own tasks then find nothing to do); a KPI of a rejected initiative and
    a KPI already checked on its data stay as they are."""
    from improvement.tasks import kpis_check_stale

    other = KPIFactory(initiative=kpi.initiative, key="other-kpi")
    ended = KPIFactory(initiative=InitiativeFactory(), key="ended-kpi")
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    force_step(ended.initiative, Step.REJECTED)
    stamp = timezone.now()
    KPI.objects.filter(pk__in=[kpi.pk, other.pk, ended.pk]).update(data_changed_at=stamp)
    assert kpis_check_stale([kpi.pk]) == 2
    other.refresh_from_db()
    ended.refresh_from_db()
    assert other.checked_version == stamp
    assert ended.checked_version != stamp
    assert kpis_check_stale([other.pk]) == 0  # nothing left stale


@pytest.mark.postgres
def test_a_verdict_never_goes_back_to_older_data(kpi, csi):
    """Two checks of a KPI in two worker processes: the one that read older data and
    commits last leaves the newer verdict in place (else the newer data stays unchecked)."""
    from improvement.services.checks import _write_verdicts

    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    kpi.refresh_from_db()
    newer, status = kpi.checked_version, kpi.status
    older = newer - dt.timedelta(seconds=1)
    late = KPICheck(
        kpi_id=kpi.pk, checked_at=timezone.now(), data_version=older, status=KPIStatus.MISSED,
        previous_status=status, measurement_count=0,
    )  # fmt: skip
    _write_verdicts([(late, None)], [], timezone.now())
    kpi.refresh_from_db()
    assert (kpi.checked_version, kpi.status) == (newer, status)
