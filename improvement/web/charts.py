"""KPI charts as inline SVG, drawn on the server: no JavaScript, no CDN, works offline.

A chart shows a KPI's measurements as a line of points (for a KPI aggregated over a window,
the aggregate its verdict uses, with the raw measurements drawn lightly behind it when they
are on the same scale), its baseline and target as horizontal lines, and the expected path
from (baseline date, baseline) to (target date, target). Each chart comes with a text
summary and a data table as its text alternative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .. import evaluation
from ..choices import STATUS_COLOURS, KPIStatus
from ..models import FINITE_LIMIT


@dataclass(frozen=True)
class Layout:
    """The geometry of one rendering: a wide one for desktops and a narrow one for phones."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font: int
    x_ticks: int
    markers: int  # at most about this many points marked (the line joins every point)


WIDE = Layout("wide", 640, 260, 56, 92, 14, 30, 11, 5, 24)
NARROW = Layout("narrow", 340, 230, 40, 66, 12, 28, 11, 3, 12)
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e2e8f0"
BASELINE_COLOUR = "#475569"
TARGET_COLOUR = "#1d4ed8"
EXPECTED_COLOUR = "#7c3aed"


def fmt_number(value: float | None, unit: str = "") -> str:
    """A KPI value for people: thousands separated, few decimals, with its unit."""
    if value is None:
        return "—"
    v = float(value)
    if not math.isfinite(v):
        return "—"
    a = abs(v)
    if a >= 1000:
        text = f"{v:,.0f}"
    elif a >= 100:
        text = f"{v:.1f}"
    elif a >= 1:
        text = f"{v:.2f}"
    elif a == 0:
        text = "0"
    else:
        text = f"{v:.3g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    if not unit:
        return text
    if unit == "%":
        return f"{text}{unit}"
    return f"{text} {singular(unit) if text in ('1', '-1') else unit}"


def singular(unit: str) -> str:
    """A counted unit for exactly one ("1 incident", not "1 incidents"): a word in the
    plural loses its s; symbols and short units (h, min, ms, /5) stay as they are."""
    if len(unit) > 3 and unit.isalpha() and unit.endswith("s") and not unit.endswith("ss"):
        return unit[:-1]
    return unit


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    value: float
    source: str = ""
    note: str = ""
    #: the measurement's id (the data table links to its correction); None for an aggregate
    pk: int | None = None


@dataclass
class Chart:
    """What the template needs: the SVG, a one-paragraph summary, and the data rows."""

    svg: SafeString
    summary: str
    svg_narrow: SafeString = mark_safe("")  # noqa: S308 — a constant
    points: list[Point] = field(default_factory=list)
    has_data: bool = False
    #: what the line shows: "Measurements", or the rolling aggregate such as "30-day sum"
    series_label: str = "Measurements"
    #: the raw measurements drawn lightly behind an aggregate of the same scale
    raw: list[Point] = field(default_factory=list)

    @property
    def table(self) -> list[Point]:
        """The newest TABLE_ROWS points, newest first: the card's data table."""
        return self.points[: -TABLE_ROWS - 1 : -1]


#: rows of a KPI card's data table; the KPI's data page lists every measurement
TABLE_ROWS = 20


