"""Reports and the PDCA view (SPEC §10): the printable report of an initiative and of the
portfolio, the PDCA cycle of an initiative, and the portfolio's figures per PDCA phase and
of the benefits.

Every figure of the portfolio comes from an aggregate query (GROUP BY) or a top-N list:
nothing loads every initiative, so each function answers in a fixed number of queries
whatever the size of the register (pinned in tests/web/test_reports.py at two sizes).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from .. import choices, permissions, selectors
from ..models import Benefit, BenefitRealisation, Initiative
from . import charts
from .access import CIRAccessMixin, _get
from .pages_initiative import (
    STEP_SECTIONS,
    initiatives_for_page,
    recent_measurements,
    step_records,
)

#: how many rows each top-N list of the portfolio shows (the rest: "all N →")
TOP_N = 10

# --- PDCA ----------------------------------------------------------------------------------


def register_url(**params) -> str:
    """The register filtered by `params` (lists become repeated parameters)."""
    return f"{reverse('improvement:register')}?{urlencode(params, doseq=True)}"


def pdca_cycle(initiative: Initiative, steps: list[dict]) -> dict:
    """The initiative's seven steps seen as Plan, Do, Check, Act: each phase with its steps
    (as the stepper shows them: done, current, upcoming) and its own state. `steps` is the
    stepper's (pages_initiative._steps)."""
    by_value = {s["value"]: s for s in steps}
    # on hold, the phase of the step it left is current (the stepper marks that step)
    working = initiative.held_from if initiative.step == choices.Step.ON_HOLD else initiative.step
    current = choices.pdca_phase(working or initiative.step)
    phases = []
    for phase in choices.PDCA_CYCLE:
        members = [by_value[str(s)] for s in choices.PDCA_STEPS[phase] if str(s) in by_value]
        states = {m["state"] for m in members}
        if "current" in states:
            state = "current"
        elif states == {"done"}:
            state = "done"
        else:
            state = "upcoming"
        if initiative.step == choices.Step.CLOSED and phase == choices.PDCAPhase.ACT:
            state = "done"
        phases.append({"value": str(phase), "label": phase.label, "steps": members, "state": state})
    return {
        "phases": phases,
        "current": current,
        "current_label": choices.PDCAPhase(current).label,
        "on_hold": initiative.step == choices.Step.ON_HOLD,
    }


def step_counts(user) -> dict[str, int]:
    """How many visible initiatives stand in each state (selectors.register_tally)."""
    visible = selectors.initiatives_visible_to(user)
    counts: dict[str, int] = defaultdict(int)
    for (step, *_), n in selectors.register_tally(visible).items():
        counts[step] += n
    return dict(counts)


def _short(step: str) -> str:
    """A state in few words: "step 5" for one of the seven, its name otherwise."""
    label = choices.Step(step).label
    number, sep, _ = label.partition(" · ")
    return f"step {number}" if sep else label.lower()


def pdca_counts(by_step: dict[str, int]) -> list[dict]:
    """Initiatives per PDCA phase, from the counts per state, each with the register
    filtered by the steps of that phase."""
    rows = []
    for phase in (*choices.PDCA_CYCLE, choices.PDCAPhase.NONE):
        steps = [str(s) for s in choices.PDCA_STEPS[phase]]
        rows.append(
            {
                "value": str(phase),
                "label": phase.label,
                "count": sum(by_step.get(s, 0) for s in steps),
                "steps": [_short(s) for s in steps],
                "url": register_url(phase=str(phase), scope="all"),
            }
        )
    return rows


# --- benefits on the portfolio ------------------------------------------------------------


