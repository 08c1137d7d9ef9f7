"""Reads of the register that are more than objects.get: scoped querysets and figures."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from . import permissions
from .choices import FINAL_STEPS, LIVE_STEPS, OPEN_ACTION_STATUSES, OPEN_STEPS, Role, Step
from .models import (
    KPI,
    Action,
    ActionTally,
    Goal,
    GoalTally,
    Initiative,
    KPICheck,
    KPITally,
    RegisterTally,
)


def initiatives_visible_to(user) -> QuerySet[Initiative]:
    """The initiatives `user` may read: all of them for any CIR role, none otherwise."""
    if not permissions.may_view(user):
        return Initiative.objects.none()
    return Initiative.objects.all()


def initiative_list(user) -> QuerySet[Initiative]:
    """The register as list pages and the API show it: owners and goals loaded up front."""
    return (
        initiatives_visible_to(user)
        .select_related("accountable", "service", "practice")
        .prefetch_related("goals")
    )


#: what a row of the register (the API's list) reads of an initiative
_ROW_FIELDS = (
    "id", "reference", "title", "description", "source", "external_system", "external_id",
    "external_url", "value", "effort", "urgency", "score", "priority", "step", "health",
    "iteration", "due_date", "closed_at", "outcome", "closure_reason", "created_at",
    "updated_at",
)  # fmt: skip


def initiative_rows(user) -> QuerySet:
    """The register as plain rows (dicts): the initiative's fields and the names of its
    service, practice, owner and creator. What the API's list renders; no model instances."""
    return initiatives_visible_to(user).values(
        *_ROW_FIELDS,
        service_name=F("service__name"),
        practice_name=F("practice__name"),
        accountable_username=F("accountable__username"),
        created_by_username=F("created_by__username"),
    )


def initiative_detail(user) -> QuerySet[Initiative]:
    """One initiative with everything its page needs, loaded in a fixed number of queries."""
    return (
        initiative_list(user)
        .select_related("created_by", "service__owner", "practice__owner")
        .prefetch_related(
            "responsible",
            "consulted",
            "informed",
            Prefetch("kpis", queryset=KPI.objects.order_by("name")),
        )
    )


#: newest first; the id breaks ties between checks written at the same instant
LATEST_CHECK_ORDER = ("-checked_at", "-id")


def latest_checks_prefetch(lookup: str = "checks") -> Prefetch:
    """Prefetch each KPI's latest check into `kpi.latest_checks` (a list of 0 or 1),
    for any number of KPIs in one query. `lookup` reaches the checks from the queryset's
    model (e.g. "kpis__checks" from initiatives)."""
    return Prefetch(
        lookup,
        queryset=KPICheck.objects.order_by(*LATEST_CHECK_ORDER)[:1],
        to_attr="latest_checks",
    )


def kpi_snapshot(initiative: Initiative) -> list[dict]:
    """Each KPI of the initiative as it stands now: what a review keeps for the record."""
    snapshot = []
    # fresh rows, not whatever the caller prefetched: the snapshot is the record of now
    kpis = KPI.objects.filter(initiative=initiative).order_by("name")
    for kpi in kpis.prefetch_related(latest_checks_prefetch()):
        check = kpi.latest_checks[0] if kpi.latest_checks else None
        snapshot.append(
            {
                "kpi": kpi.key,
                "name": kpi.name,
                "unit": kpi.unit,
                "direction": kpi.direction,
                "baseline_value": kpi.baseline_value,
                "baseline_date": kpi.baseline_date.isoformat() if kpi.baseline_date else None,
                "target_value": kpi.target_value,
                "target_date": kpi.target_date.isoformat() if kpi.target_date else None,
                "current": check.current if check else None,
                "progress": check.progress if check else None,
                "expected": check.expected if check else None,
                "status": check.status if check else kpi.status,
                "checked_at": check.checked_at.isoformat() if check else None,
            }
        )
    return snapshot


def initiative_relations(initiative_ids) -> dict[str, dict[int, list]]:
    """Goals (ids) and RACI (usernames) of many initiatives, as plain lists by initiative id.

    One query over the four link tables (UNION ALL), without building related objects:
    what a list page needs, at a fraction of the cost of prefetch_related. Goals come in
    title order, people in the order they were added (as initiative.<role>.all() gives).
    """
    from collections import defaultdict

    ids = list(initiative_ids)
    relations: dict[str, dict[int, list]] = {
        name: defaultdict(list) for name in ("goals", "responsible", "consulted", "informed")
    }
    if not ids:
        return relations
    # written out: the ORM's compilation of this union costs more than running it
    in_ids = ", ".join(["%s"] * len(ids))
    goals = Initiative.goals.through._meta.db_table
    parts = [
        f"SELECT 'goals', l.initiative_id, l.goal_id, g.title FROM {goals} l "  # noqa: S608
        f"JOIN {Goal._meta.db_table} g ON g.id = l.goal_id WHERE l.initiative_id IN ({in_ids})"
    ]
    users = get_user_model()._meta.db_table
    for name in ("responsible", "consulted", "informed"):
        table = getattr(Initiative, name).through._meta.db_table
        parts.append(
            f"SELECT '{name}', l.initiative_id, l.id, u.username FROM {table} l "  # noqa: S608
            f"JOIN {users} u ON u.id = l.user_id WHERE l.initiative_id IN ({in_ids})"
        )
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), ids * len(parts))
        rows = cursor.fetchall()
    # goals by title, people in the order they were added
    rows.sort(key=lambda r: (r[0], r[1], r[3] if r[0] == "goals" else r[2]))
    for name, initiative_id, key, label in rows:
        relations[name][initiative_id].append(key if name == "goals" else label)
    return relations


