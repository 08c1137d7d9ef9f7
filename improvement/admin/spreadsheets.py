"""The saved column mappings of the register import: to read (they are saved, and
replaced under the same name, by the import page and the API through
services.import_mapping_save)."""

from __future__ import annotations

from django.contrib import admin

from ..models import ImportMapping
from .base import ManagersOnlyMixin, ReadOnlyMixin


@admin.register(ImportMapping)
class ImportMappingAdmin(ManagersOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "created_by", "updated_at")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    fields = ("name", "mapping", "created_by", "created_at", "updated_at")
    readonly_fields = fields
