"""Reference data and what the system writes: goals, the service and practice catalogue,
the transition log, events and the reference counter."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils.html import format_html

from .. import permissions, services
from ..models import Counter, Event, Goal, Practice, Service, TransitionLog
from .base import (
    NoRevertHistoryAdmin,
    ReadOnlyAdmin,
    RolePermissionsMixin,
    ServiceWritesMixin,
    adopt,
    values_of,
)
from .scale import ScaleAdminMixin


class InitiativeCountMixin:
    """How many initiatives point at the row, counted in the list's own query."""

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_initiatives=Count("initiatives"))

    @admin.display(description="initiatives", ordering="_initiatives")
    def initiative_count(self, obj):
        return obj._initiatives


# --- reference data -----------------------------------------------------------------------


@admin.register(Goal)
class GoalAdmin(InitiativeCountMixin, ServiceWritesMixin, NoRevertHistoryAdmin):
    list_display = ("title", "owner", "horizon", "active", "initiative_count", "updated_at")
    list_filter = ("active", "horizon")
    list_select_related = ("owner",)
    search_fields = ("title", "description")
    autocomplete_fields = ("owner",)
    date_hierarchy = "horizon"
    readonly_fields = ("created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # goals are retired (active = off), so their initiatives keep them

    def save_model(self, request, obj, form, change):
        data = values_of(obj, ("title", "description", "owner", "horizon", "active"))
        if change:
            services.goal_update(goal=obj, actor=request.user, **data)
        else:
            adopt(obj, services.goal_create(actor=request.user, **data))


class CatalogueAdmin(
    InitiativeCountMixin, ServiceWritesMixin, RolePermissionsMixin, admin.ModelAdmin
):
    """Services and practices: the catalogue initiatives point at. Saves go through
    services.service_save / practice_save."""

    save_service = None  # set by the subclasses

    list_display = ("name", "owner", "initiative_count")
    list_select_related = ("owner",)
    search_fields = ("name", "description")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        # the form already set the values on obj; the service validates and saves them
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        type(self).save_service(actor=request.user, **{self.model._meta.model_name: obj}, **data)


@admin.register(Service)
class ServiceAdmin(CatalogueAdmin):
    save_service = staticmethod(services.service_save)


@admin.register(Practice)
class PracticeAdmin(CatalogueAdmin):
    save_service = staticmethod(services.practice_save)


# --- written by the system only -----------------------------------------------------------


@admin.register(TransitionLog)
class TransitionLogAdmin(ScaleAdminMixin, ReadOnlyAdmin):
    list_display = ("at", "initiative", "from_step", "to_step", "actor", "iteration", "comment")
    list_select_related = ("initiative", "actor")
    list_filter = ("to_step", "from_step")
    search_fields = ("initiative__reference", "initiative__title", "comment", "actor__username")
    date_hierarchy = "at"


@admin.register(Event)
class EventAdmin(ScaleAdminMixin, ReadOnlyAdmin):
    list_display = ("type", "id", "created_at", "dispatched_at")
    list_filter = ("type", ("dispatched_at", admin.EmptyFieldListFilter))
    search_fields = ("id",)
    fields = ("id", "type", "created_at", "dispatched_at", "payload_pretty")
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))


@admin.register(Counter)
class CounterAdmin(ReadOnlyAdmin):
    """The reference counter: shown so a manager can see the last number handed out."""

    list_display = ("name", "value")
    search_fields = ("name",)


# --- accounts -----------------------------------------------------------------------------

#: what only a superuser may set: the superuser flag and raw model permissions
GRANTING_FIELDS = ("is_superuser", "user_permissions")


admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class CIRUserAdmin(UserAdmin):
    """Users and their roles. A CSI manager gives roles (groups) and admin access; only a
    superuser makes a superuser, hands out raw permissions, or changes a superuser's account
    (permissions.may_grant_permissions / may_administer_user)."""

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if permissions.may_grant_permissions(request.user):
            return readonly
        return (*readonly, *GRANTING_FIELDS)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and permissions.may_administer_user(
            request.user, obj
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and permissions.may_administer_user(
            request.user, obj
        )

    def delete_queryset(self, request, queryset):
        # the bulk delete asks no per-row permission: superusers are left out here
        if not permissions.may_grant_permissions(request.user):
            queryset = queryset.filter(is_superuser=False)
        super().delete_queryset(request, queryset)


@admin.register(Group)
class CIRGroupAdmin(GroupAdmin):
    """The role groups: their permissions are set by a superuser (or by migrate's sync,
    improvement/roles.py), never by a CSI manager."""

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if permissions.may_grant_permissions(request.user):
            return readonly
        return (*readonly, "permissions")
