"""Steady sweeps read only the KPIs whose next check has come or whose data changed, and
give the verdicts a full sweep gives, at every moment (evaluation.next_change).

The randomised test runs twin KPIs through the same clock: one twin of each pair checked
by due-only sweeps, the other by full sweeps, and compares them at every instant, right on
and either side of the instants a verdict can move (a point entering or leaving a window,
a target date ending) and at random instants between (the expected path overtaking the
progress). A moment computed even a microsecond too late shows as a difference.
"""

import datetime as dt
import random

import pytest
from django.utils import timezone

from improvement import evaluation
from improvement.choices import Aggregation, Step
from improvement.models import KPI, KPICheck, Measurement, Sustain
from improvement.services.checks import kpis_check, kpis_sweep_run, sweep_ranges
from improvement.services.metrics import metrics_count

from ..conftest import force_step
from ..factories import InitiativeFactory, KPIFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
#: the steps a twin pair sits in: unwatched, watched, watched until a date, paused
STEPS = [Step.ACTION, Step.SUSTAIN, Step.CLOSED, Step.ON_HOLD, Step.REVIEW]


def _definition(rng: random.Random) -> dict:
    increase = rng.random() < 0.5
    baseline_date = (T0 + dt.timedelta(days=rng.randint(-4, 6))).date()
    fields = {
        "direction": "increase" if increase else "decrease",
        "aggregation": rng.choice(Aggregation.values),
        "window_days": rng.choice([1, 2, 3, 7]),
        "baseline_value": 100.0,
        "baseline_date": baseline_date,
        "target_value": 100.0 + (1 if increase else -1) * rng.choice([5, 10, 30]),
        "target_date": baseline_date + dt.timedelta(days=rng.randint(3, 40)),
        "tolerance": rng.choice([0.0, 0.05, 0.2]),
    }
    if rng.random() < 0.08:
        fields["target_value"] = None  # no_target: nothing moves with time
    return fields


def _value(rng: random.Random, fields: dict) -> float:
    """Around the way from baseline to target, often past either end."""
    span = (fields["target_value"] or 110.0) - fields["baseline_value"]
    return fields["baseline_value"] + span * rng.uniform(-0.4, 1.4)


def _twins(rng: random.Random, pairs: int) -> tuple[list[tuple[int, int]], list[dt.datetime]]:
    """`pairs` KPIs, each twice (all first twins first, so their ids come first), with
    the same initiative step and points; and the instants at which their verdicts can
    move (for the clock to stop at)."""
    specs = []
    for _ in range(pairs):
        fields = _definition(rng)
        step = rng.choice(STEPS)
        points = sorted(
            {
                T0
                + dt.timedelta(
                    days=rng.randint(-8, 45),
                    seconds=rng.randint(0, 86399),
                    microseconds=rng.choice([0, rng.randint(0, 999999)]),
                ): _value(rng, fields)
                for _ in range(rng.randint(0, 20))
            }.items()
        )
        monitor_until = (T0 + dt.timedelta(days=rng.randint(5, 40))).date()
        specs.append((fields, step, points, monitor_until))
    twins: list[list[int]] = [[], []]
    for side in (0, 1):
        for fields, step, points, monitor_until in specs:
            initiative = force_step(InitiativeFactory(), step)
            if step == Step.CLOSED:
                Sustain.objects.create(initiative=initiative, monitor_until=monitor_until)
            kpi = KPIFactory(initiative=initiative, data_changed_at=T0 - dt.timedelta(days=30),
                             **fields)  # fmt: skip
            Measurement.objects.bulk_create(
                Measurement(kpi=kpi, measured_at=when, value=value, source="test")
                for when, value in points
            )
            twins[side].append(kpi.pk)
    moments = []
    for fields, _, points, _ in specs:
        if fields["target_value"] is not None:
            moments.append(evaluation.target_end(fields["target_date"]))
        for when, _ in points:
            moments.append(when)
            moments.append(when + dt.timedelta(days=fields["window_days"]))
    return list(zip(*twins, strict=True)), moments


def _states(pairs, side: int) -> list[tuple]:
    """Each KPI's status and number of checks (its status history), in pair order."""
    ids = [pair[side] for pair in pairs]
    status = dict(KPI.objects.filter(pk__in=ids).values_list("pk", "status"))
    checks = {pk: 0 for pk in ids}
    for kpi_id in KPICheck.objects.filter(kpi_id__in=ids).values_list("kpi_id", flat=True):
        checks[kpi_id] += 1
    return [(status[pk], checks[pk]) for pk in ids]