def operating_figures() -> dict[str, int]:
    """What /metrics reports of the register: every operating counter (services/metrics.py;
    0 for one never added to), and the events and deliveries waiting to go out. Three
    queries, each on an index: the counters' keys, the undispatched events' partial index,
    the deliveries' status."""
    from .models import Counter, Event, WebhookDelivery
    from .services.metrics import COUNTERS
    from .webhooks import DeliveryStatus

    values = dict(Counter.objects.filter(name__in=COUNTERS).values_list("name", "value"))
    figures = {name: values.get(name, 0) for name in COUNTERS}
    figures["events_pending"] = Event.objects.filter(dispatched_at__isnull=True).count()
    figures["deliveries_pending"] = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING
    ).count()
    return figures


def live_kpis(at: dt.datetime | None = None):
    """KPIs that are checked: of initiatives not rejected or cancelled; after closure while
    the sustain record's monitor_until has not passed (or is not set)."""
    today = (at or timezone.now()).date()
    return KPI.objects.filter(initiative__step__in=LIVE_STEPS).exclude(
        Q(initiative__step=Step.CLOSED) & Q(initiative__sustain__monitor_until__lt=today)
    )


#: the roles of people who may own an initiative or an action, or be responsible for one
#: (permissions.may_be_accountable), and of people who may read the pages
#: (permissions.may_use_browser): tests/web/test_people.py keeps them in step
_OWNER_ROLES = frozenset({*permissions._CONTRIBUTOR_ROLES, Role.CSI_MANAGER})
_BROWSER_ROLES = frozenset(Role.values) - {Role.ITSM_INTEGRATION}


def people_for_pickers() -> QuerySet:
    """The people a picker of the pages may offer, in one query: active users who may use
    the browser (consulted, informed), each with `may_be_accountable` (owner, accountable,
    responsible, action owner), ordered by name. No integration accounts, no inactive users.
    """
    User = get_user_model()

    def holds(role_names) -> Exists:
        links = User.groups.through.objects.filter(
            user_id=OuterRef("pk"),
            group__name__in=sorted(role_names),
        )
        return Exists(links)

    return (
        User.objects.filter(Q(is_superuser=True) | holds(_BROWSER_ROLES), is_active=True)
        .annotate(
            may_be_accountable=ExpressionWrapper(
                Q(is_superuser=True) | holds(_OWNER_ROLES), output_field=BooleanField()
            )
        )
        .order_by("first_name", "last_name", "username")
    )


# --- notifications ---


def watchers_of(initiative: Initiative) -> list[dict]:
    """The initiative's watchers, each once, by name: {"user", "informed", "following"}.

    The Informed are watchers by role; the others follow it. One query (the Informed are
    prefetched by the initiative page), two without the prefetch.
    """
    from .models import Watcher

    informed = {u.pk: u for u in initiative.informed.all()}  # prefetched by the page
    following = {
        w.user_id: w.user
        for w in Watcher.objects.filter(initiative=initiative).select_related("user")
    }
    people = {**following, **informed}
    return [
        {"user": u, "informed": pk in informed, "following": pk in following}
        for pk, u in sorted(people.items(), key=lambda item: item[1].get_username().lower())
    ]


def unread_count(user) -> int:
    """The user's unread notifications: one COUNT on the partial index."""
    from .models import Notification

    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_of(user):
    """The user's notifications, newest first, with their initiative."""
    from .models import Notification

    return Notification.objects.filter(recipient=user).select_related("initiative")


#: the best scored first: the order of the register's default and of every "top N"
TOP_ORDER = ("-score", "-created_at", "-pk")


_TOP_PER_GOAL_SQL = """
SELECT g.id, t.id
  FROM unnest(%s::bigint[]) AS g(id)
 CROSS JOIN LATERAL (
       SELECT i.id FROM improvement_initiative i
        WHERE i.step = ANY(%s)
          AND EXISTS (SELECT 1 FROM improvement_initiative_goals ig
                       WHERE ig.initiative_id = i.id AND ig.goal_id = g.id)
        ORDER BY i.score DESC, i.created_at DESC, i.id DESC
        LIMIT %s) t
"""


