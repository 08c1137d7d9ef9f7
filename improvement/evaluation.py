"""The KPI maths of SPEC §3 as pure functions: no ORM, no database, no clock.

Everything here takes plain values (a :class:`KPIDefinition`, floats, timezone-aware
datetimes) and returns plain values, so it can be table-tested and used as the
reference for the set-based sweep in ``selectors``/``services``.

How dates become instants
-------------------------
A KPI's ``baseline_date`` and ``target_date`` are calendar dates, read in UTC:

* the baseline date starts counting at **midnight UTC at its start**
  (:func:`baseline_start`);
* the target date counts **whole**: it ends at midnight UTC at the start of the next day
  (:func:`target_end`), so a measurement taken at 23:59 on the target date is still on
  time and the target is *missed* only from ``target_end`` on.

The instants ``at`` passed in must be timezone-aware.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from improvement.choices import SEVERITY, Aggregation, Direction, Health, KPIStatus

#: statuses after which a watched KPI is held to its achievement (SPEC §3, reverted)
_WATCHED_PREVIOUS = (KPIStatus.ACHIEVED, KPIStatus.REVERTED)


class KPIDefinition(NamedTuple):
    """What a check needs to know about a KPI: its direction, aggregation and points A, B.

    (A named tuple: immutable, and cheap to make 100 000 times a sweep.)
    """

    direction: str
    aggregation: str
    window_days: int | None = None
    baseline_value: float | None = None
    baseline_date: date | None = None
    target_value: float | None = None
    target_date: date | None = None
    tolerance: float = 0.05


class CheckResult(NamedTuple):
    """The outcome of a KPI check at one instant (the stored fields of a KPI check)."""

    current: float | None
    progress: float | None
    expected: float | None
    status: str
    measurement_count: int


# --- dates and windows ---------------------------------------------------------------


@lru_cache(maxsize=4096)  # pure, and a sweep asks for the same few hundred dates 100 000 times
def baseline_start(d: date) -> datetime:
    """Return the instant the baseline date starts: midnight UTC at the start of ``d``."""
    return datetime.combine(d, time.min, tzinfo=UTC)


@lru_cache(maxsize=4096)
def target_end(d: date) -> datetime:
    """Return the instant the target date ends: midnight UTC at the start of the next day.

    The target date counts whole; a check at or after this instant is past the target.
    """
    return datetime.combine(d + timedelta(days=1), time.min, tzinfo=UTC)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be a timezone-aware datetime")


def window_bounds(defn: KPIDefinition, at: datetime) -> tuple[datetime | None, datetime]:
    """Return the ``(lower, upper)`` instants, both inclusive, of measurements that count.

    ``upper`` is ``at``. ``lower`` is the start of the baseline date, raised to
    ``at - window_days`` for windowed aggregations (every aggregation but ``latest``, which
    ignores the window). ``lower`` is ``None`` when there is no bound at all (no baseline
    date and no window applied).
    """
    _require_aware(at)
    lower = baseline_start(defn.baseline_date) if defn.baseline_date is not None else None
    if defn.aggregation != Aggregation.LATEST and defn.window_days is not None:
        window_lower = at - timedelta(days=defn.window_days)
        lower = window_lower if lower is None else max(lower, window_lower)
    return lower, at


# --- the figures ---------------------------------------------------------------------


def aggregate(values: Sequence[float], aggregation: str) -> float | None:
    """Return the current value of a KPI from its counting measurement values.

    ``values`` are ordered by time ascending (``latest`` takes the last). Every
    aggregation, ``count`` included, returns ``None`` for no values: there is no data.
    Raises ``ValueError`` for an unknown aggregation.
    """
    if aggregation not in Aggregation.values:
        raise ValueError(f"unknown aggregation: {aggregation!r}")
    if not values:
        return None
    floats = [float(v) for v in values]
    match aggregation:
        case Aggregation.LATEST:
            return floats[-1]
        case Aggregation.MEAN:
            return statistics.fmean(floats)
        case Aggregation.MEDIAN:
            return float(statistics.median(floats))
        case Aggregation.SUM:
            return math.fsum(floats)
        case Aggregation.MIN:
            return min(floats)
        case Aggregation.MAX:
            return max(floats)
        case _:  # Aggregation.COUNT
            return float(len(floats))


def compute_progress(
    current: float | None, baseline_value: float | None, target_value: float | None
) -> float | None:
    """Return ``(current - baseline) / (target - baseline)``: 0 at point A, 1 at point B.

    The denominator carries the KPI's direction, so progress is positive for movement
    towards the target whichever way is better. ``None`` if any figure is missing or the
    target equals the baseline.
    """
    if current is None or baseline_value is None or target_value is None:
        return None
    span = float(target_value) - float(baseline_value)
    if span == 0:
        return None
    return (float(current) - float(baseline_value)) / span


def compute_expected(
    at: datetime, baseline_date: date | None, target_date: date | None
) -> float | None:
    """Return the share of the time from A to B elapsed at ``at``, clamped to ``[0, 1]``.

    Time runs from :func:`baseline_start` of the baseline date to :func:`target_end` of the
    target date. ``None`` if a date is missing or the target does not end after the
    baseline starts.
    """
    if baseline_date is None or target_date is None:
        return None
    _require_aware(at)
    start = baseline_start(baseline_date)
    span = target_end(target_date) - start
    if span <= timedelta(0):
        return None
    return min(1.0, max(0.0, (at - start) / span))


# --- the verdict ---------------------------------------------------------------------


def classify(
    defn: KPIDefinition,
    *,
    current: float | None,
    count: int,
    at: datetime,
    watched: bool = False,
    previous_status: str | None = None,
) -> CheckResult:
    """Return the check result for a current value, following the SPEC §3 status ladder.

    In order: ``no_baseline`` (baseline value or date missing), ``no_target`` (target
    value or date missing), ``no_data`` (no measurement counts), ``achieved``
    (progress >= 1), ``missed`` (``at`` >= :func:`target_end`), ``regressed``
    (progress < -tolerance), ``on_track`` (progress >= expected - tolerance), else
    ``at_risk``.

    Reverted: when ``watched`` (the initiative is in sustain or closed) and the previous
    status was ``achieved`` or ``reverted``, the KPI is held to its achievement instead:
    progress >= 1 gives ``achieved``; below ``1 - tolerance`` gives ``reverted`` (ahead of
    ``missed`` and ``regressed``); in the band between, the previous status is kept
    (hysteresis), so an achieved KPI stays achieved and a reverted one must reach 1 again.
    """
    _require_aware(at)
    expected = compute_expected(at, defn.baseline_date, defn.target_date)

    def result(status: str, progress: float | None = None) -> CheckResult:
        return CheckResult(
            current=current,
            progress=progress,
            expected=expected,
            status=status,
            measurement_count=count,
        )

    if defn.baseline_value is None or defn.baseline_date is None:
        return result(KPIStatus.NO_BASELINE)
    if defn.target_value is None or defn.target_date is None:
        return result(KPIStatus.NO_TARGET)
    if count == 0 or current is None:
        return result(KPIStatus.NO_DATA)

    progress = compute_progress(current, defn.baseline_value, defn.target_value)
    if progress is None:
        # target == baseline: validation forbids it; there is no way to measure progress
        return result(KPIStatus.NO_TARGET)
    tolerance = float(defn.tolerance)

    if watched and previous_status in _WATCHED_PREVIOUS:
        if progress >= 1:
            return result(KPIStatus.ACHIEVED, progress)
        if progress >= 1 - tolerance:
            return result(KPIStatus(previous_status), progress)
        return result(KPIStatus.REVERTED, progress)

    if progress >= 1:
        return result(KPIStatus.ACHIEVED, progress)
    if at >= target_end(defn.target_date):
        return result(KPIStatus.MISSED, progress)
    if progress < -tolerance:
        return result(KPIStatus.REGRESSED, progress)
    # expected is None only for a target date before the baseline date (invalid)
    if expected is not None and progress >= expected - tolerance:
        return result(KPIStatus.ON_TRACK, progress)
    return result(KPIStatus.AT_RISK, progress)


#: how much earlier than computed the expected-path crossing is reported: the verdict
#: divides instants as floats, so the crossing is exact only to a few ulps of the span
_CROSSING_MARGIN = timedelta(milliseconds=1)


def next_change(
    defn: KPIDefinition,
    result: CheckResult,
    *,
    at: datetime,
    watched: bool = False,
    oldest: datetime | None = None,
    upcoming: datetime | None = None,
) -> datetime | None:
    """Return the earliest instant after ``at`` at which :func:`classify` could give another
    status than ``result`` (the check at ``at``) without new data; ``None`` if never.

    ``oldest`` is the earliest ``measured_at`` that counted at ``at`` and ``upcoming`` the
    earliest one after ``at`` (a point stamped ahead of the check). The verdict moves with
    time only through:

    * a point entering the window (``upcoming``: the window's upper end is the instant);
    * a point leaving it (windowed aggregations: ``oldest`` + ``window_days`` + 1 µs; the
      window's lower end only rises, so no point re-enters);
    * the target date ending (``target_end``: ``missed`` for a KPI not achieved);
    * the expected path overtaking the progress (``on_track`` → ``at_risk`` once
      ``expected > progress + tolerance``; reported a little early, see _CROSSING_MARGIN).

    The next check's previous status is ``result.status``, so a watched KPI that is achieved
    or reverted is held to its achievement and depends on its points only. Nothing else in
    the verdict reads the clock. The moment may err early (a check that changes nothing),
    never late. A watch ending stops the checks; it changes no verdict.
    """
    status = result.status
    if status in (KPIStatus.NO_BASELINE, KPIStatus.NO_TARGET):
        return None  # an incomplete definition: no instant changes that
    moments = []
    if upcoming is not None and upcoming > at:
        moments.append(upcoming)
    if oldest is not None and defn.aggregation != Aggregation.LATEST and defn.window_days:
        moments.append(oldest + timedelta(days=defn.window_days, microseconds=1))
    held = watched and status in _WATCHED_PREVIOUS
    if status != KPIStatus.NO_DATA and not held and status != KPIStatus.ACHIEVED:
        end = target_end(defn.target_date)
        if at < end:  # missed, once past it (missed stays missed)
            moments.append(end)
            if status == KPIStatus.ON_TRACK and result.progress is not None:
                crossing = _crossing(defn, result.progress + float(defn.tolerance))
                if crossing is not None:
                    moments.append(crossing)
    return min(moments) if moments else None


def _crossing(defn: KPIDefinition, level: float) -> datetime | None:
    """The instant, a little early, from which the expected share exceeds ``level``; None
    if it never does (it never exceeds 1)."""
    if level >= 1:
        return None
    start = baseline_start(defn.baseline_date)
    span = target_end(defn.target_date) - start
    if span <= timedelta(0):
        return None
    return start + span * max(0.0, level) - _CROSSING_MARGIN - span * 1e-12


def evaluate(
    defn: KPIDefinition,
    points: Sequence[tuple[datetime, float]],
    *,
    at: datetime,
    watched: bool = False,
    previous_status: str | None = None,
) -> CheckResult:
    """Check a KPI at ``at`` from its ``(measured_at, value)`` points.

    Keeps the points within :func:`window_bounds` (both ends inclusive), orders them by
    time, aggregates them and classifies the result. This is the reference the set-based
    sweep must agree with.
    """
    lower, upper = window_bounds(defn, at)
    counting = sorted(
        (p for p in points if (lower is None or p[0] >= lower) and p[0] <= upper),
        key=lambda p: p[0],
    )
    values = [value for _, value in counting]
    return classify(
        defn,
        current=aggregate(values, defn.aggregation),
        count=len(values),
        at=at,
        watched=watched,
        previous_status=previous_status,
    )


def worst_status(statuses: Iterable[str]) -> str:
    """Return an initiative's health: the first status of ``SEVERITY`` present.

    ``"none"`` (``Health.NONE``) when there are no statuses (no KPIs).
    """
    present = set(statuses)
    for status in SEVERITY:
        if status in present:
            return status.value
    return Health.NONE.value


# --- targets and charts --------------------------------------------------------------


def expected_path(defn: KPIDefinition) -> list[tuple[date, float]]:
    """Return the chart's expected path: ``[(baseline_date, baseline), (target_date, target)]``.

    ``[]`` when any of the four is missing.
    """
    if (
        defn.baseline_date is None
        or defn.baseline_value is None
        or defn.target_date is None
        or defn.target_value is None
    ):
        return []
    return [
        (defn.baseline_date, float(defn.baseline_value)),
        (defn.target_date, float(defn.target_value)),
    ]


def target_from_change_pct(baseline_value: float, pct: float) -> float:
    """Return the absolute target for a change in percent: ``-15`` is 15 % below baseline."""
    return float(baseline_value) * (1 + float(pct) / 100)


def target_on_better_side(direction: str, baseline_value: float, target_value: float) -> bool:
    """Tell whether the target lies strictly on the better side of the baseline.

    Above it for ``increase``, below it for ``decrease``; a target equal to the baseline
    is on neither side. Raises ``ValueError`` for an unknown direction.
    """
    if direction == Direction.INCREASE:
        return target_value > baseline_value
    if direction == Direction.DECREASE:
        return target_value < baseline_value
    raise ValueError(f"unknown direction: {direction!r}")