def _nice_step(span: float, count: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^n) giving about `count` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def _as_datetime(d: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(d, dt.datetime):
        return d
    return evaluation.baseline_start(d)


def _date_ticks(start: dt.datetime, end: dt.datetime, count: int = 5) -> list[dt.datetime]:
    span = (end - start).total_seconds()
    if span <= 0:
        return [start]
    return [start + dt.timedelta(seconds=span * i / (count - 1)) for i in range(count)]


def _date_label(d: dt.datetime, span_days: float) -> str:
    d = timezone.localtime(d) if timezone.is_aware(d) else d
    if span_days > 400:
        return d.strftime("%b %Y")
    return f"{d.day} {d.strftime('%b')}"


def kpi_chart(kpi, points: Sequence, *, now: dt.datetime | None = None, check=None) -> Chart:
    """Build the chart of `kpi` (a KPI instance) from its measurements.

    `points` are Measurement-like objects (measured_at, value, source, note) in any order.
    `check`, the KPI's latest check: its value ends the aggregate's line when it was
    checked after the last measurement (the "Current" figure beside the chart).
    """
    now = now or timezone.now()
    pts = sorted(
        (
            Point(
                p.measured_at, float(p.value), p.source or "", p.note or "", getattr(p, "pk", None)
            )
            for p in points
        ),
        key=lambda p: p.at,
    )
    definition = evaluation.KPIDefinition(
        direction=kpi.direction,
        aggregation=kpi.aggregation,
        window_days=kpi.window_days,
        baseline_value=kpi.baseline_value,
        baseline_date=kpi.baseline_date,
        target_value=kpi.target_value,
        target_date=kpi.target_date,
    )
    series_label = "Measurements"
    raw: list[Point] = []
    if kpi.aggregation in ROLLING:
        raw = pts if kpi.aggregation in SAME_SCALE else []
        pts = rolling_series(definition, pts)
        if (
            check is not None
            and check.current is not None
            and (not pts or check.checked_at > pts[-1].at)
            and (not raw or check.checked_at >= raw[-1].at)
        ):
            pts.append(Point(check.checked_at, float(check.current), "", "checked"))
        series_label = f"{kpi.window_days}-day {kpi.aggregation}"
    path = evaluation.expected_path(definition)
    summary = _summary(kpi, pts, series_label)
    wide = _draw(kpi, pts, path, summary, now, WIDE, raw)
    narrow = _draw(kpi, pts, path, summary, now, NARROW, raw)
    return Chart(
        svg=wide, svg_narrow=narrow, summary=summary, points=pts, has_data=bool(pts),
        series_label=series_label, raw=raw,
    )  # fmt: skip


#: aggregations over a window: the chart draws the rolling aggregate the verdict uses
#: instead of the raw points (every aggregation but the latest measurement)
ROLLING = ("mean", "median", "sum", "min", "max", "count")
#: those on the scale of one measurement: the raw points are drawn lightly behind the line
SAME_SCALE = ("mean", "median", "min", "max")
RAW_COLOUR = "#94a3b8"


def rolling_series(definition: evaluation.KPIDefinition, pts: list[Point]) -> list[Point]:
    """At each measurement's time, the KPI's current value as a check then would compute it
    (e.g. the 30-day sum); points before the baseline date have none and are left out."""
    raw = [(p.at, p.value) for p in pts]
    series = []
    for p in pts:
        current = evaluation.evaluate(definition, raw, at=p.at).current
        if current is not None:
            series.append(Point(p.at, current, p.source, p.note))
    return series


#: the width of a character of the bold label font, in ems (generous: digits and capitals)
LABEL_EM = 0.62


def _line_labels(kpi, g: Layout) -> tuple[str, str]:
    """The texts at the right end of the baseline and target lines ('' where there is none)."""
    unit = kpi.unit or ""
    wide = g is WIDE
    baseline = target = ""
    if kpi.baseline_value is not None:
        baseline = f"{'Baseline ' if wide else ''}{fmt_number(kpi.baseline_value, unit)}"
    if kpi.target_value is not None:
        target = f"{'Target ' if wide else '→ '}{fmt_number(kpi.target_value, unit)}"
    return baseline, target


def _draw(
    kpi, pts: list[Point], path, summary: str, now: dt.datetime, g: Layout, raw=()
) -> SafeString:
    """One SVG rendering of the chart with layout `g`; `raw`: points drawn lightly."""
    unit = kpi.unit or ""
    WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = (  # noqa: N806 — read like the constants they were
        g.width,
        g.height,
        g.left,
        g.right,
        g.top,
        g.bottom,
    )
    chart_id = f"kpi-chart-{kpi.pk}-{g.name}"
    xs: list[dt.datetime] = [p.at for p in pts] + [p.at for p in raw]
    ys: list[float] = [p.value for p in pts] + [p.value for p in raw]
    if kpi.baseline_date:
        xs.append(_as_datetime(kpi.baseline_date))
    if kpi.target_date:
        xs.append(evaluation.target_end(kpi.target_date) - dt.timedelta(seconds=1))
    for v in (kpi.baseline_value, kpi.target_value):
        if v is not None:
            ys.append(float(v))
    if not xs or not ys:
        empty = format_html(
            '<svg class="chart chart--empty" viewBox="0 0 {} 80" role="img" '
            'aria-labelledby="{}-t"><title id="{}-t">{}</title>'
            '<text x="{}" y="44" text-anchor="middle" fill="{}" font-size="14">'
            "No baseline, target or measurements to draw yet.</text></svg>",
            WIDTH,
            chart_id,
            chart_id,
            f"Chart of {kpi.name}: nothing to draw yet",
            WIDTH // 2,
            MUTED,
        )
        return empty

    x0, x1 = min(xs), max(xs)
    if now and x0 <= now <= x1 + dt.timedelta(days=1):
        x1 = max(x1, now)
    if x1 <= x0:
        x0, x1 = x0 - dt.timedelta(days=1), x1 + dt.timedelta(days=1)
    # extreme but allowed values: the axis stays within ±FINITE_LIMIT (its span finite) and
    # spans at least a billionth of their magnitude (its grid steps above the floats'
    # resolution, or the grid loop below would never end)
    y0, y1 = (max(-FINITE_LIMIT, min(FINITE_LIMIT, y)) for y in (min(ys), max(ys)))
    magnitude = max(abs(y0), abs(y1))
    pad = max((y1 - y0) * 0.12, magnitude * (1e-9 if y1 != y0 else 0.1))
    if not pad > 1e-250:  # zero, or so small that the grid's steps would underflow
        pad = 1.0
    y0, y1 = y0 - pad, y1 + pad
    step = _nice_step(y1 - y0)
    y0 = math.floor(y0 / step) * step
    y1 = math.ceil(y1 / step) * step
    if kpi.baseline_value is not None and kpi.baseline_value >= 0 and min(ys) >= 0:
        y0 = max(y0, 0.0)  # a non-negative KPI never needs a negative axis

    # room at the right for the baseline and target labels, however long they are
    baseline_label, target_label = _line_labels(kpi, g)
    longest = max(len(baseline_label), len(target_label))
    RIGHT = max(RIGHT, math.ceil(6 + longest * g.font * LABEL_EM) + 4)  # noqa: N806
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    span = (x1 - x0).total_seconds()

    def sx(t: dt.datetime) -> float:
        return LEFT + (t - x0).total_seconds() / span * plot_w

    def sy(v: float) -> float:
        return TOP + (y1 - v) / (y1 - y0) * plot_h

    parts: list[str] = []
    title = f"Chart of {kpi.name}"
    parts.append(
        format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
            'preserveAspectRatio="xMidYMid meet" font-family="inherit">'
            '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>',
            WIDTH,
            HEIGHT,
            chart_id,
            chart_id,
            chart_id,
            title,
            chart_id,
            summary,
        )
    )
    # grid and y axis labels
    v = y0
    while v <= y1 + step / 2:
        y = sy(v)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="{g.font}" '
            f'fill="{MUTED}">{escape(fmt_number(v))}</text>'
        )
        v += step
    # x axis labels
    span_days = span / 86400
    for i, t in enumerate(_date_ticks(x0, x1, g.x_ticks)):
        anchor = "start" if i == 0 else "end" if i == g.x_ticks - 1 else "middle"
        parts.append(
            f'<text x="{sx(t):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" font-size="{g.font}" '
            f'fill="{MUTED}">{escape(_date_label(t, span_days))}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="#94a3b8" stroke-width="1"/>'
    )
    # today
    if x0 <= now <= x1:
        x = sx(now)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#cbd5e1" '
            f'stroke-width="1" stroke-dasharray="2 3"/>'
            f'<text x="{x + 3:.1f}" y="{TOP + 10}" font-size="{g.font - 1}" '
            f'fill="{MUTED}">today</text>'
        )
    # baseline and target lines, labelled at the right
    label_x = LEFT + plot_w + 6
    labels: list[tuple[float, str, str]] = []
    lines = (
        ("chart-baseline", kpi.baseline_value, baseline_label, BASELINE_COLOUR,
         'stroke-width="1.5"'),
        ("chart-target", kpi.target_value, target_label, TARGET_COLOUR,
         'stroke-width="2" stroke-dasharray="8 4"'),
    )  # fmt: skip
    for css_class, value, label, colour, stroke in lines:
        if value is None:
            continue
        y = sy(float(value))
        parts.append(
            f'<line class="{css_class}" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{colour}" {stroke}/>'
        )
        labels.append((y, label, colour))
    if len(labels) == 2 and abs(labels[0][0] - labels[1][0]) < 14:
        # keep the two labels apart when the lines are close
        (ya, ta, ca), (yb, tb, cb) = sorted(labels)
        mid = (ya + yb) / 2
        labels = [(mid - 7, ta, ca), (mid + 7, tb, cb)]
    for y, text, colour in labels:
        parts.append(
            f'<text x="{label_x}" y="{y + 4:.1f}" font-size="{g.font}" font-weight="600" '
            f'fill="{colour}">{escape(text)}</text>'
        )
    # the expected path from A to B
    if path:
        (da, va), (db, vb) = path
        xa, xb = sx(_as_datetime(da)), sx(evaluation.target_end(db) - dt.timedelta(seconds=1))
        parts.append(
            f'<line class="chart-expected" x1="{xa:.1f}" y1="{sy(va):.1f}" x2="{xb:.1f}" '
            f'y2="{sy(vb):.1f}" stroke="{EXPECTED_COLOUR}" stroke-width="1.5" '
            f'stroke-dasharray="2 4" stroke-linecap="round"/>'
        )
    # the raw measurements behind an aggregate, lightly
    if raw:
        # the circles' shared paint is the group's (inherited), not repeated on each
        parts.append(
            f'<g class="chart-raw" aria-hidden="true" fill="{RAW_COLOUR}" fill-opacity=".55">'
        )
        parts.extend(
            f'<circle cx="{sx(p.at):.1f}" cy="{sy(p.value):.1f}" r="2"/>'
            for p in thinned(raw, g.markers)
        )
        parts.append("</g>")
    # measurements
    colour = STATUS_COLOURS.get(kpi.status, INK)
    if pts:
        coords = " ".join(f"{sx(p.at):.1f},{sy(p.value):.1f}" for p in pts)
        parts.append(
            f'<polyline class="chart-measurements" points="{coords}" fill="none" '
            f'stroke="{INK}" stroke-width="2" stroke-linejoin="round"/>'
        )
        radius = 3 if len(pts) <= 60 else 2
        # the line joins every point; markers (with their values on hover) on at most
        # g.markers of them, the extremes and the last kept, so the page's size is bounded
        marked = thinned(pts, g.markers)
        # white markers ringed in ink (the group's paint); the last one in the verdict's colour
        parts.append(f'<g class="chart-markers" fill="#fff" stroke="{INK}" stroke-width="2">')
        for n, p in enumerate(marked):
            last = n == len(marked) - 1
            local = timezone.localtime(p.at) if timezone.is_aware(p.at) else p.at
            tip = f"{fmt_number(p.value, unit)} on {local:%d %b %Y %H:%M}"
            paint = f' fill="{colour}" stroke="{colour}"' if last else ""
            parts.append(
                f'<circle cx="{sx(p.at):.1f}" cy="{sy(p.value):.1f}" '
                f'r="{radius + 2 if last else radius}"{paint}>'
                f"<title>{escape(tip)}</title></circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    # every value interpolated above is a number or went through escape()/format_html()
    return mark_safe("".join(parts))  # noqa: S308


def thinned(points: Sequence[Point], limit: int) -> list[Point]:
    """At most about `limit` of `points` (in time order), spread over their time span: the
    lowest and the highest of each of limit / 2 equal time buckets, and the last point."""
    if len(points) <= limit:
        return list(points)
    buckets = max(1, limit // 2)
    start, end = points[0].at, points[-1].at
    span = (end - start).total_seconds() or 1.0
    kept: dict[int, tuple[int, int]] = {}  # bucket: (index of its lowest, of its highest)
    for n, p in enumerate(points):
        b = min(buckets - 1, int((p.at - start).total_seconds() / span * buckets))
        low, high = kept.get(b, (n, n))
        kept[b] = (
            n if p.value < points[low].value else low,
            n if p.value > points[high].value else high,
        )
    indexes = {i for pair in kept.values() for i in pair} | {len(points) - 1}
    return [points[i] for i in sorted(indexes)]


def _summary(kpi, pts: list[Point], series_label: str = "Measurements") -> str:
    unit = kpi.unit or ""
    bits = []
    if kpi.baseline_value is not None:
        when = f" on {kpi.baseline_date:%d %b %Y}" if kpi.baseline_date else ""
        bits.append(f"baseline {fmt_number(kpi.baseline_value, unit)}{when}")
    else:
        bits.append("no baseline yet")
    if kpi.target_value is not None:
        when = f" by {kpi.target_date:%d %b %Y}" if kpi.target_date else ""
        bits.append(f"target {fmt_number(kpi.target_value, unit)}{when}")
    else:
        bits.append("no target yet")
    text = f"{kpi.name}: {', '.join(bits)}."
    if pts:
        last = pts[-1]
        local = timezone.localtime(last.at) if timezone.is_aware(last.at) else last.at
        if series_label == "Measurements":
            text += (
                f" Latest measurement {fmt_number(last.value, unit)} on {local:%d %b %Y}"
                f" ({len(pts)} measurement{'s' if len(pts) != 1 else ''} shown)."
            )
        else:
            text += (
                f" Latest {series_label} {fmt_number(last.value, unit)} on {local:%d %b %Y}"
                f" ({len(pts)} point{'s' if len(pts) != 1 else ''} shown)."
            )
    else:
        text += " No measurements yet."
    text += f" Verdict: {KPIStatus(kpi.status).label}."
    return text
