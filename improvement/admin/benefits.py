"""What benefits realised: to read (recorded on the initiative page and by the API through
services.benefit_realise; the expected benefits are an inline of the initiative)."""

from __future__ import annotations

from django.contrib import admin

from ..models import BenefitRealisation
from .base import ManagersOnlyMixin, ReadOnlyMixin


@admin.register(BenefitRealisation)
class BenefitRealisationAdmin(ManagersOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("benefit", "amount", "step", "iteration", "recorded_by", "recorded_at")
    list_select_related = ("benefit", "recorded_by")
    search_fields = ("benefit__initiative__reference", "benefit__description")
    fields = ("benefit", "amount", "step", "iteration", "note", "recorded_by", "recorded_at")
    readonly_fields = fields
    show_full_result_count = False
