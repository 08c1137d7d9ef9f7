"""What belongs to one initiative, on its own pages: step records, actions, reviews, KPIs
(with their revisions and the re-baseline page of rebaseline.py), their measurements and
checks. Saves go through the services of each entity."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote

from .. import permissions, services, workflow
from ..choices import KPIStatus
from ..models import (
    KPI,
    Action,
    Baseline,
    KPICheck,
    KPIRevision,
    Measurement,
    Plan,
    Review,
    Sustain,
    Target,
    Vision,
)
from ..services.kpis import KPI_FIELDS
from .base import (
    DEFINITION_LOCKED,
    REVIEW_FIELDS,
    REVIEW_READONLY,
    DeletedByServiceMixin,
    KeptAsWrittenMixin,
    KPIDefinitionForm,
    NoRevertHistoryAdmin,
    ReadOnlyAdmin,
    ReviewSnapshotMixin,
    ServiceWritesMixin,
    StatusBadgeMixin,
    adopt,
    revision_changes,
    values_of,
    write_action,
    write_kpi,
    write_review,
    write_step_record,
)
from .inlines import KPIRevisionInline
from .rebaseline import RebaselineMixin
from .scale import AttentionFilter, OverdueFilter, ScaleAdminMixin


class InitiativeChildAdmin(ScaleAdminMixin, ServiceWritesMixin, NoRevertHistoryAdmin):
    """Common ground of the records that belong to one initiative."""

    list_select_related = ("initiative",)
    autocomplete_fields = ("initiative",)

    @admin.display(description="step", ordering="initiative__step")
    def initiative_step(self, obj):
        return obj.initiative.get_step_display()

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        # a record never changes hands
        return (*readonly, "initiative") if obj is not None else readonly

    def may_edit_initiative(self, request, obj) -> bool:
        """Whether the user may edit the initiative `obj` belongs to (any, without obj)."""
        return obj is None or permissions.may_edit(request.user, obj.initiative)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and self.may_edit_initiative(request, obj)


# --- step records -------------------------------------------------------------------------


class StepRecordAdmin(InitiativeChildAdmin):
    list_display = ("__str__", "initiative", "initiative_step", "updated_by", "updated_at")
    list_select_related = ("initiative", "updated_by")
    list_filter = ("initiative__step",)
    date_hierarchy = "updated_at"
    search_fields = ("initiative__reference", "initiative__title")
    readonly_fields = ("updated_by", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # a record is emptied, not deleted

    def save_model(self, request, obj, form, change):
        adopt(obj, write_step_record(obj, initiative=obj.initiative, actor=request.user))


@admin.register(Vision)
class VisionAdmin(StepRecordAdmin):
    search_fields = (*StepRecordAdmin.search_fields, "statement", "expected_value")


@admin.register(Baseline)
class BaselineAdmin(StepRecordAdmin):
    search_fields = (*StepRecordAdmin.search_fields, "assessment")


@admin.register(Target)
class TargetAdmin(StepRecordAdmin):
    search_fields = (*StepRecordAdmin.search_fields, "objectives", "csfs")


@admin.register(Plan)
class PlanAdmin(StepRecordAdmin):
    search_fields = (*StepRecordAdmin.search_fields, "approach", "hypotheses")


@admin.register(Sustain)
class SustainAdmin(StepRecordAdmin):
    search_fields = (*StepRecordAdmin.search_fields, "embedding", "lessons_learned")


# --- actions and reviews ------------------------------------------------------------------


@admin.register(Action)
class ActionAdmin(InitiativeChildAdmin):
    list_display = (
        "title",
        "initiative",
        "owner",
        "due_date",
        "status",
        "iteration",
        "completed_at",
    )
    list_select_related = ("initiative", "owner")
    list_filter = (OverdueFilter, "status", "due_date")
    search_fields = ("title", "notes", "initiative__reference", "initiative__title")
    autocomplete_fields = ("initiative", "owner")
    readonly_fields = ("iteration", "completed_at", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # set the status to 'dropped' instead

    def save_model(self, request, obj, form, change):
        only = set(form.changed_data) if change else None
        saved = write_action(obj, initiative=obj.initiative, actor=request.user, only=only)
        if not change:
            adopt(obj, saved)


@admin.register(Review)
class ReviewAdmin(ReviewSnapshotMixin, KeptAsWrittenMixin, InitiativeChildAdmin):
    """Reviews are written once, through review_create, and then kept as they were."""

    list_display = (
        "__str__",
        "initiative",
        "iteration",
        "decision",
        "overridden",
        "reviewed_by",
        "created_at",
    )
    list_select_related = ("initiative", "reviewed_by")
    list_filter = ("decision", "iteration")
    search_fields = ("initiative__reference", "initiative__title", "progress_check", "notes")
    date_hierarchy = "created_at"
    fields = ("initiative", *REVIEW_FIELDS)
    readonly_fields = REVIEW_READONLY

    @admin.display(description="override", boolean=True)
    def overridden(self, obj):
        """Whether the decision departs from the KPI snapshot, with a justification."""
        return bool(obj.decision_override)

    def save_model(self, request, obj, form, change):
        adopt(obj, write_review(obj, initiative=obj.initiative, actor=request.user))


# --- KPIs, their measurements and checks --------------------------------------------------


class KPIForm(KPIDefinitionForm):
    target_change_pct = forms.FloatField(
        required=False,
        label="Target as change %",
        help_text="Instead of a target value: e.g. -15 sets the target 15 % below the baseline.",
    )

    class Meta:
        model = KPI
        fields = ("initiative", *KPI_FIELDS)


@admin.register(KPI)
class KPIAdmin(RebaselineMixin, StatusBadgeMixin, DeletedByServiceMixin, InitiativeChildAdmin):
    """A KPI's definition through kpi_create / kpi_update; after step 3 its baseline and
    target are read-only and change by a CSI manager's re-baseline (rebaseline.py)."""

    form = KPIForm
    list_display = (
        "name",
        "key",
        "initiative",
        "status_badge",
        "baseline_value",
        "target_value",
        "unit",
        "target_date",
        "last_checked_at",
    )
    list_select_related = ("initiative",)
    list_filter = (AttentionFilter, "status", "kind", "direction", "aggregation")
    search_fields = ("key", "name", "initiative__reference", "initiative__title")
    ordering = ("-pk",)  # newest first: by name or initiative sorts every KPI
    readonly_fields = ("status_badge", "last_checked_at", "data_changed_at", "created_at")
    fieldsets = (
        (None, {"fields": ("initiative", "key", "name", "unit", "kind", "csf")}),
        ("Current value", {"fields": ("direction", "aggregation", "window_days", "tolerance")}),
        ("Point A", {"fields": ("baseline_value", "baseline_date")}),
        ("Point B", {"fields": ("target_value", "target_change_pct", "target_date")}),
        ("Checks", {"fields": ("status_badge", "last_checked_at", "data_changed_at")}),
    )
    inlines = (KPIRevisionInline,)
    actions = ("check_now",)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and self.may_edit_initiative(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return form.with_lock(obj is not None and workflow.kpi_definition_locked(obj.initiative))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        kpi = self.get_object(request, unquote(object_id))
        if kpi is not None and workflow.kpi_definition_locked(kpi.initiative):
            extra_context["definition_locked"] = DEFINITION_LOCKED
        if kpi is not None and self.may_rebaseline(request, kpi):
            extra_context["rebaseline_url"] = self.rebaseline_url(kpi)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_formset(self, request, form, formset, change):
        """Nothing to save: the revisions are written by the KPI services (commit=False only
        fills what the admin's change message reads)."""
        formset.save(commit=False)

    def save_model(self, request, obj, form, change):
        pct = form.cleaned_data.get("target_change_pct")
        # the service turns a change % into target_value (and refuses it next to a new one)
        extra = {"target_change_pct": pct} if pct is not None else {}
        only = set(form.changed_data) if change else None
        saved = write_kpi(obj, initiative=obj.initiative, actor=request.user, only=only, **extra)
        if not change:
            adopt(obj, saved)

    @admin.action(description="Check selected KPIs now")
    def check_now(self, request, queryset):
        keys = dict(queryset.values_list("pk", "key"))
        # the sweep's engine, set-based: a few queries for the whole selection
        results = services.kpis_check(kpi_ids=list(keys)).results
        for pk, key in keys.items():
            messages.info(request, f"{key}: {KPIStatus(results[pk].status).label}.")

    def delete_model(self, request, obj):
        services.kpi_delete(kpi=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for kpi in queryset:
            services.kpi_delete(kpi=kpi, actor=request.user)


@admin.register(KPIRevision)
class KPIRevisionAdmin(ReadOnlyAdmin):
    """Every change of a KPI's definition (who, when, why, old → new): written by the KPI
    services only, so nobody adds, changes or deletes one here."""

    list_display = ("kpi", "initiative", "kind", "by", "at", "reason", "changes_shown")
    list_select_related = ("kpi", "kpi__initiative", "by")
    list_filter = ("kind", "at")
    search_fields = ("kpi__key", "kpi__name")
    date_hierarchy = "at"
    fields = ("kpi", "kind", "by", "at", "reason", "changes_shown")
    readonly_fields = fields

    @admin.display(description="initiative", ordering="kpi__initiative__reference")
    def initiative(self, obj):
        return obj.kpi.initiative.reference

    @admin.display(description="changes (old → new)")
    def changes_shown(self, obj):
        return revision_changes(obj.changes)


@admin.register(Measurement)
class MeasurementAdmin(ScaleAdminMixin, ServiceWritesMixin, NoRevertHistoryAdmin):
    """Measurements mostly arrive from ITSM tools through the API. A manager may add a
    point or correct one here, through services.measurement_record (which re-checks the
    KPI and writes the point's history); a point is corrected, never deleted."""

    list_display = ("kpi", "initiative", "value", "measured_at", "source", "recorded_by")
    list_select_related = ("kpi", "kpi__initiative", "recorded_by")
    # newest first; no filter nor date drill-down that reads every one of millions of rows
    ordering = ("-pk",)
    search_fields = ("kpi__key", "kpi__name", "kpi__initiative__reference", "note")
    autocomplete_fields = ("kpi",)
    fields = ("kpi", "value", "measured_at", "source", "note", "recorded_by", "recorded_at")
    readonly_fields = ("recorded_by", "recorded_at")

    @admin.display(description="initiative", ordering="kpi__initiative__reference")
    def initiative(self, obj):
        return obj.kpi.initiative.reference

    def get_readonly_fields(self, request, obj=None):
        # the (kpi, instant) pair is the point's identity: only its value and notes change
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "kpi", "measured_at") if obj is not None else readonly

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # a derived KPI's points are computed from ITSM records: shown, never edited
        if obj is not None and obj.kpi.derived:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        point = values_of(obj, ("value", "measured_at", "source", "note"))
        services.measurement_record(kpi=obj.kpi, actor=request.user, points=[point])
        adopt(obj, Measurement.objects.get(kpi=obj.kpi, measured_at=obj.measured_at))


@admin.register(KPICheck)
class KPICheckAdmin(ScaleAdminMixin, StatusBadgeMixin, ReadOnlyAdmin):
    list_display = (
        "kpi",
        "status_badge",
        "previous_status",
        "current",
        "progress",
        "expected",
        "measurement_count",
        "checked_at",
    )
    list_select_related = ("kpi",)
    list_filter = ("status", "previous_status")
    search_fields = ("kpi__key", "kpi__name")
    # newest first by the primary key (checks are written in time order): a sweep writes
    # thousands with one checked_at, which the checked_at index cannot order among them
    ordering = ("-pk",)
