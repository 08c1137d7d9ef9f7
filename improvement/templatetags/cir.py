"""Template helpers of the CIR pages: status badges (colour and text), numbers, sorting
and the permission checks the navigation needs."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html

from improvement import evaluation, permissions
from improvement.choices import STATUS_COLOURS, Health, KPIStatus, Priority, Step
from improvement.web import charts

register = template.Library()


def _status_label(value: str) -> str:
    for choices in (KPIStatus, Health):
        try:
            return choices(value).label
        except ValueError:
            continue
    return str(value).replace("_", " ").capitalize()


@register.simple_tag
def status_badge(status: str, size: str = "") -> str:
    """A KPI status or initiative health as a coloured dot and its words."""
    status = str(status or "none")
    colour = STATUS_COLOURS.get(status, STATUS_COLOURS["none"])
    return format_html(
        '<span class="badge badge--status {}" data-status="{}" style="--c: {}">'
        '<span class="dot" aria-hidden="true"></span>{}</span>',
        f"badge--{size}" if size else "",
        status,
        colour,
        _status_label(status),
    )


@register.simple_tag
def step_badge(step: str, short: bool = False) -> str:
    """The step as a badge: its number and words (short: the words only, for tables)."""
    step = str(step)
    try:
        label = Step(step).label
    except ValueError:
        label = step
    text = label.split(" · ", 1)[-1] if short and " · " in label else label
    number = label.split(" · ", 1)[0] if " · " in label else ""
    if short and number:
        return format_html(
            '<span class="badge badge--step step-{}" title="{}"><span class="step-no">{}</span>'
            "{}</span>",
            step,
            label,
            number,
            text,
        )
    return format_html('<span class="badge badge--step step-{}">{}</span>', step, label)


@register.simple_tag
def priority_badge(priority: str) -> str:
    """P1–P4, with the words in a tooltip and for screen readers."""
    try:
        label = Priority(priority).label
    except ValueError:
        label = str(priority)
    return format_html(
        '<span class="badge badge--priority prio-{}" title="{}">{}'
        '<span class="visually-hidden"> ({})</span></span>',
        str(priority).lower(),
        label,
        priority,
        label.split(" · ", 1)[-1],
    )


@register.filter
def number(value, unit: str = "") -> str:
    """A KPI value for people, with its unit."""
    return charts.fmt_number(value, unit or "")


@register.filter
def percent(value) -> str:
    """A 0–1 share as a whole percentage (progress, expected)."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f} %"


@register.filter
def person(user) -> str:
    """A user's full name, or their username."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


@register.filter
def may_propose(user) -> bool:
    return permissions.may_propose(user)


@register.filter
def is_csi_manager(user) -> bool:
    return permissions.is_csi_manager(user)


@register.filter
def may_view(user) -> bool:
    return permissions.may_view(user)


@register.filter
def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(str(status), STATUS_COLOURS["none"])


@register.filter
def bar_width(count, maximum) -> str:
    """A count as a share of the largest, for CSS bar widths (at least a sliver when > 0)."""
    try:
        count, maximum = int(count), int(maximum)
    except (TypeError, ValueError):
        return "0%"
    if count <= 0 or maximum <= 0:
        return "0%"
    return f"{max(2.0, count / maximum * 100):.1f}%"


@register.simple_tag(takes_context=True)
def sort_header(context, field: str, label: str, css: str = "") -> str:
    """A sortable column header: a link that sorts by `field`, then reverses it."""
    request = context["request"]
    current = request.GET.get("ordering", context.get("default_ordering", ""))
    params = request.GET.copy()
    params.pop("page", None)
    if current == field:
        params["ordering"] = f"-{field}"
        sort, arrow = "ascending", "▲"
    elif current == f"-{field}":
        params["ordering"] = field
        sort, arrow = "descending", "▼"
    else:
        params["ordering"] = field
        sort, arrow = None, ""
    return format_html(
        '<th scope="col" class="{}"{}><a href="?{}">{}<span class="sort-arrow" '
        'aria-hidden="true">{}</span></a></th>',
        css,
        format_html(' aria-sort="{}"', sort) if sort else "",
        params.urlencode(),
        label,
        arrow,
    )


@register.filter
def expected_now(kpi):
    """Where the KPI should be today on its path from baseline to target (0–1), or None."""
    return evaluation.compute_expected(timezone.now(), kpi.baseline_date, kpi.target_date)
