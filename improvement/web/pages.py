"""Each browser page's data, built in one place: the register, the initiative page (its
records, moves, KPI cards with their charts, actions, reviews and change history), the
portfolio and the goals.

Every function answers in a fixed number of queries, whatever the number of rows, so that
the pages keep a flat query count (pinned in tests/web).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from .. import choices, permissions, selectors, workflow
from ..choices import Step
from ..filtersets import InitiativeFilterSet
from ..models import (
    KPI,
    Action,
    Goal,
    Initiative,
    Measurement,
    Review,
    Service,
    TransitionLog,
)
from ..workflow import allowed_transitions
from . import charts
from .forms import (
    RECORD_FORMS,
    ActionForm,
    GoalForm,
    InitiativeForm,
    KPIForm,
    MeasurementForm,
    MoveForm,
    ReviewForm,
    active_users,
)
from .history import change_history

User = get_user_model()

# --- the register --------------------------------------------------------------------------

DEFAULT_ORDERING = "-score,-created_at"
SORT_CHOICES = (
    (DEFAULT_ORDERING, "Score, highest first"),
    ("priority", "Priority, P1 first"),
    ("due_date", "Due date, soonest first"),
    ("-created_at", "Newest first"),
    ("-updated_at", "Recently updated"),
    ("reference", "Reference"),
    ("title", "Title A–Z"),
    ("step", "Step"),
    ("health", "Health"),
    ("owner", "Owner"),
)
PAGE_SIZES = (25, 50, 100)


def sort_choices(current: str) -> list[tuple[str, str]]:
    """The register's sort options, plus the current one when a column header set it."""
    found = list(SORT_CHOICES)
    if current not in dict(found):
        field = current.lstrip("-").split(",")[0].replace("_", " ")
        found.append(
            (
                current,
                f"{field.capitalize()}, {'descending' if current.startswith('-') else 'ascending'}",
            )
        )
    return found


def register_filterset(request) -> InitiativeFilterSet:
    """The register's filters from the query string, with the default order."""
    data = request.GET.copy()
    data.pop("page", None)
    if not data.get("ordering"):
        data["ordering"] = DEFAULT_ORDERING
    return InitiativeFilterSet(
        data, queryset=selectors.initiative_list(request.user), request=request
    )


def register_queryset(filterset: InitiativeFilterSet):
    qs = filterset.qs
    # a stable order, so pages never repeat or skip a row
    return qs.order_by(*qs.query.order_by, "-pk")


def register_filter_options() -> dict:
    """The choices of the register's filters that come from the database."""
    return {
        "services": list(Service.objects.order_by("name").values_list("name", flat=True)),
        "goals": list(Goal.objects.order_by("-active", "title").values_list("pk", "title")),
        "owners": list(
            User.objects.filter(accountable_for__isnull=False)
            .distinct()
            .order_by("username")
            .values_list("username", "first_name", "last_name")
        ),
    }


def register_page(request) -> dict:
    """The register: every initiative, filtered, searched, sorted and paged."""
    filterset = register_filterset(request)
    try:
        per_page = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        per_page = PAGE_SIZES[0]
    per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
    paginator = Paginator(register_queryset(filterset), per_page)
    page = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    active = {
        k: v for k, v in request.GET.items() if k not in ("page", "ordering", "per_page") and v
    }
    return dict(
        filterset=filterset,
        page=page,
        initiatives=page.object_list,
        per_page=per_page,
        page_sizes=PAGE_SIZES,
        default_ordering=DEFAULT_ORDERING.split(",")[0],
        filters_active=bool(active),
        active_count=len(active),
        sort_choices=sort_choices(request.GET.get("ordering") or DEFAULT_ORDERING),
        current_ordering=request.GET.get("ordering") or DEFAULT_ORDERING,
        export_query=params.urlencode(),
        options=register_filter_options(),
        selected={k: request.GET.getlist(k) for k in request.GET},
        step_choices=choices.Step.choices,
        health_choices=choices.Health.choices,
        source_choices=choices.Source.choices,
        priority_choices=choices.Priority.choices,
        today=timezone.localdate(),
    )


