"""Reads of the register that are more than objects.get: scoped querysets and figures."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from . import permissions
from .models import KPI, Initiative, KPICheck


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

    from django.db.models import CharField, F, Value
    from django.db.models.functions import Cast

    ids = list(initiative_ids)
    parts = [
        Initiative.goals.through.objects.filter(initiative_id__in=ids).values_list(
            Value("goals", output_field=CharField()),
            "initiative_id",
            Cast("goal_id", CharField()),
            F("goal__title"),
        )
    ]
    for name in ("responsible", "consulted", "informed"):
        parts.append(
            getattr(Initiative, name)
            .through.objects.filter(initiative_id__in=ids)
            .values_list(
                Value(name, output_field=CharField()),
                "initiative_id",
                F("user__username"),
                Cast("id", CharField()),
            )
        )
    relations: dict[str, dict[int, list]] = {
        name: defaultdict(list) for name in ("goals", "responsible", "consulted", "informed")
    }
    rows = parts[0].union(*parts[1:], all=True)
    ordered = sorted(rows, key=lambda r: (r[0], r[1], r[3] if r[0] == "goals" else int(r[3])))
    for name, initiative_id, value, _ in ordered:
        relations[name][initiative_id].append(int(value) if name == "goals" else value)
    return relations
