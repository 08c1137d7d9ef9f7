"""Admin console for outbound webhooks: receivers, and every delivery with its attempts.

Writes go through the webhook services, as everywhere else.
"""

import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from .. import services
from ..choices import EventType
from ..models import Webhook, WebhookAttempt, WebhookDelivery
from ..webhooks import DeliveryStatus, url_problem
from .base import (
    LabelledTabularInline,
    ManagersOnlyMixin,
    NoRevertHistoryAdmin,
    RolePermissionsMixin,
    ServiceWritesMixin,
    for_each,
)
from .scale import ScaleAdminMixin


def refused(obj, exc) -> str:
    """A bulk action's refusal for one row."""
    return f"{obj}: {exc.message}"


class WebhookForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event type.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "event_types", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        problem = url_problem(url, allow_private=settings.CIR_WEBHOOK_ALLOW_PRIVATE)
        if problem:
            raise ValidationError(problem)
        return url


@admin.register(Webhook)
class WebhookAdmin(ManagersOnlyMixin, ServiceWritesMixin, NoRevertHistoryAdmin):
    """Receivers, with their history (who created, changed, rotated or deleted one, and
    when; the history keeps the secret's fingerprint, never the secret)."""

    form = WebhookForm
    list_display = ["name", "url", "active", "subscribed", "created_by", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]
    readonly_fields = ["secret", "secret_fingerprint", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "url", "event_types", "active"]}),
        (
            "Signing",
            {
                "fields": ["secret", "secret_fingerprint"],
                "description": "Receivers verify the webhook-signature header with this "
                "secret (Standard Webhooks). Rotate it with the action on the list.",
            },
        ),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    actions = ["rotate_secret"]

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        request.cir_history_version = True
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not getattr(request, "cir_history_version", False):
            return fieldsets
        # an old version: the history holds no secret, and the current one is not shown
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "secret"]})
            for name, opts in fieldsets
        ]

    @admin.display(description="event types")
    def subscribed(self, webhook: Webhook) -> str:
        return ", ".join(webhook.event_types) or "all"

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in ("name", "url", "event_types", "active")}
        if change:
            services.webhook_update(webhook=obj, actor=request.user, **data)
        else:
            created = services.webhook_create(actor=request.user, **data)
            obj.pk, obj.secret, obj.created_by = created.pk, created.secret, created.created_by

    def delete_model(self, request, obj):
        services.webhook_delete(webhook=obj, actor=request.user)

    @admin.action(description="Rotate the signing secret of the selected webhooks")
    def rotate_secret(self, request, queryset):
        for_each(
            request,
            queryset,
            lambda webhook: services.webhook_rotate_secret(webhook=webhook, actor=request.user),
            done=lambda rotated: f"{len(rotated)} secret(s) rotated.",
            failed=refused,
        )


class WebhookAttemptInline(LabelledTabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "at",
        "succeeded",
        "status_code",
        "latency_ms",
        "response_excerpt",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(
    ScaleAdminMixin, ManagersOnlyMixin, RolePermissionsMixin, admin.ModelAdmin
):
    list_display = [
        "event_type",
        "webhook",
        "coloured_status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "webhook", "event__type"]
    list_select_related = ["webhook", "event"]
    search_fields = ["event__id", "webhook__name"]
    readonly_fields = [
        "webhook",
        "event",
        "event_payload",
        "status",
        "attempt_count",
        "attempt_limit",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    exclude = ["updated_at"]
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    def get_queryset(self, request):
        # the last attempt's status code is shown per row: one query for the page
        return super().get_queryset(request).prefetch_related("attempts")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="payload")
    def event_payload(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.event.payload, indent=2))

    @admin.display(description="status", ordering="status")
    def coloured_status(self, delivery: WebhookDelivery) -> str:
        colour = {
            DeliveryStatus.SUCCEEDED: "#15803d",
            DeliveryStatus.FAILED: "#b91c1c",
            DeliveryStatus.PENDING: "#b45309",
        }[delivery.status]
        return format_html(
            '<strong style="color:{}">{}</strong>', colour, delivery.get_status_display()
        )

    @admin.display(description="last answer")
    def last_status_code(self, delivery: WebhookDelivery) -> str:
        attempts = list(delivery.attempts.all())
        if not attempts:
            return "—"
        last = attempts[-1]
        return str(last.status_code or last.error[:40] or "—")

    @admin.action(description="Retry the selected deliveries now")
    def retry_now(self, request, queryset):
        for_each(
            request,
            queryset.exclude(status=DeliveryStatus.SUCCEEDED),
            lambda delivery: services.webhook_delivery_retry(delivery=delivery, actor=request.user),
            done=lambda retried: f"{len(retried)} deliveries scheduled again.",
            failed=refused,
        )