# --- the initiative page -------------------------------------------------------------------

#: measurements drawn per KPI on its chart (the most recent ones)
CHART_POINTS = 200
RECORD_NAMES = ("vision", "baseline", "target", "plan", "sustain")
#: the seven steps with what each one owns on the page
STEP_SECTIONS = (
    (Step.VISION, "vision", "record"),
    (Step.BASELINE, "baseline", "record"),
    (Step.TARGET, "target", "record"),
    (Step.PLAN, "plan", "record"),
    (Step.ACTION, "action", "actions"),
    (Step.REVIEW, "review", "reviews"),
    (Step.SUSTAIN, "sustain", "record"),
)
RECORD_NOUNS = {
    "vision": "vision",
    "baseline": "baseline",
    "target": "target",
    "plan": "plan",
    "sustain": "sustain measures",
}
PREVIEW_FIELD = {
    "vision": "statement",
    "baseline": "assessment",
    "target": "objectives",
    "plan": "approach",
    "sustain": "lessons_learned",
}
STEP_TITLES = dict((name, step.label) for step, name, _ in STEP_SECTIONS)


def initiatives_for_page(user) -> QuerySet[Initiative]:
    """Initiatives with everything their page shows: RACI, KPIs with their recent
    measurements and latest check, actions with owners, reviews, the transition log."""
    # built on initiative_list (not initiative_detail) to prefetch the KPIs our own way
    return (
        selectors.initiative_list(user)
        .select_related(
            "created_by",
            "service__owner",
            "practice__owner",
            *(f"{name}__updated_by" for name in RECORD_NAMES),
        )
        .prefetch_related(
            "responsible",
            "consulted",
            "informed",
            Prefetch(
                "kpis",
                queryset=KPI.objects.order_by("name").prefetch_related(
                    Prefetch(
                        "measurements",
                        queryset=Measurement.objects.order_by("-measured_at")[:CHART_POINTS],
                        to_attr="recent_measurements",
                    ),
                    selectors.latest_checks_prefetch(),
                ),
            ),
            Prefetch(
                "actions",
                queryset=Action.objects.select_related("owner").order_by(
                    "-iteration", "due_date", "id"
                ),
            ),
            Prefetch(
                "reviews",
                queryset=Review.objects.select_related("reviewed_by").order_by("-iteration"),
            ),
            Prefetch(
                "transitions",
                queryset=TransitionLog.objects.select_related("actor").order_by("at", "id"),
            ),
        )
    )


def step_records(initiative: Initiative) -> dict[str, object | None]:
    """The one-to-one step records of the initiative (None where not written yet).

    `initiatives_for_page` joins them in, so this asks the database nothing more.
    """
    return {name: step_record(initiative, name) for name in RECORD_NAMES}


def step_record(initiative: Initiative, name: str):
    """The step record `name` of the initiative, or None where not written yet."""
    try:
        return getattr(initiative, name)
    except ObjectDoesNotExist:
        return None


def _preview(record, name: str) -> str:
    if record is None:
        return ""
    return " ".join(str(getattr(record, PREVIEW_FIELD[name], "") or "").split())


