"""Table tests of the KPI maths (improvement.evaluation): pure, no database."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from improvement.choices import SEVERITY, Aggregation, Direction, Health, KPIStatus
from improvement.evaluation import (
    CheckResult,
    KPIDefinition,
    aggregate,
    baseline_start,
    classify,
    compute_expected,
    compute_progress,
    evaluate,
    expected_path,
    target_end,
    target_from_change_pct,
    target_on_better_side,
    window_bounds,
    worst_status,
)

BASELINE_DATE = date(2024, 1, 1)
TARGET_DATE = date(2024, 1, 10)
#: the baseline date starts here ...
START = datetime(2024, 1, 1, tzinfo=UTC)
#: ... and the target date ends here: 10 whole days later
END = datetime(2024, 1, 11, tzinfo=UTC)
#: half way: expected progress is exactly 0.5
MID = datetime(2024, 1, 6, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)

#: a tolerance that is exact in binary, so boundaries are exact
TOL = 0.25

#: (direction, baseline, target) for both directions
DIRECTIONS = [
    pytest.param(Direction.INCREASE, 0.0, 100.0, id="increase"),
    pytest.param(Direction.DECREASE, 100.0, 60.0, id="decrease"),
]


def make_defn(**overrides) -> KPIDefinition:
    """An increasing KPI from 0 on 2024-01-01 to 100 on 2024-01-10, tolerance 0.25."""
    fields = {
        "direction": Direction.INCREASE,
        "aggregation": Aggregation.LATEST,
        "window_days": None,
        "baseline_value": 0.0,
        "baseline_date": BASELINE_DATE,
        "target_value": 100.0,
        "target_date": TARGET_DATE,
        "tolerance": TOL,
    }
    fields.update(overrides)
    return KPIDefinition(**fields)


def value_at(progress: float, baseline: float, target: float) -> float:
    """The current value that gives ``progress`` between baseline and target."""
    return baseline + progress * (target - baseline)


# --- dates become instants -----------------------------------------------------------


def test_baseline_start_is_midnight_utc_at_the_start_of_the_day():
    assert baseline_start(date(2024, 3, 5)) == datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
    assert baseline_start(date(2024, 3, 5)).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("target_date", "end"),
    [
        pytest.param(date(2024, 3, 5), datetime(2024, 3, 6, tzinfo=UTC), id="mid-month"),
        pytest.param(date(2024, 2, 29), datetime(2024, 3, 1, tzinfo=UTC), id="leap-day"),
        pytest.param(date(2024, 12, 31), datetime(2025, 1, 1, tzinfo=UTC), id="year-end"),
    ],
)
def test_target_end_is_midnight_utc_after_the_target_date(target_date, end):
    assert target_end(target_date) == end


# --- window bounds -------------------------------------------------------------------


AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "lower"),
    [
        pytest.param(
            {"aggregation": Aggregation.MEAN, "window_days": 7},
            AT - timedelta(days=7),
            id="window-after-baseline-wins",
        ),
        pytest.param(
            {"aggregation": Aggregation.SUM, "window_days": 365},
            START,
            id="baseline-after-window-wins",
        ),
        pytest.param(
            {"aggregation": Aggregation.MEAN, "window_days": None},
            START,
            id="no-window-is-baseline",
        ),
        pytest.param(
            {"aggregation": Aggregation.LATEST, "window_days": 7},
            START,
            id="latest-ignores-window",
        ),
        pytest.param(
            {"aggregation": Aggregation.COUNT, "window_days": 7, "baseline_date": None},
            AT - timedelta(days=7),
            id="no-baseline-date-window-only",
        ),
        pytest.param(
            {"aggregation": Aggregation.MEAN, "window_days": None, "baseline_date": None},
            None,
            id="no-baseline-date-no-window-unbounded",
        ),
        pytest.param(
            {"aggregation": Aggregation.LATEST, "window_days": 7, "baseline_date": None},
            None,
            id="latest-no-baseline-date-unbounded",
        ),
    ],
)
def test_window_bounds(overrides, lower):
    assert window_bounds(make_defn(**overrides), AT) == (lower, AT)


def test_window_bounds_rejects_a_naive_instant():
    with pytest.raises(ValueError, match="timezone-aware"):
        window_bounds(make_defn(), datetime(2024, 3, 1, 12, 0))


# --- aggregation ---------------------------------------------------------------------


#: ordered by time ascending, as the caller passes them
VALUES = [3.0, 1.0, 2.0, 10.0]


@pytest.mark.parametrize(
    ("aggregation", "values", "expected"),
    [
        pytest.param(Aggregation.LATEST, VALUES, 10.0, id="latest-is-last"),
        pytest.param(Aggregation.MEAN, VALUES, 4.0, id="mean"),
        pytest.param(Aggregation.MEDIAN, VALUES, 2.5, id="median-even"),
        pytest.param(Aggregation.MEDIAN, [5.0, 1.0, 3.0], 3.0, id="median-odd"),
        pytest.param(Aggregation.SUM, VALUES, 16.0, id="sum"),
        pytest.param(Aggregation.MIN, VALUES, 1.0, id="min"),
        pytest.param(Aggregation.MAX, VALUES, 10.0, id="max"),
        pytest.param(Aggregation.COUNT, VALUES, 4.0, id="count"),
        pytest.param(Aggregation.LATEST, [7.5], 7.5, id="latest-single"),
        pytest.param(Aggregation.MEAN, [-2.0, 2.0], 0.0, id="mean-to-zero"),
        pytest.param(Aggregation.SUM, [0.1] * 10, 1.0, id="sum-exact"),
        pytest.param(Aggregation.MIN, [-5.0, -7.0], -7.0, id="min-negative"),
        pytest.param(Aggregation.COUNT, [0.0], 1.0, id="count-of-a-zero"),
    ],
)
def test_aggregate(aggregation, values, expected):
    result = aggregate(values, aggregation)
    assert isinstance(result, float)
    assert result == expected


@pytest.mark.parametrize("aggregation", list(Aggregation))
def test_aggregate_of_no_values_is_none(aggregation):
    assert aggregate([], aggregation) is None


def test_aggregate_rejects_an_unknown_aggregation():
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate([1.0], "mode")


# --- progress and expected -----------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "baseline", "target", "progress"),
    [
        pytest.param(50.0, 0.0, 100.0, 0.5, id="increase-half"),
        pytest.param(0.0, 0.0, 100.0, 0.0, id="increase-at-baseline"),
        pytest.param(150.0, 0.0, 100.0, 1.5, id="increase-overshoot"),
        pytest.param(-20.0, 0.0, 100.0, -0.2, id="increase-worse"),
        pytest.param(80.0, 100.0, 60.0, 0.5, id="decrease-half"),
        pytest.param(60.0, 100.0, 60.0, 1.0, id="decrease-at-target"),
        pytest.param(40.0, 100.0, 60.0, 1.5, id="decrease-overshoot"),
        pytest.param(108.0, 100.0, 60.0, -0.2, id="decrease-worse"),
        pytest.param(None, 0.0, 100.0, None, id="no-current"),
        pytest.param(50.0, None, 100.0, None, id="no-baseline"),
        pytest.param(50.0, 0.0, None, None, id="no-target"),
        pytest.param(50.0, 100.0, 100.0, None, id="target-equals-baseline"),
    ],
)
def test_compute_progress(current, baseline, target, progress):
    result = compute_progress(current, baseline, target)
    if progress is None:
        assert result is None
    else:
        assert result == pytest.approx(progress)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(START - 30 * DAY, 0.0, id="long-before-baseline-clamped"),
        pytest.param(START - US, 0.0, id="just-before-baseline-clamped"),
        pytest.param(START, 0.0, id="at-baseline-start"),
        pytest.param(START + DAY, 0.1, id="one-day-in"),
        pytest.param(MID, 0.5, id="half-way"),
        pytest.param(END, 1.0, id="at-target-end"),
        pytest.param(END + 30 * DAY, 1.0, id="after-target-clamped"),
        pytest.param(
            datetime(2024, 1, 6, 2, 0, tzinfo=timezone(timedelta(hours=2))),
            0.5,
            id="other-timezone-same-instant",
        ),
    ],
)
def test_compute_expected(at, expected):
    assert compute_expected(at, BASELINE_DATE, TARGET_DATE) == pytest.approx(expected)


def test_compute_expected_just_before_target_end_is_below_one():
    expected = compute_expected(END - US, BASELINE_DATE, TARGET_DATE)
    assert 0.999 < expected < 1.0


@pytest.mark.parametrize(
    ("baseline_date", "target_date"),
    [
        pytest.param(None, TARGET_DATE, id="no-baseline-date"),
        pytest.param(BASELINE_DATE, None, id="no-target-date"),
        pytest.param(date(2024, 1, 10), date(2024, 1, 1), id="target-before-baseline"),
    ],
)
def test_compute_expected_is_none_without_a_time_span(baseline_date, target_date):
    assert compute_expected(MID, baseline_date, target_date) is None


def test_compute_expected_counts_a_same_day_target_whole():
    noon = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert compute_expected(noon, BASELINE_DATE, BASELINE_DATE) == 0.5


# --- the status ladder ---------------------------------------------------------------


@pytest.mark.parametrize(("direction", "baseline", "target"), DIRECTIONS)
@pytest.mark.parametrize(
    ("progress", "at", "status"),
    [
        pytest.param(1.0, MID, KPIStatus.ACHIEVED, id="achieved-at-exactly-1"),
        pytest.param(1.5, MID, KPIStatus.ACHIEVED, id="achieved-beyond-target"),
        pytest.param(1.0, END + 30 * DAY, KPIStatus.ACHIEVED, id="achieved-beats-missed"),
        pytest.param(0.99, MID, KPIStatus.ON_TRACK, id="just-below-1-not-achieved"),
        pytest.param(0.8, END, KPIStatus.MISSED, id="missed-at-exactly-target-end"),
        pytest.param(0.8, END - US, KPIStatus.ON_TRACK, id="on-track-1us-before-target-end"),
        pytest.param(0.5, END - US, KPIStatus.AT_RISK, id="at-risk-1us-before-target-end"),
        pytest.param(0.8, END + 30 * DAY, KPIStatus.MISSED, id="missed-after-target"),
        pytest.param(-1.0, END, KPIStatus.MISSED, id="missed-beats-regressed"),
        pytest.param(-0.26, MID, KPIStatus.REGRESSED, id="regressed-below-minus-tolerance"),
        pytest.param(-1.0, START, KPIStatus.REGRESSED, id="regressed-at-baseline-start"),
        pytest.param(-0.25, START, KPIStatus.ON_TRACK, id="exactly-minus-tolerance-not-regressed"),
        pytest.param(-0.25, MID, KPIStatus.AT_RISK, id="exactly-minus-tolerance-behind"),
        pytest.param(
            0.25, MID, KPIStatus.ON_TRACK, id="on-track-at-exactly-expected-minus-tolerance"
        ),
        pytest.param(0.24, MID, KPIStatus.AT_RISK, id="at-risk-just-below-expected-minus-tol"),
        pytest.param(0.5, MID, KPIStatus.ON_TRACK, id="on-track-on-the-line"),
        pytest.param(0.0, START - DAY, KPIStatus.ON_TRACK, id="on-track-before-baseline"),
        pytest.param(0.0, MID, KPIStatus.AT_RISK, id="at-risk-no-progress-half-way"),
    ],
)
def test_classify_status_ladder(direction, baseline, target, progress, at, status):
    defn = make_defn(direction=direction, baseline_value=baseline, target_value=target)
    current = value_at(progress, baseline, target)

    result = classify(defn, current=current, count=3, at=at)

    assert result.status == status
    assert result.current == current
    assert result.progress == pytest.approx(progress)
    assert result.measurement_count == 3


def test_classify_returns_every_figure():
    result = classify(make_defn(), current=40.0, count=2, at=MID)
    assert result == CheckResult(
        current=40.0, progress=0.4, expected=0.5, status=KPIStatus.ON_TRACK, measurement_count=2
    )


@pytest.mark.parametrize(
    ("progress", "status"),
    [
        pytest.param(0.5 - 0.05, KPIStatus.ON_TRACK, id="on-track-at-expected-minus-5pct"),
        pytest.param(0.44, KPIStatus.AT_RISK, id="at-risk-below-expected-minus-5pct"),
        pytest.param(-0.04, KPIStatus.AT_RISK, id="minus-4pct-not-regressed"),
        pytest.param(-0.06, KPIStatus.REGRESSED, id="minus-6pct-regressed"),
    ],
)
def test_classify_uses_the_default_tolerance(progress, status):
    defn = make_defn()._replace(tolerance=KPIDefinition("increase", "latest").tolerance)
    assert defn.tolerance == 0.05
    result = classify(defn, current=progress * 100.0, count=1, at=MID)
    assert result.status == status


@pytest.mark.parametrize(
    ("overrides", "current", "count", "status"),
    [
        pytest.param({"baseline_value": None}, 50.0, 1, KPIStatus.NO_BASELINE, id="no-bl-value"),
        pytest.param({"baseline_date": None}, 50.0, 1, KPIStatus.NO_BASELINE, id="no-bl-date"),
        pytest.param(
            {"baseline_value": None, "target_value": None},
            50.0,
            1,
            KPIStatus.NO_BASELINE,
            id="no-baseline-beats-no-target",
        ),
        pytest.param({"target_value": None}, 50.0, 1, KPIStatus.NO_TARGET, id="no-tg-value"),
        pytest.param({"target_date": None}, 50.0, 1, KPIStatus.NO_TARGET, id="no-tg-date"),
        pytest.param(
            {"target_value": None}, None, 0, KPIStatus.NO_TARGET, id="no-target-beats-no-data"
        ),
        pytest.param({}, None, 0, KPIStatus.NO_DATA, id="no-data"),
        pytest.param({}, None, 3, KPIStatus.NO_DATA, id="no-data-current-none"),
        pytest.param({}, 50.0, 0, KPIStatus.NO_DATA, id="no-data-count-zero"),
    ],
)
def test_classify_missing_inputs(overrides, current, count, status):
    result = classify(make_defn(**overrides), current=current, count=count, at=END + DAY)
    assert result.status == status
    assert result.progress is None


def test_classify_no_data_beats_missed_and_keeps_expected():
    result = classify(make_defn(), current=None, count=0, at=END + DAY)
    assert result == CheckResult(
        current=None, progress=None, expected=1.0, status=KPIStatus.NO_DATA, measurement_count=0
    )


def test_classify_rejects_a_naive_instant():
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(make_defn(), current=1.0, count=1, at=datetime(2024, 1, 5))


# --- reverted ------------------------------------------------------------------------


@pytest.mark.parametrize(("direction", "baseline", "target"), DIRECTIONS)
@pytest.mark.parametrize(
    ("watched", "previous", "progress", "at", "status"),
    [
        pytest.param(
            True, KPIStatus.ACHIEVED, 1.0, END + DAY, KPIStatus.ACHIEVED, id="watched-stays"
        ),
        pytest.param(
            True, KPIStatus.ACHIEVED, 0.75, MID, KPIStatus.ACHIEVED, id="hold-at-1-minus-tol"
        ),
        pytest.param(
            True, KPIStatus.ACHIEVED, 0.9, END + DAY, KPIStatus.ACHIEVED, id="hold-in-band"
        ),
        pytest.param(
            True, KPIStatus.ACHIEVED, 0.74, MID, KPIStatus.REVERTED, id="reverted-below-band"
        ),
        pytest.param(
            True, KPIStatus.ACHIEVED, 0.5, END + DAY, KPIStatus.REVERTED, id="reverted-not-missed"
        ),
        pytest.param(
            True, KPIStatus.ACHIEVED, -1.0, MID, KPIStatus.REVERTED, id="reverted-not-regressed"
        ),
        pytest.param(
            True, KPIStatus.REVERTED, 0.5, MID, KPIStatus.REVERTED, id="reverted-stays-reverted"
        ),
        pytest.param(
            True, KPIStatus.REVERTED, 0.9, MID, KPIStatus.REVERTED, id="reverted-holds-in-band"
        ),
        pytest.param(
            True, KPIStatus.REVERTED, 1.0, MID, KPIStatus.ACHIEVED, id="reverted-recovers-at-1"
        ),
        pytest.param(
            False, KPIStatus.ACHIEVED, 0.5, MID, KPIStatus.ON_TRACK, id="not-watched-plain-ladder"
        ),
        pytest.param(
            False, KPIStatus.ACHIEVED, 0.5, END, KPIStatus.MISSED, id="not-watched-can-miss"
        ),
        pytest.param(
            True, KPIStatus.ON_TRACK, 0.5, MID, KPIStatus.ON_TRACK, id="watched-never-achieved"
        ),
        pytest.param(True, None, 0.5, END, KPIStatus.MISSED, id="watched-no-previous"),
        pytest.param(True, None, 1.0, MID, KPIStatus.ACHIEVED, id="watched-first-achieved"),
    ],
)
def test_classify_reverted_rule(
    direction, baseline, target, watched, previous, progress, at, status
):
    defn = make_defn(direction=direction, baseline_value=baseline, target_value=target)
    result = classify(
        defn,
        current=value_at(progress, baseline, target),
        count=1,
        at=at,
        watched=watched,
        previous_status=previous,
    )
    assert result.status == status


@pytest.mark.parametrize(
    ("current", "status"),
    [
        pytest.param(96.0, KPIStatus.ACHIEVED, id="0.96-holds"),
        pytest.param(94.0, KPIStatus.REVERTED, id="0.94-reverts"),
    ],
)
def test_classify_reverted_band_with_default_tolerance(current, status):
    defn = make_defn()._replace(tolerance=0.05)
    result = classify(
        defn, current=current, count=1, at=MID, watched=True, previous_status="achieved"
    )
    assert result.status == status


def test_classify_watched_achieved_without_data_is_no_data():
    result = classify(
        make_defn(), current=None, count=0, at=MID, watched=True, previous_status="achieved"
    )
    assert result.status == KPIStatus.NO_DATA


# --- evaluate: windows, ordering, end to end -----------------------------------------


def count_defn(window_days: int | None = 7) -> KPIDefinition:
    return make_defn(aggregation=Aggregation.COUNT, window_days=window_days)


@pytest.mark.parametrize(
    ("defn", "measured_at", "counts"),
    [
        pytest.param(count_defn(7), AT - timedelta(days=7), True, id="exactly-window-lower"),
        pytest.param(count_defn(7), AT - timedelta(days=7) - US, False, id="before-window"),
        pytest.param(count_defn(7), AT, True, id="exactly-at"),
        pytest.param(count_defn(7), AT + US, False, id="after-at"),
        pytest.param(count_defn(365), START, True, id="exactly-baseline-start"),
        pytest.param(count_defn(365), START - US, False, id="before-baseline-start"),
        pytest.param(count_defn(None), START, True, id="no-window-baseline-start"),
        pytest.param(count_defn(None), START - US, False, id="no-window-before-baseline"),
        pytest.param(
            make_defn(aggregation=Aggregation.LATEST, window_days=7),
            AT - timedelta(days=30),
            True,
            id="latest-ignores-window",
        ),
        pytest.param(
            make_defn(aggregation=Aggregation.LATEST, window_days=7),
            START - US,
            False,
            id="latest-respects-baseline",
        ),
        pytest.param(
            make_defn(aggregation=Aggregation.LATEST, window_days=7),
            AT + US,
            False,
            id="latest-respects-at",
        ),
    ],
)
def test_evaluate_window_edges(defn, measured_at, counts):
    inside = AT - timedelta(hours=1)
    result = evaluate(defn, [(measured_at, 42.0), (inside, 7.0)], at=AT)
    assert result.measurement_count == (2 if counts else 1)
    if defn.aggregation == Aggregation.COUNT:
        assert result.current == (2.0 if counts else 1.0)


def test_evaluate_latest_takes_the_latest_in_time_not_in_the_list():
    points = [
        (datetime(2024, 1, 5, tzinfo=UTC), 80.0),
        (datetime(2024, 1, 2, tzinfo=UTC), 10.0),
        (datetime(2024, 1, 4, tzinfo=UTC), 40.0),
    ]
    result = evaluate(make_defn(), points, at=MID)
    assert result == CheckResult(
        current=80.0, progress=0.8, expected=0.5, status=KPIStatus.ON_TRACK, measurement_count=3
    )


def test_evaluate_latest_ignores_the_window_end_to_end():
    defn = make_defn(aggregation=Aggregation.LATEST, window_days=1)
    result = evaluate(defn, [(START + DAY, 30.0)], at=MID)
    assert result.current == 30.0
    assert result.measurement_count == 1


@pytest.mark.parametrize(
    ("aggregation", "current"),
    [
        pytest.param(Aggregation.LATEST, 60.0, id="latest"),
        pytest.param(Aggregation.MEAN, 40.0, id="mean"),
        pytest.param(Aggregation.MEDIAN, 40.0, id="median"),
        pytest.param(Aggregation.SUM, 120.0, id="sum"),
        pytest.param(Aggregation.MIN, 20.0, id="min"),
        pytest.param(Aggregation.MAX, 60.0, id="max"),
        pytest.param(Aggregation.COUNT, 3.0, id="count"),
    ],
)
def test_evaluate_every_aggregation_over_a_window(aggregation, current):
    # given a 2-day window at MID: the point 3 days before falls out, one before baseline too
    defn = make_defn(aggregation=aggregation, window_days=2)
    points = [
        (START - DAY, 1000.0),  # before the baseline date
        (MID - 3 * DAY, 500.0),  # outside the window (except for latest)
        (MID - 2 * DAY, 20.0),  # exactly the window's lower bound
        (MID - DAY, 40.0),
        (MID, 60.0),  # exactly at
        (MID + US, 9999.0),  # after at
    ]
    result = evaluate(defn, points, at=MID)
    assert result.current == current
    expected_count = 4 if aggregation == Aggregation.LATEST else 3
    assert result.measurement_count == expected_count


def test_evaluate_without_counting_points_is_no_data():
    result = evaluate(make_defn(), [(START - US, 50.0), (MID + US, 50.0)], at=MID)
    assert result.status == KPIStatus.NO_DATA
    assert result.current is None
    assert result.measurement_count == 0


@pytest.mark.parametrize(
    ("direction", "baseline", "target", "values", "status", "progress"),
    [
        pytest.param(
            Direction.INCREASE, 50.0, 90.0, [60.0, 80.0], KPIStatus.ON_TRACK, 0.5, id="incr-on"
        ),
        pytest.param(
            Direction.INCREASE, 50.0, 90.0, [40.0, 44.0], KPIStatus.REGRESSED, -0.2, id="incr-reg"
        ),
        pytest.param(
            Direction.DECREASE, 90.0, 50.0, [80.0, 60.0], KPIStatus.ON_TRACK, 0.5, id="decr-on"
        ),
        pytest.param(
            Direction.DECREASE, 90.0, 50.0, [96.0, 100.0], KPIStatus.REGRESSED, -0.2, id="decr-reg"
        ),
        pytest.param(
            Direction.DECREASE, 90.0, 50.0, [50.0, 50.0], KPIStatus.ACHIEVED, 1.0, id="decr-ach"
        ),
        pytest.param(
            Direction.DECREASE, 90.0, 50.0, [85.0, 83.0], KPIStatus.AT_RISK, 0.15, id="decr-risk"
        ),
    ],
)
def test_evaluate_mean_both_directions(direction, baseline, target, values, status, progress):
    defn = make_defn(
        direction=direction,
        aggregation=Aggregation.MEAN,
        window_days=30,
        baseline_value=baseline,
        target_value=target,
        tolerance=0.05,
    )
    points = [(MID - DAY, values[0]), (MID - timedelta(hours=1), values[1])]
    result = evaluate(defn, points, at=MID)
    assert result.status == status
    assert result.progress == pytest.approx(progress)
    assert result.expected == 0.5


def test_evaluate_passes_the_reverted_rule_through():
    result = evaluate(
        make_defn(), [(MID, 50.0)], at=MID, watched=True, previous_status=KPIStatus.ACHIEVED
    )
    assert result.status == KPIStatus.REVERTED


# --- initiative health ---------------------------------------------------------------


SEVERITY_PAIRS = [
    pytest.param(worse, better, id=f"{worse.value}-over-{better.value}")
    for i, worse in enumerate(SEVERITY)
    for better in SEVERITY[i + 1 :]
]


@pytest.mark.parametrize(("worse", "better"), SEVERITY_PAIRS)
def test_worst_status_prefers_the_more_severe(worse, better):
    assert worst_status([better, worse]) == worse
    assert worst_status([worse, better]) == worse


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        pytest.param([], "none", id="empty-is-none"),
        pytest.param(iter([]), Health.NONE, id="empty-iterator-is-none"),
        pytest.param(["achieved"], "achieved", id="single"),
        pytest.param(["achieved", "on_track", "achieved"], "on_track", id="on-track-over-achieved"),
        pytest.param(["on_track", "no_baseline"], "no_baseline", id="no-baseline-over-on-track"),
        pytest.param(["no_data", "at_risk"], "at_risk", id="at-risk-over-no-data"),
        pytest.param((s for s in ["missed", "regressed", "achieved"]), "regressed", id="generator"),
        pytest.param(list(KPIStatus), "reverted", id="all-reverted-first"),
    ],
)
def test_worst_status(statuses, worst):
    result = worst_status(statuses)
    assert result == worst
    assert type(result) is str


# --- targets and the chart -----------------------------------------------------------


def test_expected_path_is_the_line_from_a_to_b():
    assert expected_path(make_defn()) == [(BASELINE_DATE, 0.0), (TARGET_DATE, 100.0)]


@pytest.mark.parametrize(
    "missing", ["baseline_value", "baseline_date", "target_value", "target_date"]
)
def test_expected_path_is_empty_when_incomplete(missing):
    assert expected_path(make_defn(**{missing: None})) == []


@pytest.mark.parametrize(
    ("baseline", "pct", "target"),
    [
        pytest.param(200.0, -15.0, 170.0, id="minus-15pct"),
        pytest.param(200.0, 10.0, 220.0, id="plus-10pct"),
        pytest.param(80.0, 0.0, 80.0, id="zero"),
        pytest.param(50.0, -100.0, 0.0, id="minus-100pct"),
        pytest.param(4.0, 250.0, 14.0, id="plus-250pct"),
        pytest.param(-20.0, 50.0, -30.0, id="negative-baseline"),
    ],
)
def test_target_from_change_pct(baseline, pct, target):
    assert target_from_change_pct(baseline, pct) == pytest.approx(target)


@pytest.mark.parametrize(
    ("direction", "baseline", "target", "better"),
    [
        pytest.param(Direction.INCREASE, 100.0, 120.0, True, id="increase-above"),
        pytest.param(Direction.INCREASE, 100.0, 80.0, False, id="increase-below"),
        pytest.param(Direction.INCREASE, 100.0, 100.0, False, id="increase-equal"),
        pytest.param(Direction.DECREASE, 100.0, 80.0, True, id="decrease-below"),
        pytest.param(Direction.DECREASE, 100.0, 120.0, False, id="decrease-above"),
        pytest.param(Direction.DECREASE, 100.0, 100.0, False, id="decrease-equal"),
        pytest.param("increase", -5.0, -1.0, True, id="plain-string-negative-values"),
    ],
)
def test_target_on_better_side(direction, baseline, target, better):
    assert target_on_better_side(direction, baseline, target) is better


def test_target_on_better_side_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="unknown direction"):
        target_on_better_side("sideways", 1.0, 2.0)
