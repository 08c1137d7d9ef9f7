"""Each browser page's data, built in one place: the register, the portfolio and the goals
here; the initiative page (its records, moves, KPI cards with their charts, actions,
reviews, iterations and change history) in pages_initiative.

Every function answers in a fixed number of queries, whatever the number of rows, so that
the pages keep a flat query count (pinned in tests/web).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.utils import timezone

from .. import choices, permissions, selectors
from ..filtersets import InitiativeFilterSet
from ..models import KPI, Action, Goal, Initiative, Service
from .forms import GoalForm

User = get_user_model()

# --- the register --------------------------------------------------------------------------

DEFAULT_ORDERING = "-score,-created_at"
SORT_CHOICES = (
    (DEFAULT_ORDERING, "Score, highest first"),
    ("priority", "Priority, P1 first"),
    ("due_date", "Due date, soonest first"),
    ("-due_date", "Due date, latest first"),
    ("-created_at", "Newest first"),
    ("-updated_at", "Recently updated"),
    ("reference", "Reference"),
    ("title", "Title A–Z"),
    ("step", "Step"),
    ("health", "Health"),
    ("owner", "Owner"),
    ("-days_in_step", "Days in step, longest first"),
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


#: the goal filter's value for initiatives linked to no goal
NO_GOAL = "none"
#: the register lists the open initiatives unless asked for all (or for given steps)
DEFAULT_SCOPE = "open"


def register_scope(params) -> str:
    """`open` or `all`: all when asked (`scope=all`) or when steps are chosen, which say
    themselves which initiatives to list; open otherwise."""
    if params.get("scope") or any(params.getlist("step")):
        return params.get("scope") or "all"
    return DEFAULT_SCOPE


def register_filterset(request) -> InitiativeFilterSet:
    """The register's filters from the query string, with the default order and scope."""
    data = request.GET.copy()
    data.pop("page", None)
    if not data.get("ordering"):
        data["ordering"] = DEFAULT_ORDERING
    data["scope"] = register_scope(request.GET)
    if data.get("goal") == NO_GOAL:  # the goal filter's choice "Not linked to a goal"
        del data["goal"]
        data["no_goal"] = "true"
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
    scope = register_scope(request.GET)
    return dict(
        filterset=filterset,
        page=page,
        initiatives=page.object_list,
        per_page=per_page,
        page_sizes=PAGE_SIZES,
        default_ordering=DEFAULT_ORDERING.split(",")[0],
        filters_active=bool(active),
        scope=scope,
        open_only=scope == DEFAULT_SCOPE,
        # asked only when nothing is listed: is the register empty, or only of open ones?
        register_empty=not paginator.count and not filterset.queryset.exists(),
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
        stale_days=settings.CIR_STALE_DAYS,
    )


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
    achieved_count: int  # initiatives, open or not, whose every KPI is achieved
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

    achieved = visible.filter(health=choices.Health.ACHIEVED).count()
    return Portfolio(
        step_counts=step_counts,
        health_counts=health_counts,
        open_count=len(open_initiatives),
        matrix=matrix,
        kpis_attention=kpis_attention,
        overdue_actions=overdue_actions,
        by_goal=by_goal,
        achieved_count=achieved,
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
    """Every goal, active first, with its visible initiatives (`goal.initiative_list`), how
    many of them are open (`goal.open_count`) and a count per health of its open ones
    (`goal.health_summary`)."""
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
        .order_by("-active", "title")
    )
    health_order = [str(h) for h in (*choices.SEVERITY, choices.Health.NONE)]
    for goal in goals:
        open_ones = [i for i in goal.initiative_list if i.step in choices.OPEN_STEPS]
        goal.open_count = len(open_ones)
        counts = Counter(i.health for i in open_ones)
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
