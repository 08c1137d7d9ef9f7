"""Reads of the people loop: a user's My work, reviews that are due, possible duplicates.

Shared by the pages and the API. `my_work` answers in a fixed number of queries whatever
the size of the register: each list is capped at `limit` rows, and one aggregate query
counts them all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from . import permissions, selectors
from .choices import (
    LIVE_STEPS,
    OPEN_ACTION_STATUSES,
    OPEN_STEPS,
    KPIStatus,
    Step,
)
from .models import KPI, Action, Initiative, Review, stale_condition

#: rows per list of My work (the rest: "all N →")
MY_WORK_LIMIT = 10
#: an action due within this many days is "due soon"
DUE_SOON_DAYS = 7
#: KPI statuses that put a KPI "in trouble"
TROUBLE_STATUSES = (
    KPIStatus.REVERTED,
    KPIStatus.REGRESSED,
    KPIStatus.MISSED,
    KPIStatus.AT_RISK,
)
#: the RACI roles, in the order My work lists them: (key, label, register filter)
RACI_ROLES = (
    ("accountable", "Accountable (owner)", "accountable"),
    ("responsible", "Responsible", "responsible"),
    ("consulted", "Consulted", "consulted"),
    ("informed", "Informed", "informed"),
)


def review_due_condition(today: dt.date | None = None) -> Q:
    """Initiatives whose review is due: no review of the current iteration yet, and either
    in step 6 (the review checkpoint) or in step 5 with a KPI's target date or the
    initiative's due date reached."""
    today = today or timezone.localdate()
    reviewed = Exists(
        Review.objects.filter(initiative=OuterRef("pk"), iteration=OuterRef("iteration"))
    )
    target_reached = Exists(KPI.objects.filter(initiative=OuterRef("pk"), target_date__lte=today))
    return ~reviewed & (
        Q(step=Step.REVIEW) | Q(step=Step.ACTION) & (target_reached | Q(due_date__lte=today))
    )


def _holds(role: str, user) -> Exists:
    """The initiative lists `user` under the RACI list `role` (no join: an EXISTS)."""
    links = getattr(Initiative, role).through.objects
    return Exists(links.filter(initiative=OuterRef("pk"), user=user))


def _role_condition(role: str, user) -> Q:
    return Q(accountable=user) if role == "accountable" else Q(_holds(role, user))


def _acting_condition(user) -> Q:
    """Initiatives `user` works on: accountable or responsible."""
    return Q(accountable=user) | Q(_holds("responsible", user))


def _involved_condition(user) -> Q:
    """Initiatives `user` holds any RACI role on."""
    condition = Q(accountable=user)
    for name in ("responsible", "consulted", "informed"):
        condition |= Q(_holds(name, user))
    return condition


@dataclass
class WorkList:
    """One list of My work: the first rows, how many there are in all, and where the
    register lists them all ("" when no register filter does)."""

    key: str
    title: str
    items: list = field(default_factory=list)
    count: int = 0
    register_query: str = ""

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))


@dataclass
class MyWork:
    """What My work shows a user."""

    roles: list[WorkList]
    actions: WorkList
    overdue_actions: int
    due_soon_actions: int
    reviews_due: WorkList
    kpis_in_trouble: WorkList
    #: for CSI managers: proposed initiatives oldest first, and stale ones (else None)
    triage: WorkList | None
    stale: WorkList | None
    today: dt.date
    limit: int

    @property
    def is_empty(self) -> bool:
        lists = [*self.roles, self.actions, self.reviews_due, self.kpis_in_trouble]
        return not any(w.count for w in lists)


def _initiatives(qs: QuerySet, limit: int) -> list[Initiative]:
    return list(qs.select_related("accountable")[:limit])


