"""Writes of the catalogue around the register: organisational goals, services, practices."""

from __future__ import annotations

from .. import permissions
from ..exceptions import Conflict
from ..models import Goal, Practice, Service
from .common import apply_fields, require, save_validated


def goal_create(*, actor, title: str, **data) -> Goal:
    """Add an organisational goal: CSI managers."""
    require(permissions.may_manage(actor), "Only a CSI manager manages goals.")
    goal = Goal(title=title)
    apply_fields(goal, data, ("description", "owner", "horizon", "active"))
    save_validated(goal, actor=actor)
    return goal


def goal_delete(*, goal: Goal, actor) -> None:
    """Delete a goal no initiative serves: CSI managers. A goal in use is retired instead
    (active = false), so the initiatives keep their link to the vision they served."""
    require(permissions.may_manage(actor), "Only a CSI manager manages goals.")
    if goal.initiatives.exists():
        raise Conflict(
            f"Goal '{goal.title}' is linked to initiatives: retire it (active = false) instead."
        )
    goal._history_user = actor
    goal.delete()


def goal_update(*, goal: Goal, actor, **data) -> Goal:
    """Change an organisational goal: CSI managers."""
    require(permissions.may_manage(actor), "Only a CSI manager manages goals.")
    apply_fields(goal, data, ("title", "description", "owner", "horizon", "active"))
    save_validated(goal, actor=actor)
    return goal


def _catalogue_save(entry, *, actor, what: str, data: dict):
    require(permissions.may_manage(actor), f"Only a CSI manager manages the {what}.")
    apply_fields(entry, data, ("name", "description", "owner"))
    save_validated(entry, actor=actor)
    return entry


def service_save(*, actor, service: Service | None = None, **data) -> Service:
    """Create or change an IT service of the catalogue (name, description, owner): CSI managers."""
    return _catalogue_save(service or Service(), actor=actor, what="service catalogue", data=data)


def practice_save(*, actor, practice: Practice | None = None, **data) -> Practice:
    """Create or change an ITIL practice (name, description, owner): CSI managers."""
    return _catalogue_save(practice or Practice(), actor=actor, what="practices", data=data)
