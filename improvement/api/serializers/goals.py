"""Organisational goals."""

from __future__ import annotations

from ...models import Goal
from ..fields import username_field
from .base import StrictModelSerializer


class GoalSerializer(StrictModelSerializer):
    owner = username_field(required=False, allow_null=True)

    class Meta:
        model = Goal
        fields = [
            "id",
            "title",
            "description",
            "owner",
            "horizon",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