def my_work(user, *, limit: int = MY_WORK_LIMIT, today: dt.date | None = None) -> MyWork:
    """The user's initiatives by RACI role, their open actions (overdue, due within 7 days,
    then the others), reviews due and KPIs in trouble on their initiatives; for a CSI
    manager also the triage queue and the stale initiatives. A fixed number of queries."""
    today = today or timezone.localdate()
    now = timezone.now()
    visible = selectors.initiatives_visible_to(user)
    is_csi = permissions.is_csi_manager(user)
    open_ = visible.filter(step__in=OPEN_STEPS)
    mine_acting = open_.filter(_acting_condition(user))
    reviews_due_qs = mine_acting.filter(review_due_condition(today))
    triage_qs = visible.filter(step=Step.PROPOSED)
    stale_qs = visible.filter(stale_condition(now))

    # every count in one query
    counts = {
        f"role_{role}": Count("pk", filter=_role_condition(role, user)) for role, _, _ in RACI_ROLES
    }
    counts["reviews_due"] = Count(
        "pk", filter=_acting_condition(user) & review_due_condition(today)
    )
    if is_csi:  # both within the open steps
        counts["triage"] = Count("pk", filter=Q(step=Step.PROPOSED))
        counts["stale"] = Count("pk", filter=stale_condition(now))
    figures = open_.aggregate(**counts)

    username = user.get_username()
    roles = []
    for role, label, param in RACI_ROLES:
        qs = open_.filter(_role_condition(role, user)).order_by("-score", "-created_at")
        roles.append(
            WorkList(
                key=role,
                title=label,
                items=_initiatives(qs, limit),
                count=figures.get(f"role_{role}") or 0,
                register_query=urlencode({param: username}),
            )
        )

    my_actions = Action.objects.filter(
        owner=user,
        status__in=OPEN_ACTION_STATUSES,
        initiative__in=open_,
    )
    soon = today + dt.timedelta(days=DUE_SOON_DAYS)
    action_counts = my_actions.aggregate(
        total=Count("pk"),
        overdue=Count("pk", filter=Q(due_date__lt=today)),
        due_soon=Count("pk", filter=Q(due_date__gte=today, due_date__lte=soon)),
    )
    actions = WorkList(
        key="actions",
        title="My actions",
        items=list(
            my_actions.select_related("initiative").order_by(
                F("due_date").asc(nulls_last=True), "id"
            )[:limit]
        ),
        count=action_counts["total"],
    )

    reviews_due = WorkList(
        key="reviews_due",
        title="Reviews due",
        items=_initiatives(reviews_due_qs.order_by("step_entered_at", "pk"), limit),
        count=figures.get("reviews_due") or 0,
        register_query="review_due=true",
    )

    trouble_qs = KPI.objects.filter(
        initiative__in=visible.filter(step__in=LIVE_STEPS).filter(_involved_condition(user)),
        status__in=TROUBLE_STATUSES,
    )
    severity = {str(s): n for n, s in enumerate(TROUBLE_STATUSES)}
    trouble_items = list(
        trouble_qs.select_related("initiative").order_by("status", "initiative__reference", "name")[
            : limit * 4
        ]
    )
    trouble_items.sort(key=lambda k: (severity.get(k.status, 99), k.initiative.reference, k.name))
    kpis = WorkList(
        key="kpis_in_trouble",
        title="KPIs in trouble",
        items=trouble_items[:limit],
        count=trouble_qs.count(),
    )

    triage = stale = None
    if is_csi:
        triage = WorkList(
            key="triage",
            title="Triage queue",
            items=_initiatives(triage_qs.order_by("created_at", "pk"), limit),
            count=figures.get("triage") or 0,
            register_query="step=proposed&ordering=created_at",
        )
        stale = WorkList(
            key="stale",
            title="Stale initiatives",
            items=_initiatives(stale_qs.order_by("last_activity_at", "pk"), limit),
            count=figures.get("stale") or 0,
            register_query="stale=true",
        )
    return MyWork(
        roles=roles,
        actions=actions,
        overdue_actions=action_counts["overdue"],
        due_soon_actions=action_counts["due_soon"],
        reviews_due=reviews_due,
        kpis_in_trouble=kpis,
        triage=triage,
        stale=stale,
        today=today,
        limit=limit,
    )


# --- possible duplicates ---------------------------------------------------------------