def benefit_sums(user) -> dict:
    """Expected versus realised benefits summed by category and by goal, each per unit
    (euros are never added to hours): two GROUP BY queries. An initiative serving two goals
    counts under each; one serving none under "No goal"."""
    visible = selectors.initiatives_visible_to(user)
    benefits = Benefit.objects.filter(initiative__in=visible).order_by()
    sums = dict(
        expected=Sum("amount"),
        realised=Sum("realised_amount"),
        count=Count("id"),
        realised_count=Count("id", filter=Q(realised_amount__isnull=False)),
    )
    labels = dict(choices.BenefitCategory.choices)
    by_category = [
        {**row, "label": labels.get(row["category"], row["category"])}
        for row in benefits.values("category", "unit").annotate(**sums).order_by("category", "unit")
    ]
    by_goal = list(
        benefits.values("unit", goal_id=F("initiative__goals"), goal=F("initiative__goals__title"))
        .annotate(**sums)
        .order_by("goal", "unit")
    )
    for row in by_category + by_goal:
        row["expected"] = row["expected"] or Decimal(0)
        row["ratio"] = (
            row["realised"] / row["expected"] * 100
            if row["realised"] is not None and row["expected"]
            else None
        )
    return {"by_category": by_category, "by_goal": _by_goal_rows(by_goal)}


def _by_goal_rows(rows: list[dict]) -> list[dict]:
    """One entry per goal (those without a goal last), each with its rows per unit."""
    grouped: dict = defaultdict(list)
    titles: dict = {}
    for row in rows:
        grouped[row["goal_id"]].append(row)
        titles[row["goal_id"]] = row["goal"]
    order = sorted(grouped, key=lambda g: (g is None, (titles[g] or "").lower()))
    return [
        {
            "goal_id": g,
            "title": titles[g] or "No goal",
            "units": grouped[g],
            "url": register_url(**({"goal": g} if g else {"goal": "none"}), scope="all"),
        }
        for g in order
    ]


def closed_without_realised(user, top: int = TOP_N) -> dict:
    """Closed initiatives with no realised benefit recorded: how many (one query), the
    most recently closed `top` (one query), and the register filtered to all of them."""
    realised = Exists(
        Benefit.objects.filter(initiative=OuterRef("pk"), realised_amount__isnull=False)
    )
    closed = (
        selectors.initiatives_visible_to(user).filter(step=choices.Step.CLOSED).filter(~realised)
    )
    return {
        "count": closed.count(),
        "top": list(closed.select_related("accountable").order_by("-closed_at", "-id")[:top]),
        "url": register_url(no_realised_benefit="true", step="closed"),
    }


# --- the portfolio report -----------------------------------------------------------------


def kpis_at_risk(user, top: int = TOP_N) -> dict:
    """KPIs whose verdict needs attention, worst first: how many, and the first `top` (the
    portfolio's list, pages.kpis_attention)."""
    from .pages import kpis_attention

    found, count = kpis_attention(selectors.initiatives_visible_to(user), with_checks=False)
    return {"count": count, "top": found[:top]}


def portfolio_report(user, top: int = TOP_N) -> dict:
    """The portfolio report: counts per step, PDCA phase and health, KPIs at risk, benefits
    expected versus realised, and top-N lists. A fixed number of queries."""
    visible = selectors.initiatives_visible_to(user)
    by_step = step_counts(user)
    open_steps = {str(s) for s in choices.OPEN_STEPS}
    health: dict[str, int] = defaultdict(int)
    for (step, h, *_), n in selectors.register_tally(visible).items():
        if step in open_steps:
            health[h] += n
    health_order = [*choices.SEVERITY, choices.Health.NONE]
    outcomes = dict(
        visible.filter(step=choices.Step.CLOSED)
        .order_by()
        .values_list("outcome")
        .annotate(n=Count("id"))
    )
    return {
        "generated_at": timezone.now(),
        "total": sum(by_step.values()),
        "open_count": sum(by_step.get(str(s), 0) for s in choices.OPEN_STEPS),
        "step_counts": [(s.value, s.label, by_step.get(s.value, 0)) for s in choices.Step],
        "pdca_counts": pdca_counts(by_step),
        "health_counts": [
            (str(h), choices.Health(h).label, health.get(str(h), 0)) for h in health_order
        ],
        "outcome_counts": [(o.value, o.label, outcomes.get(o.value, 0)) for o in choices.Outcome],
        "kpis_at_risk": kpis_at_risk(user, top),
        "benefits": benefit_sums(user),
        "unrealised": closed_without_realised(user, top),
        "top_open": list(
            visible.filter(step__in=choices.OPEN_STEPS)
            .select_related("accountable")
            .order_by("-score", "-created_at", "-id")[:top]
        ),
        "top": top,
    }


