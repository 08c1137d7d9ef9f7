"""Template tags of the reports, the PDCA view and the benefits: each one builds the data
of its include (templates/improvement/includes/_benefits.html, _cycle.html,
_portfolio_pdca.html, _portfolio_benefits.html) from web/, so the pages that include them
need no change but the include line."""

from __future__ import annotations

from decimal import Decimal

from django import template

from ..web import benefits, reports

register = template.Library()


@register.simple_tag(takes_context=True)
def benefits_panel(context) -> dict:
    """The benefits section of the initiative page."""
    return benefits.benefits_section(context["request"].user, context["initiative"], context)


@register.simple_tag(takes_context=True)
def pdca_cycle(context) -> dict:
    """The initiative's seven steps seen as the PDCA cycle."""
    return reports.pdca_cycle(context["initiative"], context["steps"])


@register.simple_tag(takes_context=True)
def portfolio_pdca(context) -> list[dict]:
    """Initiatives per PDCA phase (one GROUP BY query)."""
    return reports.pdca_counts(reports.step_counts(context["request"].user))


@register.simple_tag(takes_context=True)
def portfolio_benefits(context) -> dict:
    """Benefits expected versus realised, and closed initiatives without a realised one."""
    user = context["request"].user
    return {
        "sums": reports.benefit_sums(user),
        "unrealised": reports.closed_without_realised(user),
    }


@register.filter
def amount(value, unit: str = "") -> str:
    """A benefit amount: thousands separated, cents only when there are some, its unit."""
    if value is None:
        return "—"
    value = Decimal(value)
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{text} {unit}".strip()


@register.filter
def percent0(value) -> str:
    """A share in whole percent, or — without one."""
    return "—" if value is None else f"{value:.0f} %"
