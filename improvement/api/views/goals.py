"""Organisational goals."""

from __future__ import annotations

from ... import permissions, services
from ...models import Goal
from .. import serializers as s
from ..permissions import may_manage_goals
from ..schema import operations
from .base import ServiceViewSet


@operations(
    "goals",
    list="List the organisational goals",
    retrieve="Read a goal",
    create="Add a goal (CSI managers)",
    partial_update="Change a goal (CSI managers)",
    destroy={
        "summary": "Delete a goal (CSI managers)",
        "description": "To retire a goal that initiatives serve, set `active` to false.",
    },
)
class GoalViewSet(ServiceViewSet):
    """Organisational goals: the vision initiatives serve."""

    serializer_class = s.GoalSerializer
    queryset = Goal.objects.none()
    role_rules = dict.fromkeys(("create", "partial_update", "destroy"), may_manage_goals)
    create_service = services.goal_create
    update_service = services.goal_update
    destroy_service = services.goal_delete

    def get_queryset(self):
        if not permissions.may_view(self.request.user):
            return Goal.objects.none()
        return Goal.objects.select_related("owner").order_by("title")
