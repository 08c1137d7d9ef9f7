"""The records of an initiative as inlines of its change form.

Each inline saves its rows through the services (`save_rows`, called by the initiative's
admin for its formset): step records through step_record_update, KPIs through kpi_create /
kpi_update / kpi_delete, actions through action_create / action_update, reviews through
review_create. The transition log is written by the workflow only, a KPI's revisions (an
inline of the KPI's page) by the KPI services only.
"""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.contrib import admin
from django.db import models

from .. import services, workflow
from ..models import (
    KPI,
    Action,
    Baseline,
    Benefit,
    KPIRevision,
    Plan,
    Review,
    Sustain,
    Target,
    TransitionLog,
    Vision,
    Watcher,
)
from ..workflow import may_record_review
from .base import (
    REVIEW_FIELDS,
    REVIEW_READONLY,
    KeptAsWrittenMixin,
    KPIDefinitionForm,
    LabelledTabularInline,
    ReadOnlyMixin,
    ReviewSnapshotMixin,
    RolePermissionsMixin,
    StatusBadgeMixin,
    revision_changes,
    write_action,
    write_kpi,
    write_review,
    write_step_record,
)


class StepRecordInline(RolePermissionsMixin, admin.StackedInline):
    """The one record of a step, saved through services.step_record_update."""

    extra = 1
    max_num = 1
    can_delete = False
    readonly_fields = ("updated_by", "updated_at")
    formfield_overrides: ClassVar = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})}
    }

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        for obj in formset.new_objects + [o for o, _ in formset.changed_objects]:
            write_step_record(obj, initiative=initiative, actor=actor)


class VisionInline(StepRecordInline):
    model = Vision
    fields = (
        "statement",
        "expected_value",
        "stakeholders",
        "authority",
        *StepRecordInline.readonly_fields,
    )


class BaselineInline(StepRecordInline):
    model = Baseline
    fields = ("assessment", "method", "assessed_on", *StepRecordInline.readonly_fields)


class TargetInline(StepRecordInline):
    model = Target
    fields = ("objectives", "csfs", *StepRecordInline.readonly_fields)


class PlanInline(StepRecordInline):
    model = Plan
    fields = ("approach", "hypotheses", "checkpoints", "risks", *StepRecordInline.readonly_fields)


class SustainInline(StepRecordInline):
    model = Sustain
    fields = ("embedding", "lessons_learned", "monitor_until", *StepRecordInline.readonly_fields)


class KPIInline(StatusBadgeMixin, RolePermissionsMixin, LabelledTabularInline):
    """KPIs through kpi_create / kpi_update / kpi_delete; the rest of a KPI on its own page.

    Once the initiative has left step 3, the baseline and target of its KPIs are shown
    read-only (KPIDefinitionForm); a KPI added then is defined in full.
    """

    model = KPI
    form = KPIDefinitionForm
    extra = 0
    show_change_link = True
    fields = (
        "key",
        "name",
        "unit",
        "direction",
        "aggregation",
        "baseline_value",
        "baseline_date",
        "target_value",
        "target_date",
        "status_badge",
    )
    readonly_fields = ("status_badge",)

    def get_formset(self, request, obj=None, **kwargs):
        locked = obj is not None and workflow.kpi_definition_locked(obj)
        kwargs["form"] = self.form.with_lock(locked)
        return super().get_formset(request, obj, **kwargs)

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        for obj in formset.new_objects:
            write_kpi(obj, initiative=initiative, actor=actor, only=formset.form.base_fields)
        for obj, changed in formset.changed_objects:
            write_kpi(obj, initiative=initiative, actor=actor, only=changed)
        for obj in formset.deleted_objects:
            services.kpi_delete(kpi=obj, actor=actor)


class ActionInline(RolePermissionsMixin, LabelledTabularInline):
    """Actions through action_create / action_update; an action is dropped, not deleted."""

    model = Action
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("title", "owner", "due_date", "status", "notes", "iteration", "completed_at")
    readonly_fields = ("iteration", "completed_at")
    formfield_overrides: ClassVar = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 1})}
    }

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        for obj in formset.new_objects:
            write_action(obj, initiative=initiative, actor=actor)
        for obj, changed in formset.changed_objects:
            write_action(obj, initiative=initiative, actor=actor, only=changed)


class ReviewInline(
    ReviewSnapshotMixin, KeptAsWrittenMixin, RolePermissionsMixin, admin.StackedInline
):
    """The review of each iteration. Written once through review_create (which snapshots
    the KPIs), then kept as it was: existing reviews are read-only."""

    model = Review
    extra = 1
    can_delete = False
    fields = REVIEW_FIELDS
    readonly_fields = REVIEW_READONLY

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewed_by")

    def has_add_permission(self, request, obj=None):
        # the workflow says when: one review per iteration, in step 6
        return (
            super().has_add_permission(request, obj) and obj is not None and may_record_review(obj)
        )

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        for obj in formset.new_objects:
            write_review(obj, initiative=initiative, actor=actor)


class KPIRevisionInline(ReadOnlyMixin, RolePermissionsMixin, LabelledTabularInline):
    """Every change of a KPI's definition, on the KPI's page: written by the KPI services
    only (kpi_create / kpi_update / kpi_rebaseline), never added, changed or deleted here."""

    model = KPIRevision
    extra = 0
    can_delete = False
    fields = ("at", "kind", "by", "reason", "changes_shown")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "revisions of the definition"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")

    @admin.display(description="changes (old → new)")
    def changes_shown(self, obj):
        return revision_changes(obj.changes)


class TransitionLogInline(ReadOnlyMixin, RolePermissionsMixin, LabelledTabularInline):
    """The moves of the initiative: written by the workflow only."""

    model = TransitionLog
    extra = 0
    can_delete = False
    fields = ("at", "from_step", "to_step", "actor", "iteration", "comment")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "transition log"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        """Nothing to save: the log is read-only."""


# --- benefits ---


class BenefitInline(RolePermissionsMixin, LabelledTabularInline):
    """Expected benefits through benefit_create / benefit_update / benefit_delete; what one
    realised is recorded on the initiative page or the API (read-only here)."""

    model = Benefit
    extra = 0
    fields = ("category", "description", "amount", "unit", "kpi", "realised_amount")
    readonly_fields = ("realised_amount",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("kpi")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "kpi":  # the KPIs of this initiative only
            match = request.resolver_match
            object_id = match.kwargs.get("object_id") if match else None
            field.queryset = KPI.objects.filter(initiative_id=object_id).order_by("name")
        return field

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        names = ("category", "description", "amount", "unit", "kpi")
        for obj in formset.new_objects:
            services.benefit_create(
                actor=actor, initiative=initiative, **{n: getattr(obj, n) for n in names}
            )
        for obj, changed in formset.changed_objects:
            data = {n: getattr(obj, n) for n in names if n in changed}
            services.benefit_update(actor=actor, benefit=obj, **data)
        for obj in formset.deleted_objects:
            services.benefit_delete(actor=actor, benefit=obj)


class WatcherInline(ReadOnlyMixin, RolePermissionsMixin, LabelledTabularInline):
    """Who follows the initiative (the Informed watch it too: they are on its RACI).
    Following is the user's own choice, made on the initiative page or by the API."""

    model = Watcher
    extra = 0
    can_delete = False
    fields = ("user", "created_at")
    readonly_fields = fields
    ordering = ("user__username",)
    verbose_name = "follower"
    verbose_name_plural = "followers (watchers besides the Informed)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @classmethod
    def save_rows(cls, formset, *, initiative, actor) -> None:
        """Nothing to save: people follow and unfollow themselves."""
