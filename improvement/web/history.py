"""The change history of an initiative page: who changed what and when, read from
django-simple-history's tables of the initiative and its records."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.utils import timezone

from ..models import (
    KPI,
    Action,
    Baseline,
    Goal,
    Initiative,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    Vision,
)

User = get_user_model()

#: entries of the change history shown on an initiative page
HISTORY_LIMIT = 60


@dataclass
class HistoryEntry:
    """One change of the initiative or one of its records, as the page lists it."""

    when: dt.datetime
    who: object | None
    subject: str
    kind: str  # "created", "changed", "deleted"
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    reason: str = ""


_HISTORY_SOURCES = (
    # (model, label for the subject, filter on the historical model, fields ignored)
    (Initiative, None, "id", {"updated_at", "created_at", "health"}),
    (Vision, "Vision", "initiative_id", {"updated_at", "created_at", "updated_by"}),
    (Baseline, "Baseline", "initiative_id", {"updated_at", "created_at", "updated_by"}),
    (Target, "Target", "initiative_id", {"updated_at", "created_at", "updated_by"}),
    (Plan, "Plan", "initiative_id", {"updated_at", "created_at", "updated_by"}),
    (Sustain, "Sustain", "initiative_id", {"updated_at", "created_at", "updated_by"}),
    (Action, "Action", "initiative_id", {"updated_at", "created_at", "overdue_notified_on"}),
    (KPI, "KPI", "initiative_id", {"updated_at", "created_at"}),
    (Review, "Review", "initiative_id", {"updated_at", "created_at", "kpi_snapshot"}),
)
_M2M = ("goals", "responsible", "consulted", "informed")
_TRUNCATE = 160


def _shorten(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= _TRUNCATE else value[: _TRUNCATE - 1] + "…"


def change_history(initiative: Initiative, limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    """Who changed what and when, newest first, across the initiative and its records.

    Built from django-simple-history's tables in a fixed number of queries: one per
    tracked model, one per many-to-many field of the initiative, and one per referenced
    model to name the values (users, goals, services, practices).
    """
    rows_by_source = []
    user_ids, goal_ids, service_ids, practice_ids = set(), set(), set(), set()
    for model, label, key, ignored in _HISTORY_SOURCES:
        history_model = model.history.model
        rows = list(
            history_model.objects.filter(**{key: initiative.pk})
            .select_related("history_user")
            .order_by("history_date", "history_id")
        )
        fields = [
            f
            for f in model._meta.concrete_fields
            if f.name not in ignored and f.name != "id" and f.name in _field_names(history_model)
        ]
        rows_by_source.append((model, label, rows, fields))
        for row in rows:
            for f in fields:
                if f.is_relation:
                    target = f.related_model
                    value = getattr(row, f.attname)
                    if value is None:
                        continue
                    if target is User:
                        user_ids.add(value)
                    elif target is Service:
                        service_ids.add(value)
                    elif target is Practice:
                        practice_ids.add(value)

    # the initiative's many-to-many sets, per historical row
    m2m_sets: dict[str, dict[int, frozenset[int]]] = {}
    for name in _M2M:
        through = apps.get_model("improvement", f"HistoricalInitiative_{name}")
        column = "goal_id" if name == "goals" else "user_id"
        sets: dict[int, set[int]] = defaultdict(set)
        for history_id, value in through.objects.filter(history__id=initiative.pk).values_list(
            "history_id", column
        ):
            sets[history_id].add(value)
            (goal_ids if name == "goals" else user_ids).add(value)
        m2m_sets[name] = {k: frozenset(v) for k, v in sets.items()}

    names = {
        User: {
            u.pk: (u.get_full_name() or u.get_username())
            for u in User.objects.filter(pk__in=user_ids)
        },
        Goal: dict(Goal.objects.filter(pk__in=goal_ids).values_list("pk", "title")),
        Service: dict(Service.objects.filter(pk__in=service_ids).values_list("pk", "name")),
        Practice: dict(Practice.objects.filter(pk__in=practice_ids).values_list("pk", "name")),
    }

    def show(f, row) -> str:
        value = getattr(row, f.attname)
        if value is None or value == "":
            return "—"
        if f.is_relation:
            return names.get(f.related_model, {}).get(value, f"#{value}")
        if f.choices:
            return str(dict(f.flatchoices).get(value, value))
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dt.datetime):
            return timezone.localtime(value).strftime("%d %b %Y %H:%M")
        if isinstance(value, dt.date):
            return value.strftime("%d %b %Y")
        return _shorten(str(value))

    entries: list[HistoryEntry] = []
    for model, label, rows, fields in rows_by_source:
        previous: dict[int, object] = {}
        for row in rows:
            old = previous.get(row.id)
            previous[row.id] = row
            subject = label or "Initiative"
            if model is Action:
                subject = f"Action “{_shorten(row.title)}”"
            elif model is KPI:
                subject = f"KPI “{_shorten(row.name)}”"
            elif model is Review:
                subject = f"Review of iteration {row.iteration}"
            kind = {"+": "created", "~": "changed", "-": "deleted"}[row.history_type]
            changes = []
            if old is not None and kind == "changed":
                for f in fields:
                    if getattr(old, f.attname) != getattr(row, f.attname):
                        changes.append((str(f.verbose_name), show(f, old), show(f, row)))
                if model is Initiative:
                    for name in _M2M:
                        before = m2m_sets[name].get(old.history_id, frozenset())
                        after = m2m_sets[name].get(row.history_id, frozenset())
                        if before != after:
                            target = Goal if name == "goals" else User

                            def listed(ids, target=target):
                                labels = sorted(names[target].get(i, f"#{i}") for i in ids)
                                return ", ".join(labels) or "—"

                            changes.append((name, listed(before), listed(after)))
                if not changes:
                    continue  # a save that changed nothing we show
            entries.append(
                HistoryEntry(
                    when=row.history_date,
                    who=row.history_user,
                    subject=subject,
                    kind=kind,
                    changes=changes,
                    reason=row.history_change_reason or "",
                )
            )
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:limit]


def _field_names(model) -> set[str]:
    return {f.name for f in model._meta.concrete_fields}
