"""The KPI charts drawn on the server: the rolling aggregate a verdict uses, and labels
that fit inside the chart."""

import datetime as dt

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_sum_kpi_chart_draws_the_rolling_sum_the_verdict_uses():
    """A 'sum' KPI's baseline is a window total: the chart plots that total, not the points."""
    from types import SimpleNamespace

    from improvement.web.charts import kpi_chart

    now = timezone.now()
    kpi = SimpleNamespace(
        pk=1, key="p1", name="P1 incidents", unit="", direction="decrease", aggregation="sum",
        window_days=30,
        baseline_value=8.0, baseline_date=(now - dt.timedelta(days=90)).date(),
        target_value=4.0, target_date=(now + dt.timedelta(days=90)).date(), status="on_track",
    )  # fmt: skip
    points = [
        SimpleNamespace(measured_at=now - dt.timedelta(days=d), value=1.0, source="", note="")
        for d in (40, 20, 10, 5)
    ]
    chart = kpi_chart(kpi, points, now=now)
    assert chart.series_label == "30-day sum"
    # each point shows the sum over the 30 days up to it: at -40: 1; at -20: the points of
    # -40 and -20; at -10: -40 (exactly 30 days back, inclusive), -20, -10; at -5: the -40
    # point has left the window
    assert [p.value for p in chart.points] == [1.0, 2.0, 3.0, 3.0]
    assert "Latest 30-day sum 3" in chart.summary


@pytest.mark.parametrize(
    ("unit", "baseline"), [("min", 620.0), ("incidents", 123_456.0), ("", 8.0)]
)
def test_chart_line_labels_fit_inside_the_chart(unit, baseline):
    """The baseline and target labels at the right end of their lines are never cut off."""
    import re
    from types import SimpleNamespace

    from improvement.web.charts import NARROW, WIDE, kpi_chart

    em = 0.6  # a bold character of the chart's font is at most about 0.6 em wide

    now = timezone.now()
    kpi = SimpleNamespace(
        pk=1, key="k", name="KPI", unit=unit, direction="decrease", aggregation="latest",
        window_days=30, baseline_value=baseline, baseline_date=(now - dt.timedelta(days=90)).date(),
        target_value=baseline * 0.6, target_date=(now + dt.timedelta(days=90)).date(),
        status="on_track",
    )  # fmt: skip
    points = [SimpleNamespace(measured_at=now - dt.timedelta(days=1), value=baseline * 0.8,
                              source="", note="")]  # fmt: skip
    chart = kpi_chart(kpi, points, now=now)
    for svg, layout in ((chart.svg, WIDE), (chart.svg_narrow, NARROW)):
        labels = re.findall(r'<text x="([\d.]+)"[^>]*font-weight="600"[^>]*>([^<]+)</text>', svg)
        assert len(labels) == 2
        for x, text in labels:
            assert float(x) + len(text) * layout.font * em <= layout.width, text


@pytest.mark.parametrize("aggregation", ["mean", "median"])
def test_an_aggregated_kpi_chart_plots_the_value_its_verdict_used(aggregation):
    """A mean or median KPI's line is the window's aggregate and ends at the latest check's
    value (the card's "Current"); the raw measurements are drawn lightly behind it."""
    import re
    from types import SimpleNamespace

    from improvement.web.charts import kpi_chart

    now = timezone.now()
    kpi = SimpleNamespace(
        pk=1, key="mttr", name="MTTR", unit="h", direction="decrease", aggregation=aggregation,
        window_days=30, baseline_value=9.6, baseline_date=(now - dt.timedelta(days=90)).date(),
        target_value=6.0, target_date=(now + dt.timedelta(days=90)).date(), status="on_track",
    )  # fmt: skip
    values = {20: 7.0, 10: 8.76, 2: 8.03}  # days ago → hours
    points = [
        SimpleNamespace(measured_at=now - dt.timedelta(days=d), value=v, source="", note="")
        for d, v in values.items()
    ]
    check = SimpleNamespace(checked_at=now - dt.timedelta(hours=1), current=7.93)
    chart = kpi_chart(kpi, points, now=now, check=check)
    assert chart.series_label == f"30-day {aggregation}"
    # at each measurement the aggregate over the 30 days up to it, then the check's value
    expected = {"mean": [7.0, 7.88, 7.93], "median": [7.0, 7.88, 8.03]}[aggregation]
    assert [round(p.value, 2) for p in chart.points] == [*expected, 7.93]
    assert chart.points[-1].value == check.current
    assert "Latest 30-day " + aggregation + " 7.93 h" in chart.summary
    # the raw points are there, lightly, and are not the line
    assert [p.value for p in chart.raw] == [7.0, 8.76, 8.03]
    raw = re.search(r'<g class="chart-raw"[^>]*>(.*?)</g>', chart.svg).group(1)
    assert raw.count("<circle") == 3
    line = re.search(r'class="chart-measurements" points="([^"]+)"', chart.svg).group(1)
    assert len(line.split()) == 4


def test_a_sum_kpi_chart_draws_no_raw_points_on_its_scale():
    from types import SimpleNamespace

    from improvement.web.charts import kpi_chart

    now = timezone.now()
    kpi = SimpleNamespace(
        pk=1, key="p1", name="P1", unit="incidents", direction="decrease", aggregation="sum",
        window_days=30, baseline_value=8.0, baseline_date=(now - dt.timedelta(days=90)).date(),
        target_value=4.0, target_date=(now + dt.timedelta(days=90)).date(), status="on_track",
    )  # fmt: skip
    points = [SimpleNamespace(measured_at=now - dt.timedelta(days=3), value=1.0, source="",
                              note="")]  # fmt: skip
    chart = kpi_chart(kpi, points, now=now)
    assert chart.raw == [] and "chart-raw" not in chart.svg
    assert "Latest 30-day sum 1 incident on" in chart.summary  # one, in the singular


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(1, "incidents", "1 incident"), (2, "incidents", "2 incidents"), (1, "h", "1 h"),
     (1, "ms", "1 ms"), (1.0, "tickets", "1 ticket"), (1, "%", "1%"), (1, "pass", "1 pass")],
)  # fmt: skip
def test_a_count_of_one_is_in_the_singular(value, unit, shown):
    from improvement.web.charts import fmt_number

    assert fmt_number(value, unit) == shown
