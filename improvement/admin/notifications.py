"""Notifications and preferences in the admin: to read, for CSI managers only (a person's
notifications are theirs; people mark them read and choose their preferences themselves).
Followers are shown on the initiative's page (inlines.WatcherInline)."""

from django.contrib import admin

from ..models import Notification, NotificationPreference
from .base import ManagersOnlyMixin, ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ManagersOnlyMixin, ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "kind", "initiative", "read_at", "email_state")
    list_filter = ("kind", "email_state", ("read_at", admin.EmptyFieldListFilter))
    list_select_related = ("recipient", "initiative")
    search_fields = ("recipient__username", "initiative__reference", "text")
    date_hierarchy = "created_at"
    fields = ("recipient", "kind", "initiative", "event", "key", "text", "link", "created_at",
              "read_at", "email_state", "emailed_at")  # fmt: skip
    readonly_fields = fields


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ManagersOnlyMixin, ReadOnlyAdmin):
    list_display = ("user", "kind", "delivery")
    list_filter = ("kind", "delivery")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "kind", "delivery")
    readonly_fields = fields