def top_initiatives_per_goal(visible: QuerySet[Initiative], goal_ids, n: int) -> dict:
    """{goal id: the ids of its `n` best scored open initiatives among `visible`}, in one
    query whatever the register's size: on PostgreSQL a LATERAL join that walks the score
    index from the top for each goal; elsewhere a row number per goal."""
    from django.db.models import Window
    from django.db.models.functions import RowNumber

    goal_ids = list(goal_ids)
    if not goal_ids:
        return {}
    links = Initiative.goals.through.objects.filter(
        goal_id__in=goal_ids, initiative__in=visible, initiative__step__in=OPEN_STEPS
    )
    found: dict[int, list[int]] = {g: [] for g in goal_ids}
    if visible.query.is_empty():
        return found
    if connection.vendor == "postgresql":
        # `visible` is every initiative for whoever may read the register
        with connection.cursor() as cur:
            cur.execute(_TOP_PER_GOAL_SQL, [goal_ids, [str(s) for s in OPEN_STEPS], n])
            rows = cur.fetchall()
    else:
        ordering = [f"initiative__{f.lstrip('-')}" for f in TOP_ORDER]
        order_by = [
            F(name).desc() if f.startswith("-") else F(name).asc()
            for name, f in zip(ordering, TOP_ORDER, strict=True)
        ]
        rows = (
            links.annotate(rank=Window(RowNumber(), partition_by=[F("goal_id")], order_by=order_by))
            .filter(rank__lte=n)
            .order_by("goal_id", "rank")
            .values_list("goal_id", "initiative_id")
        )
    for goal_id, initiative_id in rows:
        found[goal_id].append(initiative_id)
    return found


# --- running counts (models.Tally) ---------------------------------------------------------


def tallies_serve(visible: QuerySet[Initiative]) -> bool:
    """Whether the running counts answer for `visible`: on PostgreSQL (where triggers keep
    them) and when `visible` is the whole register (any CIR role reads all of it)."""
    return connection.vendor == "postgresql" and not visible.query.where


def _summed(model, keys: tuple[str, ...]) -> dict[tuple, int]:
    """{key: count} of a tally: its rows summed per key (a handful of rows once folded)."""
    rows = model.objects.values_list(*keys).annotate(total=Sum("n")).order_by()
    return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}


def register_tally(visible: QuerySet[Initiative]) -> dict[tuple[str, str, int, int, bool], int]:
    """How many of `visible` there are of each (step, health, value, effort, serves a goal):
    read from the running count where it serves, else counted with one GROUP BY."""
    if tallies_serve(visible):
        return _summed(RegisterTally, ("step", "health", "value", "effort", "linked"))
    linked = Exists(Initiative.goals.through.objects.filter(initiative=OuterRef("pk")))
    rows = (
        visible.annotate(linked=linked)
        .values_list("step", "health", "value", "effort", "linked")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {tuple(row[:-1]): row[-1] for row in rows}


def goal_tally(visible: QuerySet[Initiative]) -> dict[tuple[int, str, str], int]:
    """How many of `visible` serve each goal, per (goal id, step, health)."""
    if tallies_serve(visible):
        return _summed(GoalTally, ("goal_id", "step", "health"))
    links = Initiative.goals.through.objects.filter(initiative__in=visible)
    rows = (
        links.values_list("goal_id", "initiative__step", "initiative__health")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {tuple(row[:-1]): row[-1] for row in rows}


def kpi_tally(visible: QuerySet[Initiative]) -> dict[tuple[str, str], int]:
    """How many KPIs of `visible` initiatives there are per (verdict, initiative's step)."""
    if tallies_serve(visible):
        return _summed(KPITally, ("status", "step"))
    rows = (
        KPI.objects.filter(initiative__in=visible)
        .values_list("status", "initiative__step")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {tuple(row[:-1]): row[-1] for row in rows}


def overdue_action_count(visible: QuerySet[Initiative], today: dt.date) -> int:
    """How many actions of `visible` initiatives are overdue on `today` (Action.is_overdue):
    from the running count of actions per due date, status and step where it serves."""
    if not tallies_serve(visible):
        return Action.objects.overdue(today).filter(initiative__in=visible).count()
    found = (
        ActionTally.objects.filter(due_date__lt=today, status__in=OPEN_ACTION_STATUSES)
        .exclude(step__in=FINAL_STEPS)
        .aggregate(total=Sum("n"))
    )
    return found["total"] or 0


@contextmanager
def one_snapshot():
    """The reads inside see the database at one moment (PostgreSQL: one REPEATABLE READ
    transaction), so a KPI's verdict and its latest check, read by two queries, never come
    from either side of a check's commit. Within a transaction already open, its own."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield
