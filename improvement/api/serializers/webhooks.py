"""Outbound webhooks and their deliveries."""

from __future__ import annotations

from rest_framework import serializers

from ... import choices
from ...models import Webhook, WebhookAttempt, WebhookDelivery
from ..fields import StrictURLField, username_of
from .base import StrictModelSerializer


class WebhookSerializer(StrictModelSerializer):
    """A webhook. `secret` (whsec_…) signs every delivery; keep it to verify them."""

    url = StrictURLField(max_length=500, help_text="Where events are POSTed.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=choices.EventType.choices),
        required=False,
        max_length=len(choices.EventType.values),
        help_text="Event types to deliver; empty for all.",
    )
    created_by = username_of()

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "active",
            "secret",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "secret", "created_by", "created_at", "updated_at"]

    refused_fields = {
        "secret": "The secret is generated; rotate it with POST "
        "/api/v1/webhooks/{id}/rotate-secret/.",
    }


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "at",
            "succeeded",
            "status_code",
            "latency_ms",
            "response_excerpt",
            "error",
        ]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempts = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempts",
        ]
        read_only_fields = fields