#: how alike two titles (or descriptions) must be to be offered as possible duplicates
SIMILARITY_THRESHOLD = 0.3
#: how many possible duplicates are offered
DUPLICATE_LIMIT = 5
_WORD = re.compile(r"\w+")


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams of `text`: each word lower-cased, padded with two spaces in front
    and one behind, cut into runs of three characters."""
    grams: set[str] = set()
    for word in _WORD.findall((text or "").lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def similarity(a: str, b: str) -> float:
    """pg_trgm's similarity(): shared trigrams over all trigrams of the two texts."""
    ga, gb = trigrams(a), trigrams(b)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


def possible_duplicates(
    user,
    *,
    title: str = "",
    description: str = "",
    external_system: str = "",
    external_id: str = "",
    exclude_pk: int | None = None,
    limit: int = DUPLICATE_LIMIT,
) -> list[Initiative]:
    """Open initiatives that may be the same idea: the same external record (system and
    id, whatever their case), or a title or description alike (trigram similarity, pg_trgm
    on PostgreSQL, the same measure in Python elsewhere). Most alike first, each with
    `similarity` (1.0 for the same external record) and `same_record`. Two queries at most."""
    title, description = (title or "").strip()[:200], (description or "").strip()[:2000]
    system, ext_id = (external_system or "").strip(), (external_id or "").strip()
    candidates = selectors.initiatives_visible_to(user).filter(step__in=OPEN_STEPS)
    if exclude_pk is not None:
        candidates = candidates.exclude(pk=exclude_pk)
    record = (system.lower(), ext_id.lower()) if system and ext_id else None
    same_record = (
        Q(external_system__iexact=system, external_id__iexact=ext_id) if record else Q(pk__in=[])
    )
    if not (len(title) >= 3 or len(description) >= 10 or (system and ext_id)):
        return []
    if connection.vendor == "postgresql":
        found = _similar_postgres(candidates, title, description, same_record, limit)
    else:
        found = _similar_portable(candidates, title, description, same_record, record)
    for initiative in found:
        initiative.same_record = _same_record(initiative, record)
        if initiative.same_record:
            initiative.similarity = 1.0
    found.sort(key=lambda i: (-i.similarity, i.reference))
    return found[:limit]


def _similar_postgres(candidates, title, description, same_record, limit) -> list[Initiative]:
    from django.contrib.postgres.lookups import TrigramSimilar
    from django.contrib.postgres.search import TrigramSimilarity
    from django.db.models.functions import Greatest

    alike = same_record
    scores = [Value(0.0)]
    if len(title) >= 3:
        alike |= Q(TrigramSimilar(F("title"), Value(title)))
        scores.append(TrigramSimilarity("title", Value(title)))
    if len(description) >= 10:
        alike |= Q(TrigramSimilar(F("description"), Value(description)))
        scores.append(TrigramSimilarity("description", Value(description)))
    qs = (
        candidates.filter(alike)
        .annotate(similarity=Greatest(*scores) if len(scores) > 1 else scores[0])
        .select_related("accountable")
        .order_by("-similarity", "reference")
    )
    # pg_trgm's default threshold (0.3) is SIMILARITY_THRESHOLD: the % operator uses the index
    return list(qs[: limit * 2])


def _same_record(initiative: Initiative, record: tuple[str, str] | None) -> bool:
    return (
        record is not None
        and (
            initiative.external_system.lower(),
            initiative.external_id.lower(),
        )
        == record
    )


def _similar_portable(candidates, title, description, same_record, record) -> list[Initiative]:
    """SQLite and others: narrow to initiatives sharing a word of the title, then score in
    Python with the same trigram measure as pg_trgm."""
    words = sorted(
        {w for w in _WORD.findall(f"{title} {description[:300]}".lower()) if len(w) >= 4},
        key=len,
        reverse=True,
    )[:8]
    narrow = same_record
    for word in words:
        narrow |= Q(title__icontains=word) | Q(description__icontains=word)
    found = []
    for initiative in candidates.filter(narrow).select_related("accountable")[:500]:
        score = max(
            similarity(title, initiative.title) if len(title) >= 3 else 0.0,
            similarity(description, initiative.description) if len(description) >= 10 else 0.0,
        )
        initiative.similarity = score
        if score >= SIMILARITY_THRESHOLD or _same_record(initiative, record):
            found.append(initiative)
    return found