# --- the initiative report ----------------------------------------------------------------


def realisations_prefetch() -> Prefetch:
    """A benefit's realisations with who recorded them, oldest first: one query."""
    return Prefetch(
        "realisations", queryset=BenefitRealisation.objects.select_related("recorded_by")
    )


def benefits_prefetch() -> Prefetch:
    """An initiative's benefits with their KPI and realisations, in two queries."""
    return Prefetch(
        "benefits",
        queryset=Benefit.objects.select_related("kpi").prefetch_related(realisations_prefetch()),
    )


def record_fields(record) -> list[tuple[str, object]]:
    """A step record's filled-in fields as (label, value), in the model's order."""
    if record is None:
        return []
    skip = {"id", "initiative", "created_at", "updated_at", "updated_by"}
    found = []
    for field in record._meta.concrete_fields:
        if field.name in skip:
            continue
        value = getattr(record, field.name)
        if value not in (None, ""):
            found.append((str(field.verbose_name).capitalize(), value))
    return found


def initiative_report(user, initiative: Initiative) -> dict:
    """Everything the printable report of one initiative shows: the seven steps and their
    records, KPIs with charts and verdicts, iterations and reviews, benefits, lessons, and
    a summary of the transition log. From the page's prefetched rows."""
    records = step_records(initiative)
    actions = list(initiative.actions.all())
    reviews = sorted(initiative.reviews.all(), key=lambda r: r.iteration)
    transitions = list(initiative.transitions.all())
    kpis = []
    defined = list(initiative.kpis.all())
    recent_measurements(defined)  # on PostgreSQL read here (the page's loader does the same)
    for kpi in defined:
        check = kpi.latest_checks[0] if kpi.latest_checks else None
        kpis.append(
            {
                "kpi": kpi,
                "check": check,
                "chart": charts.kpi_chart(kpi, kpi.recent_measurements, check=check),
            }
        )
    steps = []
    for number, (step, name, kind) in enumerate(STEP_SECTIONS, start=1):
        steps.append(
            {
                "number": number,
                "value": str(step),
                "title": step.label.split(" · ", 1)[1],
                "kind": kind,
                "fields": record_fields(records.get(name)) if kind == "record" else [],
                "phase": choices.PDCAPhase(choices.pdca_phase(step)).label,
            }
        )
    iterations = [
        {
            "number": n,
            "actions": [a for a in actions if a.iteration == n],
            "review": next((r for r in reviews if r.iteration == n), None),
        }
        for n in range(1, initiative.iteration + 1)
    ]
    moves: dict[str, int] = defaultdict(int)
    for t in transitions:
        moves[t.get_to_step_display()] += 1
    return {
        "initiative": initiative,
        "pdca": choices.PDCAPhase(choices.pdca_phase(initiative.step)).label,
        "steps": steps,
        "kpis": kpis,
        "kpis_checked": initiative.step in choices.LIVE_STEPS,
        "iterations": iterations,
        "reviews": reviews,
        "benefits": list(initiative.benefits.all()),
        "sustain": records.get("sustain"),
        "transitions": transitions,
        "transition_summary": sorted(moves.items(), key=lambda kv: -kv[1]),
        "generated_at": timezone.now(),
    }


# --- the views ----------------------------------------------------------------------------


class InitiativeReportView(CIRAccessMixin, TemplateView):
    """The printable report of one initiative, for stakeholders (Print → Save as PDF)."""

    template_name = "improvement/initiative_report.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        queryset = initiatives_for_page(self.request.user).prefetch_related(benefits_prefetch())
        initiative = _get(queryset, kwargs["reference"])
        context.update(initiative_report(self.request.user, initiative))
        context["can_edit"] = permissions.may_edit(self.request.user, initiative)
        return context


class PortfolioReportView(CIRAccessMixin, TemplateView):
    """The printable report of the whole portfolio."""

    template_name = "improvement/portfolio_report.html"
    nav = "portfolio"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(portfolio_report(self.request.user))
        return context