def initiative_page(user, initiative: Initiative, **overrides) -> dict:
    """Everything the initiative page shows, for `user`; `initiative` comes from
    `initiatives_for_page`.

    `overrides` carries bound forms with errors (by their context name), `move_errors`,
    `saved` (the section just saved) and `opened` (sections to show expanded).
    """
    can_edit = permissions.may_edit(user, initiative)
    can_manage = permissions.may_manage(user)
    # the people the page's owner selects offer: read once, whatever the number of forms
    users = list(active_users()) if can_edit else []
    records = step_records(initiative)
    reviews = list(initiative.reviews.all())  # prefetched: may_record_review reads them too
    may_review = can_edit and workflow.may_record_review(initiative)
    kpis = list(initiative.kpis.all())
    may_record = bool(kpis) and permissions.may_record_measurements(user, kpis[0])
    return {
        "nav": "register",
        "initiative": initiative,
        "can_edit": can_edit,
        "can_manage": can_manage,
        **_steps(initiative, records, can_edit, overrides),
        "records": records,
        **_moves(initiative, user, overrides),
        "kpi_cards": [_kpi_card(kpi, can_edit, may_record, overrides) for kpi in kpis],
        "kpis_flash": overrides.get("flash", "") if overrides.get("kpis_flash") else "",
        "may_record": may_record,
        "kpi_form": overrides.get("kpi_form")
        or (KPIForm(auto_id="id_newkpi_%s") if can_edit else None),
        "kpi_form_open": "kpi_form" in overrides,
        "actions": [
            _action(action, can_edit, users, overrides) for action in initiative.actions.all()
        ],
        "action_form": overrides.get("action_form")
        or (ActionForm(auto_id="id_newaction_%s", users=users) if can_edit else None),
        "action_form_open": "action_form" in overrides,
        "reviews": reviews,
        "current_review": next((r for r in reviews if r.iteration == initiative.iteration), None),
        "may_review": may_review,
        "review_form": overrides.get("review_form")
        or (ReviewForm(auto_id="id_review_%s") if may_review else None),
        "details_form": overrides.get("details_form")
        or (
            InitiativeForm(
                instance=initiative,
                auto_id="id_details_%s",
                may_set_priority=can_manage,
                users=users,
            )
            if can_edit
            else None
        ),
        "details_open": "details_form" in overrides,
        "transitions": list(initiative.transitions.all()),
        "history": change_history(initiative),
        "saved": overrides.get("saved", ""),
        "flash": overrides.get("flash", ""),
        "error": overrides.get("error", ""),
        "today": timezone.localdate(),
    }


def _steps(initiative: Initiative, records: dict, can_edit: bool, overrides: dict) -> dict:
    """The stepper's seven steps and the page's seven sections, each with its state."""
    done = workflow.steps_done(initiative)
    order = list(choices.SEVEN_STEPS)
    opened = set(overrides.get("opened", ()))
    saved = overrides.get("saved", "")

    def state(step) -> str:
        return "current" if initiative.step == step else "done" if step in done else "upcoming"

    steps = [
        {
            "value": step.value,
            "number": number,
            "title": step.label.split(" · ", 1)[1],
            "state": state(step),
        }
        for number, step in enumerate(order, start=1)
    ]
    sections = []
    for step, name, kind in STEP_SECTIONS:
        form = None
        record = records.get(name)
        if kind == "record" and can_edit:
            form = overrides.get(f"{name}_form") or RECORD_FORMS[name](
                instance=record,
                auto_id=f"id_{name}_%s",
                **({"initiative": initiative} if name == "vision" else {}),
            )
        sections.append(
            {
                "step": step.value,
                "name": name,
                "kind": kind,
                "number": order.index(step) + 1,
                "title": step.label.split(" · ", 1)[1],
                "state": state(step),
                "record": record,
                "form": form,
                "preview": _preview(record, name) if kind == "record" else "",
                "noun": RECORD_NOUNS.get(name, name),
                "open": state(step) == "current" or name in opened or name == saved,
                "saved": name == saved,
            }
        )
    return {"steps": steps, "sections": sections, "off_model": initiative.step not in order}


def _moves(initiative: Initiative, user, overrides: dict) -> dict:
    """The moves: only those the user is permitted; allowed ones as buttons, blocked ones
    with their reasons. The guards run here, once per page."""
    moves = [t for t in allowed_transitions(initiative, user) if t.permitted]
    blocked = [t for t in moves if not t.allowed]
    return {
        "moves": moves,
        "moves_forward": [t for t in moves if t.allowed and not t.requires and not t.back],
        "moves_back": [t for t in moves if t.allowed and not t.requires and t.back],
        "moves_with_inputs": [t for t in moves if t.allowed and t.requires],
        "moves_blocked": [t for t in blocked if not t.back],
        "moves_blocked_other": [t for t in blocked if t.back],
        "move_form": overrides.get("move_form") or MoveForm(auto_id="id_move_%s"),
        "move_errors": overrides.get("move_errors", []),
        "move_to": overrides.get("move_to", ""),
    }