def _run(seed: int, pairs: int = 16, random_moments: int = 50, edge_moments: int = 40,
         first_only: bool = False):  # fmt: skip
    """Walk the clock; return (the differences found, KPIs read by the due-only sweeps, by
    the full sweeps). `first_only`: stop at the first difference."""
    rng = random.Random(seed)
    twin_pairs, edges = _twins(rng, pairs)
    last_first = twin_pairs[-1][0]
    last_second = twin_pairs[-1][1]
    start, end = T0 - dt.timedelta(days=6), T0 + dt.timedelta(days=55)
    clock = {start + (end - start) * rng.random() for _ in range(random_moments)}
    for edge in rng.sample(edges, min(edge_moments, len(edges))):
        clock.update({edge - US, edge, edge + US})
    differences, read_due, read_full = [], 0, 0
    for n, now in enumerate(sorted(clock)):
        if n % 15 == 7:  # now and then a new point, for both twins of a pair
            first, second = rng.choice(twin_pairs)
            when = now - dt.timedelta(hours=rng.uniform(0, 60))
            value = 100 + rng.uniform(-40, 40)
            for kpi_id in (first, second):
                Measurement.objects.update_or_create(
                    kpi_id=kpi_id, measured_at=when, defaults={"value": value, "source": "t"}
                )
                KPI.objects.filter(pk=kpi_id).update(data_changed_at=now)
        read_due += kpis_check(at=now, due_only=True, id_range=(0, last_first)).checked
        read_full += kpis_check(at=now, id_range=(last_first, last_second)).checked
        due, full = _states(twin_pairs, 0), _states(twin_pairs, 1)
        for pair, a, b in zip(twin_pairs, due, full, strict=True):
            if a != b:
                differences.append((now, pair, a, b))
        if differences and first_only:
            break
    return differences, read_due, read_full


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_due_only_sweeps_give_the_verdicts_of_full_sweeps_at_every_moment(seed):
    differences, read_due, read_full = _run(seed)
    assert differences == []
    # and they read far fewer KPIs: the point of it
    assert read_due < read_full / 2


@pytest.mark.parametrize("late", [dt.timedelta(microseconds=1), dt.timedelta(hours=3)])
def test_a_moment_computed_too_late_shows_as_a_difference(monkeypatch, late):
    """The comparison above can fail: with every next check reported `late`, the due-only
    sweeps miss changes a full sweep makes."""
    exact = evaluation.next_change

    def too_late(*args, **kwargs):
        moment = exact(*args, **kwargs)
        return None if moment is None else moment + late

    monkeypatch.setattr(evaluation, "next_change", too_late)
    differences = []
    for seed in (1, 2, 3):
        differences += _run(seed, first_only=True)[0]
        if differences:
            break
    assert differences


def _kpi_with_points(step=Step.ACTION, points=(), **fields):
    initiative = force_step(InitiativeFactory(), step)
    defaults = {
        "direction": "decrease", "aggregation": "mean", "window_days": 7,
        "baseline_value": 10.0, "baseline_date": (T0 - dt.timedelta(days=30)).date(),
        "target_value": 8.0, "target_date": (T0 + dt.timedelta(days=60)).date(),
    }  # fmt: skip
    kpi = KPIFactory(initiative=initiative, **(defaults | fields))
    for when, value in points:
        Measurement.objects.create(kpi=kpi, measured_at=when, value=value)
    return kpi


def test_the_check_stores_the_moment_a_point_leaves_the_window():
    oldest = T0 - dt.timedelta(days=3)
    kpi = _kpi_with_points(points=[(oldest, 9.0), (T0 - dt.timedelta(days=1), 9.5)])
    kpis_check(at=T0)
    kpi.refresh_from_db()
    assert kpi.next_check_at == oldest + dt.timedelta(days=7, microseconds=1)


def test_a_first_sweep_reads_every_kpi_and_a_steady_one_only_the_due():
    kpis = [_kpi_with_points(points=[(T0 - dt.timedelta(days=d), 9.0)]) for d in (1, 2, 3)]
    assert kpis_sweep_run(at=T0).checked == 3  # never checked: all due
    assert kpis_sweep_run(at=T0 + dt.timedelta(hours=1)).checked == 0
    # the last KPI's point (3 days old) leaves its 7-day window first, 4 days on
    later = T0 + dt.timedelta(days=4, hours=1)
    summary = kpis_sweep_run(at=later)
    assert set(summary.results) == {kpis[2].pk}
    # new data makes a KPI due whatever its moment
    Measurement.objects.create(kpi=kpis[0], measured_at=later, value=8.5)
    KPI.objects.filter(pk=kpis[0].pk).update(data_changed_at=timezone.now())
    assert set(kpis_sweep_run(at=later).results) == {kpis[0].pk}


