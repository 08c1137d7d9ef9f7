"""Every write of the register goes through a function here (STYLE rule 1).

Functions are keyword-only, take the acting user, check permissions, validate, write
in one transaction and schedule side effects with transaction.on_commit.
"""

from .common import event_emit
from .initiatives import (
    action_create,
    action_update,
    goal_create,
    goal_update,
    initiative_create,
    initiative_create_or_get,
    initiative_delete,
    initiative_set_priority,
    initiative_transition,
    initiative_update,
    kpi_create,
    kpi_delete,
    kpi_update,
    review_create,
    step_record_update,
)

__all__ = [
    "action_create",
    "action_update",
    "event_emit",
    "goal_create",
    "goal_update",
    "initiative_create",
    "initiative_create_or_get",
    "initiative_delete",
    "initiative_set_priority",
    "initiative_transition",
    "initiative_update",
    "kpi_create",
    "kpi_delete",
    "kpi_update",
    "review_create",
    "step_record_update",
]