def _kpi_card(kpi: KPI, can_edit: bool, may_record: bool, overrides: dict) -> dict:
    """One KPI with its latest check, its chart and (for those who may) its forms."""
    edit_forms = overrides.get("kpi_forms", {})
    measurement_forms = overrides.get("measurement_forms", {})
    delete_errors = overrides.get("kpi_delete_errors", {})
    return {
        "kpi": kpi,
        "check": kpi.latest_checks[0] if kpi.latest_checks else None,
        # drawn only when a template shows the card: templates call a callable
        "chart": partial(charts.kpi_chart, kpi, kpi.recent_measurements),
        "edit_form": (edit_forms.get(kpi.pk) or KPIForm(instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s"))
        if can_edit
        else None,
        "measurement_form": (
            measurement_forms.get(kpi.pk)
            or MeasurementForm(auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)
        )
        if may_record
        else None,
        "open_edit": kpi.pk in edit_forms or kpi.pk in delete_errors,
        "delete_error": delete_errors.get(kpi.pk, ""),
        "open_measure": kpi.pk in measurement_forms,
        "saved": overrides.get("saved_kpi") == kpi.pk,
    }


def _action(action: Action, can_edit: bool, users: list, overrides: dict) -> dict:
    forms = overrides.get("action_forms", {})
    form = None
    if can_edit:
        form = forms.get(action.pk) or ActionForm(
            instance=action, auto_id=f"id_action{action.pk}_%s", users=users
        )
    return {"action": action, "form": form, "open": action.pk in forms}


# --- portfolio and goals ------------------------------------------------------------------

#: statuses that need a CSI manager's attention on the portfolio
ATTENTION_STATUSES = (
    choices.KPIStatus.REVERTED,
    choices.KPIStatus.REGRESSED,
    choices.KPIStatus.MISSED,
    choices.KPIStatus.AT_RISK,
)


@dataclass
class Portfolio:
    """The figures of the CSI manager's portfolio page."""

    step_counts: list[tuple[str, str, int]]
    health_counts: list[tuple[str, str, int]]
    open_count: int
    matrix: list[dict]  # rows of value 5..1, each with cells of effort 1..5
    kpis_attention: list[KPI]
    overdue_actions: list[Action]
    by_goal: list[tuple[Goal | None, list[Initiative]]]
    achieved_kpis: int
    max_step_count: int
    max_health_count: int


def portfolio(user, today: dt.date | None = None) -> Portfolio:
    """Counts per step and health, the value-versus-effort matrix of open initiatives,
    KPIs needing attention, overdue actions and open initiatives grouped by goal."""
    today = today or timezone.localdate()
    visible = selectors.initiatives_visible_to(user)

    by_step = dict(visible.values_list("step").annotate(n=Count("id")).order_by())
    step_counts = [(s.value, s.label, by_step.get(s.value, 0)) for s in choices.Step]

    open_initiatives = list(
        visible.filter(step__in=choices.OPEN_STEPS)
        .select_related("accountable")
        .prefetch_related("goals")
        .order_by("-score", "-created_at")
    )
    health = Counter(i.health for i in open_initiatives)
    health_order = [*choices.SEVERITY, choices.Health.NONE]
    health_counts = [(str(h), choices.Health(h).label, health.get(str(h), 0)) for h in health_order]

    matrix = [
        {
            "value": value,
            "cells": [
                {"effort": effort, "quadrant": _quadrant(value, effort), "items": []}
                for effort in range(1, 6)
            ],
        }
        for value in range(5, 0, -1)
    ]
    for i in open_initiatives:
        if 1 <= i.value <= 5 and 1 <= i.effort <= 5:
            matrix[5 - i.value]["cells"][i.effort - 1]["items"].append(i)

    kpis_attention = list(
        # of initiatives whose KPIs are still checked: not rejected nor cancelled
        KPI.objects.filter(
            initiative__in=visible,
            initiative__step__in=choices.LIVE_STEPS,
            status__in=ATTENTION_STATUSES,
        )
        .select_related("initiative")
        .prefetch_related(selectors.latest_checks_prefetch())
        .order_by("status", "initiative__reference", "name")
    )
    severity = {str(s): n for n, s in enumerate(choices.SEVERITY)}
    kpis_attention.sort(key=lambda k: (severity.get(k.status, 99), k.initiative.reference))

    overdue_actions = list(
        Action.objects.overdue(today)
        .filter(initiative__in=visible)
        .select_related("initiative", "owner")
        .order_by("due_date", "id")
    )

    goals = list(Goal.objects.filter(active=True).select_related("owner").order_by("title"))
    grouped: dict[int | None, list[Initiative]] = defaultdict(list)
    for i in open_initiatives:
        goal_list = list(i.goals.all())
        if not goal_list:
            grouped[None].append(i)
        for g in goal_list:
            grouped[g.pk].append(i)
    by_goal: list[tuple[Goal | None, list[Initiative]]] = [(g, grouped[g.pk]) for g in goals]
    if grouped[None]:
        by_goal.append((None, grouped[None]))

    achieved = KPI.objects.filter(initiative__in=visible, status=choices.KPIStatus.ACHIEVED).count()
    return Portfolio(
        step_counts=step_counts,
        health_counts=health_counts,
        open_count=len(open_initiatives),
        matrix=matrix,
        kpis_attention=kpis_attention,
        overdue_actions=overdue_actions,
        by_goal=by_goal,
        achieved_kpis=achieved,
        max_step_count=max([c for _, _, c in step_counts] + [1]),
        max_health_count=max([c for _, _, c in health_counts] + [1]),
    )


def _quadrant(value: int, effort: int) -> str:
    """The value-versus-effort quadrant of a cell; the middle row and column are neutral."""
    if value == 3 or effort == 3:
        return "mid"
    if value > 3:
        return "quick" if effort < 3 else "major"
    return "fill" if effort < 3 else "thankless"


# --- goals ------------------------------------------------------------------------------


def goals_overview(user) -> list[Goal]:
    """Every goal, active first, with its visible initiatives (`goal.initiative_list`) and
    a count per health of its open ones (`goal.health_summary`)."""
    visible = selectors.initiatives_visible_to(user)
    goals = list(
        Goal.objects.select_related("owner")
        .prefetch_related(
            Prefetch(
                "initiatives",
                queryset=visible.select_related("accountable").order_by("-score", "reference"),
                to_attr="initiative_list",
            )
        )
        .annotate(
            open_count=Count("initiatives", filter=Q(initiatives__step__in=choices.OPEN_STEPS))
        )
        .order_by("-active", "title")
    )
    health_order = [str(h) for h in (*choices.SEVERITY, choices.Health.NONE)]
    for goal in goals:
        counts = Counter(i.health for i in goal.initiative_list if i.step in choices.OPEN_STEPS)
        goal.health_summary = [
            (h, choices.Health(h).label, counts[h]) for h in health_order if counts.get(h)
        ]
    return goals


def portfolio_page(user) -> dict:
    """The CSI manager's overview of the whole register, readable by every role."""
    today = timezone.localdate()
    return {
        "p": portfolio(user, today),
        "efforts": range(1, 6),
        "values": range(5, 0, -1),
        "today": today,
    }


def goals_page(user, goal_form=None) -> dict:
    """Each goal with its initiatives and their health; the form to add one, for those who
    manage goals (`goal_form`: the one posted, with its errors)."""
    context = {"goals": goals_overview(user)}
    if permissions.may_manage(user):
        context["goal_form"] = goal_form or GoalForm(auto_id="id_goal_%s")
    return context
