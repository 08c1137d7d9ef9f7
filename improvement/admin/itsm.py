"""ITSM records, their imports and the derivations of derived KPIs: to read (records
arrive by the import and the push API, services.itsm; derivations by promote,
services.derived). The record list is sized for millions of rows (estimated counts)."""

from __future__ import annotations

from django.contrib import admin

from ..models import ITSMImport, ITSMRecord, KPIDerivation
from .base import ManagersOnlyMixin, ReadOnlyMixin
from .scale import ScaleAdminMixin


@admin.register(ITSMRecord)
class ITSMRecordAdmin(ScaleAdminMixin, ManagersOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "number", "system", "kind", "state", "priority", "category", "service",
        "assignment_group", "opened_at", "resolved_at",
    )  # fmt: skip
    list_filter = ("kind",)
    search_fields = ("=number",)
    ordering = ("-id",)
    exclude = ("initiatives",)
    readonly_fields = [
        f.name for f in ITSMRecord._meta.get_fields() if f.concrete and not f.many_to_many
    ]


@admin.register(ITSMImport)
class ITSMImportAdmin(ManagersOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "system", "kind", "file_name", "status", "progress", "created_by",
                    "created_at")  # fmt: skip
    list_select_related = ("created_by",)
    ordering = ("-id",)
    fields = ("system", "kind", "file_name", "status", "progress", "result", "options",
              "created_by", "created_at")  # fmt: skip
    readonly_fields = fields
    show_full_result_count = False


@admin.register(KPIDerivation)
class KPIDerivationAdmin(ManagersOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("kpi", "metric", "dimension", "group", "kind", "system", "bucket")
    list_select_related = ("kpi",)
    readonly_fields = [f.name for f in KPIDerivation._meta.get_fields() if f.concrete]
