"""Each browser page's data, built in one place: the register, the portfolio and the goals
here; the initiative page (its records, moves, KPI cards with their charts, actions,
reviews, iterations and change history) in pages_initiative.

Every function answers in a fixed number of queries, whatever the number of rows, so that
the pages keep a flat query count (pinned in tests/web).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, prefetch_related_objects
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


#: how far the register counts the matches of a free-text search
SEARCH_COUNT_LIMIT = 1000

#: the register's filters whose every combination the running count answers
TALLIED_FILTERS = {"step", "health", "value", "effort", "no_goal", "scope", "phase", "ordering"}


def register_count(filterset: InitiativeFilterSet) -> int | None:
    """How many initiatives the register lists, from the running count when the filters
    asked for are all among TALLIED_FILTERS (the same rules as the filters, applied to the
    tally's keys); None when they are not, or the tally does not serve (then the list
    counts its rows)."""
    if not filterset.is_valid():
        return None
    asked = {name: value for name, value in filterset.form.cleaned_data.items() if value}
    if not asked.keys() <= TALLIED_FILTERS or not selectors.tallies_serve(filterset.queryset):
        return None
    steps = set(asked.get("step") or choices.Step.values)
    if asked.get("scope") == "open":
        steps &= {str(s) for s in choices.OPEN_STEPS}
    if asked.get("phase"):
        steps &= {str(s) for phase in asked["phase"] for s in choices.PDCA_STEPS[phase]}
    healths = set(asked.get("health") or choices.Health.values)
    values = {int(v) for v in asked.get("value") or range(1, 6)}
    efforts = {int(v) for v in asked.get("effort") or range(1, 6)}
    served = {"true": {False}, "false": {True}}.get(asked.get("no_goal"), {True, False})
    return sum(
        n
        for (step, health, value, effort, linked), n in selectors.register_tally(
            filterset.queryset
        ).items()
        if step in steps
        and health in healths
        and value in values
        and effort in efforts
        and linked in served
    )


class CountedPaginator(Paginator):
    """A paginator told its count (register_count), or counting its rows when it is not."""

    def __init__(self, object_list, per_page, count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        if count is not None:
            self.__dict__["count"] = count  # the cached_property's slot


def register_queryset(filterset: InitiativeFilterSet):
    qs = filterset.qs
    # a stable order, so pages never repeat or skip a row
    return qs.order_by(*qs.query.order_by, "-pk")


def register_filter_options() -> dict:
    """The choices of the register's filters that come from the database."""
    return {
        "services": list(Service.objects.order_by("name").values_list("name", flat=True)),
        "goals": list(Goal.objects.order_by("-active", "title").values_list("pk", "title")),
        # users who are accountable for an initiative: one index probe per user, not a
        # DISTINCT over every initiative
        "owners": list(
            User.objects.filter(Exists(Initiative.objects.filter(accountable=OuterRef("pk"))))
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
    listed = register_queryset(filterset)
    count, capped = register_count(filterset), False
    if count is None and filterset.is_valid() and filterset.form.cleaned_data.get("search"):
        # a free-text search is counted up to SEARCH_COUNT_LIMIT: past it the figure is
        # "more than", so a loose word does not count every initiative of the register
        count = listed.order_by()[: SEARCH_COUNT_LIMIT + 1].count()
        capped = count > SEARCH_COUNT_LIMIT
    paginator = CountedPaginator(listed, per_page, count=count)
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
        count_capped=capped,
        search_count_limit=SEARCH_COUNT_LIMIT,
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


#: how many rows the portfolio's and the goals page's lists show; "all N →" opens the rest
TOP_N = 10


@dataclass
class Portfolio:
    """The figures of the CSI manager's portfolio page: counts from aggregate queries and
    the top TOP_N of each list, so the page costs the same whatever the register's size."""

    step_counts: list[tuple[str, str, int]]
    health_counts: list[tuple[str, str, int]]
    open_count: int
    matrix: list[dict]  # rows of value 5..1, each with cells of effort 1..5 and their count
    kpis_attention: list[KPI]  # the first TOP_N, worst first
    kpis_attention_count: int
    overdue_actions: list[Action]  # the TOP_N longest overdue
    overdue_count: int
    by_goal: list[dict]  # {"goal": Goal | None, "count": n open, "top": [Initiative]}
    achieved_count: int  # initiatives, open or not, whose every KPI is achieved
    max_step_count: int
    max_health_count: int


def within(queryset, visible, lookup: str = "initiative"):
    """`queryset` kept to the rows of `visible` initiatives. Who may read the register
    reads all of it (selectors.initiatives_visible_to): then no `IN (SELECT …)` of every
    initiative weighs on the aggregates below."""
    if visible.query.is_empty():
        return queryset.none()
    if not visible.query.where:
        return queryset
    return queryset.filter(**{f"{lookup}__in": visible})


def kpis_attention(visible, with_checks: bool = True) -> tuple[list[KPI], int]:
    """The KPIs of live initiatives needing attention, worst verdict first (then by
    initiative and name): the first TOP_N (with their latest checks when `with_checks`),
    and how many there are (the running count). One short indexed read per verdict."""
    live = within(KPI.objects, visible).filter(
        initiative__step__in=choices.LIVE_STEPS, status__in=ATTENTION_STATUSES
    )
    live_steps = {str(s) for s in choices.LIVE_STEPS}
    count = sum(
        n
        for (status, step), n in selectors.kpi_tally(visible).items()
        if status in ATTENTION_STATUSES and step in live_steps
    )
    severity = [s for s in choices.SEVERITY if s in ATTENTION_STATUSES]
    top: list[KPI] = []
    for status in severity:  # always one query per verdict: a flat query count
        found = live.filter(status=status).select_related("initiative")
        top += list(found.order_by("initiative_id", "name", "pk")[:TOP_N])
    top = top[:TOP_N]
    if with_checks:
        prefetch_related_objects(top, selectors.latest_checks_prefetch())
    return top, count


def _by_goal(visible, counts: dict) -> list[dict]:
    """Each active goal with how many open initiatives serve it and its TOP_N best scored,
    then the open initiatives linked to no goal (`counts`: selectors.register_tally); a fixed
    number of queries."""
    goals = list(Goal.objects.filter(active=True).select_related("owner").order_by("title"))
    open_steps = {str(s) for s in choices.OPEN_STEPS}
    by_goal: Counter = Counter()
    for (goal_id, step, _), n in selectors.goal_tally(visible).items():
        if step in open_steps:
            by_goal[goal_id] += n
    linked = Exists(Initiative.goals.through.objects.filter(initiative=OuterRef("pk")))
    unlinked = visible.filter(~linked, step__in=choices.OPEN_STEPS)
    unlinked_count = sum(
        n for (step, _, _, _, served), n in counts.items() if step in open_steps and not served
    )
    top_ids = selectors.top_initiatives_per_goal(visible, [g.pk for g in goals], TOP_N)
    wanted = {pk for pks in top_ids.values() for pk in pks}
    top_unlinked = list(unlinked.order_by(*selectors.TOP_ORDER)[:TOP_N])
    found = {i.pk: i for i in visible.filter(pk__in=wanted)}

    groups = [
        {"goal": g, "count": by_goal.get(g.pk, 0),
         "top": sorted((found[pk] for pk in top_ids.get(g.pk, []) if pk in found), key=_best_first)}
        for g in goals
    ]  # fmt: skip
    if unlinked_count:
        groups.append({"goal": None, "count": unlinked_count, "top": top_unlinked})
    return groups


def portfolio(user, today: dt.date | None = None) -> Portfolio:
    """Counts per step and health, the value-versus-effort matrix of open initiatives (a
    count per cell), the KPIs needing attention, the overdue actions and the open
    initiatives of each goal (the first TOP_N of each with their total)."""
    today = today or timezone.localdate()
    visible = selectors.initiatives_visible_to(user)
    counts = selectors.register_tally(visible)
    open_steps = {str(s) for s in choices.OPEN_STEPS}

    by_step: Counter = Counter()
    health: Counter = Counter()
    cells: Counter = Counter()
    achieved = 0
    for (step, h, value, effort, _), n in counts.items():
        by_step[step] += n
        if h == choices.Health.ACHIEVED:
            achieved += n
        if step in open_steps:
            health[h] += n
            cells[(value, effort)] += n
    step_counts = [(s.value, s.label, by_step.get(s.value, 0)) for s in choices.Step]
    health_order = [*choices.SEVERITY, choices.Health.NONE]
    health_counts = [(str(h), choices.Health(h).label, health.get(str(h), 0)) for h in health_order]
    open_count = sum(health.values())
    matrix = [
        {
            "value": value,
            "cells": [
                {
                    "effort": effort,
                    "quadrant": _quadrant(value, effort),
                    "count": cells.get((value, effort), 0),
                }
                for effort in range(1, 6)
            ],  # fmt: skip
        }
        for value in range(5, 0, -1)
    ]
    attention, attention_count = kpis_attention(visible)
    overdue = within(Action.objects.overdue(today), visible)
    overdue_count = selectors.overdue_action_count(visible, today)
    overdue_actions = list(
        overdue.select_related("initiative", "owner").order_by("due_date", "id")[:TOP_N]
    )
    return Portfolio(
        step_counts=step_counts,
        health_counts=health_counts,
        open_count=open_count,
        matrix=matrix,
        kpis_attention=attention,
        kpis_attention_count=attention_count,
        overdue_actions=overdue_actions,
        overdue_count=overdue_count,
        by_goal=_by_goal(visible, counts),
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
    """Every goal, active first, with how many visible initiatives serve it
    (`goal.initiative_count`), how many of them are open (`goal.open_count`), a count per
    health of its open ones (`goal.health_summary`) and its TOP_N best scored open ones
    (`goal.top`): a fixed number of queries whatever the register's size."""
    visible = selectors.initiatives_visible_to(user)
    goals = list(Goal.objects.select_related("owner").order_by("-active", "title"))
    rows = [(*key, n) for key, n in selectors.goal_tally(visible).items()]
    open_steps = {str(s) for s in choices.OPEN_STEPS}
    total: Counter = Counter()
    open_health: dict[int, Counter] = {g.pk: Counter() for g in goals}
    for goal_id, step, health, n in rows:
        total[goal_id] += n
        if step in open_steps and goal_id in open_health:
            open_health[goal_id][health] += n
    top_ids = selectors.top_initiatives_per_goal(visible, [g.pk for g in goals], TOP_N)
    wanted = {pk for pks in top_ids.values() for pk in pks}
    found = {i.pk: i for i in visible.filter(pk__in=wanted).select_related("accountable")}
    health_order = [str(h) for h in (*choices.SEVERITY, choices.Health.NONE)]
    for goal in goals:
        counts = open_health[goal.pk]
        goal.initiative_count = total[goal.pk]
        goal.open_count = sum(counts.values())
        goal.health_summary = [
            (h, choices.Health(h).label, counts[h]) for h in health_order if counts.get(h)
        ]
        goal.top = sorted(
            (found[pk] for pk in top_ids.get(goal.pk, []) if pk in found), key=_best_first
        )
    return goals


def _best_first(i: Initiative):
    """The sort key of selectors.TOP_ORDER, for rows already read."""
    return (-i.score, -i.created_at.timestamp(), -i.pk)


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
