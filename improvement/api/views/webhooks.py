"""Outbound webhooks and their deliveries."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import permissions, services
from ...models import Webhook, WebhookDelivery
from .. import serializers as s
from ..permissions import may_manage_webhooks
from ..schema import operations
from .base import ServiceViewSet, nested_list


@operations(
    "webhooks",
    list="List webhooks",
    retrieve="Read a webhook (with its secret)",
    create={
        "summary": "Register a webhook",
        "description": "Events are POSTed as JSON, signed the Standard Webhooks way with the "
        "answered `secret`. URLs on private or loopback addresses are refused.",
    },
    partial_update="Change a webhook",
    destroy="Delete a webhook and its delivery log",
)
class WebhookViewSet(ServiceViewSet):
    """Outbound webhooks: CSI managers only."""

    serializer_class = s.WebhookSerializer
    queryset = Webhook.objects.none()
    role_rules = dict.fromkeys(
        (
            "list",
            "retrieve",
            "create",
            "partial_update",
            "destroy",
            "deliveries",
            "rotate_secret",
        ),
        may_manage_webhooks,
    )
    create_service = services.webhook_create
    update_service = services.webhook_update
    destroy_service = services.webhook_delete

    def get_queryset(self):
        if not permissions.may_manage(self.request.user):
            return Webhook.objects.none()
        return Webhook.objects.select_related("created_by").order_by("name", "id")

    deliveries = nested_list(
        "deliveries",
        s.WebhookDeliverySerializer,
        WebhookDelivery.objects.select_related("event")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id"),
        of="webhook",
        summary="The webhook's deliveries, newest first, with every attempt",
        tag="webhooks",
    )

    @extend_schema(
        summary="Give the webhook a new secret",
        description="The old secret stops working at once.",
        tags=["webhooks"],
        request=None,
        responses={200: s.WebhookSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", filter_backends=[])
    def rotate_secret(self, request, pk=None):
        webhook = services.webhook_rotate_secret(webhook=self.get_object(), actor=request.user)
        return Response(self.written(webhook))
