"""Reads of the register that are more than objects.get: scoped querysets and figures."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from . import permissions
from .models import KPI, Initiative


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


def kpi_snapshot(initiative: Initiative) -> list[dict]:
    """Each KPI of the initiative as it stands now: what a review keeps for the record."""
    snapshot = []
    for kpi in initiative.kpis.order_by("name"):
        check = latest_check(kpi)
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
                "current": check.get("current"),
                "progress": check.get("progress"),
                "expected": check.get("expected"),
                "status": check.get("status", kpi.status),
                "checked_at": check.get("checked_at"),
            }
        )
    return snapshot


def latest_check(kpi: KPI) -> dict:
    """The KPI's latest check as a plain dict ({} when it was never checked)."""
    checks = getattr(kpi, "checks", None)
    if checks is None:
        return {}
    check = checks.order_by("-checked_at").first()
    if check is None:
        return {}
    return {
        "current": check.current,
        "progress": check.progress,
        "expected": check.expected,
        "status": check.status,
        "checked_at": check.checked_at.isoformat(),
    }


def initiative_relations(initiative_ids) -> dict[str, dict[int, list]]:
    """Goals (ids) and RACI (usernames) of many initiatives, as plain lists by initiative id.

    Four flat queries over the link tables, without building related objects: what a list
    page needs, at a fraction of the cost of prefetch_related.
    """
    from collections import defaultdict

    ids = list(initiative_ids)
    relations: dict[str, dict[int, list]] = {}
    goals = defaultdict(list)
    for initiative_id, goal_id in (
        Initiative.goals.through.objects.filter(initiative_id__in=ids)
        .order_by("goal__title")
        .values_list("initiative_id", "goal_id")
    ):
        goals[initiative_id].append(goal_id)
    relations["goals"] = goals
    for name in ("responsible", "consulted", "informed"):
        users = defaultdict(list)
        for initiative_id, username in (
            getattr(Initiative, name)
            .through.objects.filter(initiative_id__in=ids)
            .order_by("id")  # as added, like initiative.<role>.all()
            .values_list("initiative_id", "user__username")
        ):
            users[initiative_id].append(username)
        relations[name] = users
    return relations