def test_a_batch_run_twice_writes_nothing_more():
    for d in range(5):
        _kpi_with_points(points=[(T0 - dt.timedelta(days=d + 1), 9.0 + d / 10)])
    ranges = sweep_ranges(at=T0, batch_size=2)
    assert len(ranges) == 3
    low, high = ranges[1]
    first = kpis_check(at=T0, due_only=True, id_range=(low, high), batch_size=2)
    assert first.checked == 2
    checks = KPICheck.objects.count()
    again = kpis_check(at=T0, due_only=True, id_range=(low, high), batch_size=2)
    assert again.checked == 0  # nothing due any more in that range
    forced = kpis_check(at=T0, id_range=(low, high), batch_size=2)  # even read again
    assert forced.checked == 2 and forced.created == 0
    assert KPICheck.objects.count() == checks


def test_a_lost_batch_is_checked_by_the_next_sweep():
    kpis = [_kpi_with_points(points=[(T0 - dt.timedelta(days=1), 9.0)]) for _ in range(4)]
    ranges = sweep_ranges(at=T0, batch_size=2)
    low, high = ranges[0]
    kpis_check(at=T0, due_only=True, id_range=(low, high), batch_size=2)  # the other is lost
    summary = kpis_sweep_run(at=T0 + dt.timedelta(minutes=15), batch_size=2)
    assert set(summary.results) == {k.pk for k in kpis[2:]}


@pytest.mark.parametrize("batch_size", [4, 12])
def test_a_sweep_batch_takes_a_fixed_number_of_queries(django_assert_num_queries, batch_size):
    """Per batch of a fanned-out sweep, whatever its size: the read (on SQLite three
    statements: KPIs, aggregates, medians), and when every status changes the writes
    (a savepoint pair, the checks' upsert, the verdicts, the KPIs' names and the events'
    insert, the health's read and update); plus the two metrics counters."""
    from django.db import connection

    for n in range(batch_size):
        _kpi_with_points(
            aggregation="median", points=[(T0 - dt.timedelta(days=1), 9.0 - n / batch_size)]
        )
    (low, high), *_ = sweep_ranges(at=T0, batch_size=batch_size)
    metrics_count(kpi_checks=1, kpi_status_changes=1)  # the counters' rows exist
    read = 3 if connection.vendor == "sqlite" else 1
    # + the dispatch of the events to webhooks, run here at once (run_on_commit): a
    # savepoint pair, the events, the webhooks, marking them dispatched
    # + the notifications those events route (a savepoint pair, the events' initiatives,
    # their people, the preferences, the insert, the email scheduling): 7
    with django_assert_num_queries(read + 8 + 5 + 2 + 7):
        first = kpis_check(at=T0, due_only=True, id_range=(low, high), batch_size=batch_size)
    assert first.checked == batch_size and first.status_changes == batch_size
    # a steady batch: the read alone, and the counter
    with django_assert_num_queries(read + 1):
        steady = kpis_check(at=T0, id_range=(low, high), batch_size=batch_size)
    assert steady.checked == batch_size and steady.created == 0


def test_leaving_the_watched_steps_makes_the_kpis_due(initiative_at, team_member):
    """A held achievement depends on being watched, which no moment foresees: a move into
    or out of sustain/closed marks the initiative's KPIs changed, so they are checked."""
    from improvement import services

    initiative = initiative_at(Step.SUSTAIN)
    kpi = initiative.kpis.get()
    kpis_check(kpi_ids=[kpi.pk])
    kpi.refresh_from_db()
    assert kpi.checked_version is not None
    before = kpi.data_changed_at
    services.initiative_transition(
        initiative=initiative, to=Step.ON_HOLD, actor=team_member, reason="Change freeze.",
        resume_by=(timezone.now() + dt.timedelta(days=20)).date().isoformat(),
    )  # fmt: skip
    kpi.refresh_from_db()
    assert kpi.data_changed_at != before
    assert kpi.checked_version == kpi.data_changed_at  # checked after commit
