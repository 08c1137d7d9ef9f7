"""The admin console for CSI managers (SPEC §5): triage, records, bulk work.

The admin holds no business rules of its own. Every write goes through
`improvement.services` (STYLE rule 1): `save_model` / `save_formset` hand the cleaned form
values to the service of the entity, and a domain error (Forbidden, InvalidInput,
Conflict, TransitionBlocked) comes back as a page message, with nothing saved.

The step is read-only everywhere. An initiative moves on its transition page
(`<id>/transition/`, also embedded in the change form), which lists
`workflow.allowed_transitions` — every allowed move as a POST button, every blocked one
with its unmet conditions — and posts to `services.initiative_transition`.
"""

from __future__ import annotations

import json
from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_fsm import ConcurrentTransition
from simple_history.admin import SimpleHistoryAdmin

from . import permissions, services
from .choices import (
    FINAL_STEPS,
    SEVEN_STEPS,
    STATUS_COLOURS,
    KPIStatus,
    Outcome,
    Priority,
    Step,
)
from .exceptions import CIRError, Conflict, InvalidInput, TransitionBlocked
from .models import (
    KPI,
    Action,
    Baseline,
    Counter,
    Event,
    Goal,
    Initiative,
    KPICheck,
    Measurement,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    TransitionLog,
    Vision,
)
from .services.initiatives import ACTION_FIELDS, INITIATIVE_FIELDS, RACI_FIELDS, RECORDS
from .services.kpis import KPI_FIELDS
from .workflow import allowed_transitions

#: the step record models and the name `services.step_record_update` knows them by
STEP_RECORD_NAMES: dict[type, str] = {model: name for name, (model, _) in RECORDS.items()}

#: inputs a move may require, as the transition forms ask for them
REQUIREMENT_LABELS = {
    "reason": "Reason",
    "lessons_learned": "Lessons learned",
    "outcome": "Outcome",
}


# --- helpers ------------------------------------------------------------------------------


def status_badge(value: str, label: str) -> str:
    """A KPI status or health as a coloured pill (colours from choices.STATUS_COLOURS)."""
    colour = STATUS_COLOURS.get(str(value), "#64748b")
    return format_html(
        '<span class="cir-badge" style="background:{};color:#fff;border-radius:9px;'
        'padding:1px 8px;white-space:nowrap">{}</span>',
        colour,
        label,
    )


def report_error(request, exc: CIRError) -> None:
    """Show a domain error as admin messages: every unmet condition, every field error."""
    messages.error(request, exc.message)
    if isinstance(exc, TransitionBlocked):
        for reason in exc.reasons:
            messages.error(request, reason)
    elif isinstance(exc, InvalidInput) and isinstance(exc.errors, dict):
        for field_name, errors in exc.errors.items():
            for error in errors if isinstance(errors, list | tuple) else [errors]:
                if str(error) != exc.message:
                    messages.error(request, f"{field_name}: {error}")


def adopt(obj, saved) -> None:
    """Make the admin's unsaved `obj` the row a service created (pk, reference, state)."""
    obj.__dict__.update(saved.__dict__)


def values_of(obj, names, *, only=None) -> dict:
    """The attributes `names` of a form-filled instance, optionally limited to `only`."""
    return {n: getattr(obj, n) for n in names if only is None or n in only}


class RolePermissionsMixin:
    """CSI managers hold every right in the admin by their role (SPEC §5: "everything");
    anyone else needs Django's model permissions. Subclasses refine with the register's
    rules (permissions.py), never loosen them."""

    def _is_csi(self, request) -> bool:
        return permissions.is_csi_manager(request.user)

    def has_module_permission(self, request):
        return self._is_csi(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._is_csi(request) or super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_delete_permission(request, obj)


class ServiceWritesMixin:
    """Turns domain errors raised by services during a save or delete into messages.

    The admin wraps the save in a transaction, so an error rolls everything back; the
    user is sent back to the page with the error instead of a 500.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except CIRError as exc:
            report_error(request, exc)
        except ConcurrentTransition:
            report_error(
                request,
                Conflict("The initiative was moved by someone else. Reload and try again."),
            )
        return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except CIRError as exc:
            report_error(request, exc)
        return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Rows written only by the system (logs, checks, events): to read, never to edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoRevertHistoryAdmin(RolePermissionsMixin, SimpleHistoryAdmin):
    """History (who, when, what changed) to read; reverting would bypass the services."""

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Reverting to an old version is not offered.")
        return super().history_form_view(request, object_id, version_id, extra_context)


# --- reference data -----------------------------------------------------------------------


@admin.register(Goal)
class GoalAdmin(ServiceWritesMixin, NoRevertHistoryAdmin):
    list_display = ("title", "owner", "horizon", "active", "initiative_count", "updated_at")
    list_filter = ("active", "horizon")
    list_select_related = ("owner",)
    search_fields = ("title", "description")
    autocomplete_fields = ("owner",)
    date_hierarchy = "horizon"
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_initiatives=Count("initiatives"))

    @admin.display(description="initiatives", ordering="_initiatives")
    def initiative_count(self, obj):
        return obj._initiatives

    def has_delete_permission(self, request, obj=None):
        return False  # goals are retired (active = off), so their initiatives keep them

    def save_model(self, request, obj, form, change):
        data = values_of(obj, ("title", "description", "owner", "horizon", "active"))
        if change:
            services.goal_update(goal=obj, actor=request.user, **data)
        else:
            adopt(obj, services.goal_create(actor=request.user, **data))


class CatalogueAdmin(ServiceWritesMixin, RolePermissionsMixin, admin.ModelAdmin):
    """Services and practices: the catalogue initiatives point at. Saves go through
    services.service_save / practice_save."""

    save_service = None  # set by the subclasses

    list_display = ("name", "owner", "initiative_count")
    list_select_related = ("owner",)
    search_fields = ("name", "description")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_initiatives=Count("initiatives"))

    @admin.display(description="initiatives", ordering="_initiatives")
    def initiative_count(self, obj):
        return obj._initiatives

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


# --- inlines of the initiative ------------------------------------------------------------


class StepRecordInline(RolePermissionsMixin, admin.StackedInline):
    """The one record of a step, saved through services.step_record_update."""

    extra = 1
    max_num = 1
    can_delete = False
    readonly_fields = ("updated_by", "updated_at")
    formfield_overrides: ClassVar = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})}
    }


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


class KPIInline(RolePermissionsMixin, admin.TabularInline):
    """KPIs through kpi_create / kpi_update / kpi_delete; the rest of a KPI on its own page."""

    model = KPI
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

    @admin.display(description="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display()) if obj.pk else "–"


class ActionInline(RolePermissionsMixin, admin.TabularInline):
    """Actions through action_create / action_update; an action is dropped, not deleted."""

    model = Action
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("title", "owner", "due_date", "status", "notes", "iteration", "completed_at")
    readonly_fields = ("iteration", "completed_at")
    autocomplete_fields = ("owner",)
    formfield_overrides: ClassVar = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 1})}
    }

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")


#: a review as the admin shows it, in its inline and on its own page
REVIEW_FIELDS = ("iteration", "decision", "progress_check", "value_check", "notes",
                 "reviewed_by", "created_at", "snapshot")  # fmt: skip
REVIEW_READONLY = ("iteration", "reviewed_by", "created_at", "snapshot")


class ReviewInline(RolePermissionsMixin, admin.StackedInline):
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
        # one review per iteration, written in step 6
        return (
            super().has_add_permission(request, obj)
            and obj is not None
            and obj.step == Step.REVIEW
            and not obj.reviews.filter(iteration=obj.iteration).exists()
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="KPI snapshot")
    def snapshot(self, obj):
        return kpi_snapshot_table(obj)


def kpi_snapshot_table(review: Review | None) -> str:
    """A review's KPI snapshot as a small table."""
    rows = (review.kpi_snapshot or []) if review is not None and review.pk else []
    if not rows:
        return "–"
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                row.get("name"),
                row.get("baseline_value"),
                row.get("target_value"),
                row.get("current"),
                status_badge(row.get("status") or "", row.get("status") or "–"),
            )
            for row in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>KPI</th><th>baseline</th><th>target</th><th>current</th>"
        "<th>status</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


class TransitionLogInline(RolePermissionsMixin, admin.TabularInline):
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

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the initiative -----------------------------------------------------------------------

#: the steps in which an inline is open on the change form (folded away in the others)
INLINE_STEPS = {
    VisionInline: {Step.PROPOSED, Step.VISION},
    BaselineInline: {Step.BASELINE},
    KPIInline: {Step.BASELINE, Step.TARGET, Step.ACTION, Step.REVIEW, Step.SUSTAIN},
    TargetInline: {Step.TARGET},
    PlanInline: {Step.PLAN},
    ActionInline: {Step.PLAN, Step.ACTION},
    ReviewInline: {Step.REVIEW},
    SustainInline: {Step.SUSTAIN, Step.CLOSED},
}


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each initiative and in its transition log.",
    )


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(
        choices=[("", "Derived from the score"), *Priority.choices],
        required=False,
        help_text="“Derived from the score” hands the priority back to (value + urgency) / effort.",
    )


def stepper(initiative: Initiative) -> list[dict]:
    """The seven steps with where the initiative stands: done, current or to do."""
    current = initiative.step
    if current == Step.CLOSED:
        position = len(SEVEN_STEPS)
    elif current in SEVEN_STEPS:
        position = SEVEN_STEPS.index(current)
    else:
        position = -1
    return [
        {
            "value": str(step),
            "label": step.label,
            "state": "current" if i == position else ("done" if i < position else "todo"),
        }
        for i, step in enumerate(SEVEN_STEPS)
    ]


@admin.register(Initiative)
class InitiativeAdmin(ServiceWritesMixin, NoRevertHistoryAdmin):
    list_display = (
        "reference",
        "title",
        "step",
        "health_badge",
        "priority",
        "score_display",
        "iteration",
        "accountable",
        "service",
        "due_date",
        "updated_at",
    )
    list_display_links = ("reference", "title")
    list_filter = (
        "step",
        "health",
        "priority",
        "source",
        ("service", admin.RelatedOnlyFieldListFilter),
        ("practice", admin.RelatedOnlyFieldListFilter),
        "goals",
        ("accountable", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("accountable", "service", "practice")
    search_fields = ("reference", "title", "description", "external_id")
    date_hierarchy = "created_at"
    autocomplete_fields = (
        "service",
        "practice",
        "goals",
        "accountable",
        "responsible",
        "consulted",
        "informed",
    )
    readonly_fields = (
        "reference",
        "step",
        "iteration",
        "health",
        "health_badge",
        "score",
        "priority_set_manually",
        "closed_at",
        "outcome",
        "closure_reason",
        "created_by",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("reference", "title", "description", "source")}),
        (
            "Workflow",
            {
                "fields": (
                    ("step", "iteration", "health_badge"),
                    ("closed_at", "outcome"),
                    "closure_reason",
                ),
                "description": "Moved only on the transition page, through the workflow.",
            },
        ),
        ("Scope", {"fields": ("service", "practice", "goals")}),
        (
            "Priority",
            {
                "fields": (
                    ("value", "effort", "urgency"),
                    "score",
                    "priority",
                    "priority_set_manually",
                )
            },
        ),
        ("RACI", {"fields": ("accountable", "responsible", "consulted", "informed")}),
        ("Dates", {"fields": ("due_date", ("created_by", "created_at", "updated_at"))}),
        (
            "Origin in an ITSM tool",
            {
                "fields": ("external_system", "external_id", "external_url"),
                "classes": ("collapse",),
            },
        ),
    )
    add_fieldsets = (
        (None, {"fields": ("title", "description", "source")}),
        ("Scope", {"fields": ("service", "practice", "goals")}),
        ("Priority", {"fields": (("value", "effort", "urgency"), "priority")}),
        ("RACI", {"fields": ("accountable", "responsible", "consulted", "informed")}),
        ("Dates", {"fields": ("due_date",)}),
        (
            "Origin in an ITSM tool",
            {
                "fields": ("external_system", "external_id", "external_url"),
                "classes": ("collapse",),
            },
        ),
    )
    inlines = (
        VisionInline,
        BaselineInline,
        KPIInline,
        TargetInline,
        PlanInline,
        ActionInline,
        ReviewInline,
        SustainInline,
        TransitionLogInline,
    )
    actions = ("accept_selected", "reject_selected", "set_priority")
    history_list_display = ("step", "iteration", "priority")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # ITSM links are https
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # -- display

    @admin.display(description="health", ordering="health")
    def health_badge(self, obj):
        return status_badge(obj.health, obj.get_health_display())

    @admin.display(description="score", ordering="score")
    def score_display(self, obj):
        return f"{obj.score:.2f}" if obj.score is not None else "–"

    # -- permissions: the admin's model permissions, refined by the register's rules

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.may_propose(request.user)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or permissions.may_edit(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        # only proposed or rejected initiatives may go (services.initiative_delete)
        allowed = super().has_delete_permission(request, obj) and permissions.may_manage(
            request.user
        )
        return allowed and (obj is None or obj.step in (Step.PROPOSED, Step.REJECTED))

    def get_deleted_objects(self, objs, request):
        # the records, KPIs and log cascade with the initiative; the service decides
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes one by one through the service
        return actions

    # -- form layout

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.add_fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_inline_instances(self, request, obj=None):
        # open the records the current step works on; fold the others away
        instances = super().get_inline_instances(request, obj)
        for inline in instances:
            steps = INLINE_STEPS.get(type(inline))
            if obj is not None and steps is not None and obj.step not in steps:
                inline.classes = ("collapse",)
        return instances

    # -- writes through the services

    def save_model(self, request, obj, form, change):
        fields = [n for n in INITIATIVE_FIELDS if n in form.cleaned_data]
        data = values_of(obj, fields)
        m2m = {n: form.cleaned_data[n] for n in ("goals", *RACI_FIELDS) if n in form.cleaned_data}
        priority_changed = "priority" in form.changed_data
        if change:
            if not form.has_changed():
                return  # only the inlines changed: no empty history row for the initiative
            if priority_changed:
                data["priority"] = form.cleaned_data["priority"]
            services.initiative_update(initiative=obj, actor=request.user, **data, **m2m)
            return
        created = services.initiative_create(actor=request.user, **data, **m2m)
        if priority_changed:
            created = services.initiative_set_priority(
                initiative=created, actor=request.user, priority=form.cleaned_data["priority"]
            )
        adopt(obj, created)

    def save_related(self, request, form, formsets, change):
        # goals and RACI went through the service in save_model
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        initiative, actor = form.instance, request.user
        formset.save(commit=False)  # fills new/changed/deleted_objects without writing
        model = formset.model
        if model in STEP_RECORD_NAMES:
            name = STEP_RECORD_NAMES[model]
            record_fields = RECORDS[name][1]
            for obj in formset.new_objects + [o for o, _ in formset.changed_objects]:
                services.step_record_update(
                    initiative=initiative,
                    record=name,
                    actor=actor,
                    **values_of(obj, record_fields),
                )
        elif model is KPI:
            for obj in formset.new_objects:
                fields = [n for n in KPI_FIELDS if n in formset.form.base_fields]
                services.kpi_create(initiative=initiative, actor=actor, **values_of(obj, fields))
            for obj, changed in formset.changed_objects:
                services.kpi_update(
                    kpi=obj, actor=actor, **values_of(obj, KPI_FIELDS, only=changed)
                )
            for obj in formset.deleted_objects:
                services.kpi_delete(kpi=obj, actor=actor)
        elif model is Action:
            for obj in formset.new_objects:
                services.action_create(
                    initiative=initiative, actor=actor, **values_of(obj, ACTION_FIELDS)
                )
            for obj, changed in formset.changed_objects:
                services.action_update(
                    action=obj, actor=actor, **values_of(obj, ACTION_FIELDS, only=changed)
                )
        elif model is Review:
            for obj in formset.new_objects:
                services.review_create(
                    initiative=initiative,
                    actor=actor,
                    **values_of(obj, ("decision", "progress_check", "value_check", "notes")),
                )
        # TransitionLog: read-only, nothing to save

    def delete_model(self, request, obj):
        services.initiative_delete(initiative=obj, actor=request.user)

    # -- the transition page

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            *super().get_urls(),
        ]

    def workflow_context(self, request, initiative: Initiative, *, back_to: str) -> dict:
        """What the change form and the transition page show about the initiative's moves."""
        moves = []
        for t in allowed_transitions(initiative, request.user):
            moves.append(
                {
                    "t": t,
                    "requires": [
                        {"name": name, "label": REQUIREMENT_LABELS.get(name, name)}
                        for name in t.requires
                    ],
                }
            )
        return {
            "initiative": initiative,
            "step_label": Step(initiative.step).label,
            "is_final": initiative.step in FINAL_STEPS,
            "stepper": stepper(initiative),
            "moves": moves,
            "not_permitted": [m for m in moves if not m["t"].permitted],
            "can_move": self.has_change_permission(request, initiative),
            "transition_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_transition",
                args=[initiative.pk],
                current_app=self.admin_site.name,
            ),
            "outcome_choices": Outcome.choices,
            "back_to": back_to,
            "health": status_badge(initiative.health, initiative.get_health_display()),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra_context["workflow"] = self.workflow_context(request, obj, back_to="change")
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id):
        """GET: the moves of the initiative; POST: make one through the workflow service."""
        initiative = self.get_object(request, unquote(object_id))
        if initiative is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, initiative):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, initiative):
                raise PermissionDenied
            self._transition(request, initiative)
            target = "change" if request.POST.get("next") == "change" else "transition"
            return HttpResponseRedirect(
                reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_{target}",
                    args=[initiative.pk],
                    current_app=self.admin_site.name,
                )
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {initiative}",
            "subtitle": None,
            "opts": self.opts,
            "original": initiative,
            "has_view_permission": self.has_view_permission(request, initiative),
            "workflow": self.workflow_context(request, initiative, back_to="transition"),
            "log": initiative.transitions.select_related("actor").order_by("at", "id"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/improvement/initiative/transition.html", context)

    def _transition(self, request, initiative: Initiative) -> None:
        to = request.POST.get("to", "")
        from_step = request.POST.get("from_step")
        if from_step and from_step != initiative.step:
            # the page was read before someone else moved it: do not act on stale buttons
            report_error(
                request,
                Conflict(
                    f"The initiative was moved by someone else: it is now in "
                    f"'{Step(initiative.step).label}'. Check the moves again."
                ),
            )
            return
        inputs = {
            name: request.POST[name].strip()
            for name in REQUIREMENT_LABELS
            if request.POST.get(name, "").strip()
        }
        comment = request.POST.get("comment", "").strip()
        try:
            moved = services.initiative_transition(
                initiative=initiative, to=to, actor=request.user, comment=comment, **inputs
            )
        except CIRError as exc:
            report_error(request, exc)
            return
        change = f"Moved from '{Step(initiative.step).label}' to '{Step(moved.step).label}'."
        self.log_change(request, moved, change)
        messages.success(request, f"{moved.reference}: {change}")

    # -- bulk actions

    def _bulk_transition(self, request, queryset, *, to: str, verb: str, **inputs) -> None:
        done, failures = [], []
        for initiative in queryset:
            try:
                services.initiative_transition(
                    initiative=initiative, to=to, actor=request.user, **inputs
                )
            except CIRError as exc:
                reasons = getattr(exc, "reasons", None) or [exc.message]
                failures.append(f"{initiative.reference} was not {verb}: {' '.join(reasons)}")
            else:
                done.append(initiative.reference)
        if done:
            messages.success(request, f"{len(done)} {verb}: {', '.join(done)}.")
        for failure in failures:
            messages.error(request, failure)

    def _bulk_form_page(self, request, queryset, *, action, form, title, intro, button):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "intro": intro,
            "button": button,
            "opts": self.opts,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/improvement/initiative/bulk_form.html", context)

    @admin.action(description="Accept selected proposed initiatives", permissions=["change"])
    def accept_selected(self, request, queryset):
        self._bulk_transition(
            request,
            queryset,
            to=Step.VISION,
            verb="accepted",
            comment="Accepted in the admin console.",
        )

    @admin.action(description="Reject selected proposed initiatives…", permissions=["change"])
    def reject_selected(self, request, queryset):
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._bulk_transition(
                request, queryset, to=Step.REJECTED, verb="rejected", **form.cleaned_data
            )
            return None
        return self._bulk_form_page(
            request,
            queryset,
            action="reject_selected",
            form=form,
            title="Reject initiatives",
            intro="The reason is kept on each initiative and in its transition log.",
            button="Reject them",
        )

    @admin.action(description="Set the priority of selected initiatives…", permissions=["change"])
    def set_priority(self, request, queryset):
        form = PriorityForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            priority = form.cleaned_data["priority"] or None
            done, failures = [], []
            for initiative in queryset:
                try:
                    services.initiative_set_priority(
                        initiative=initiative, actor=request.user, priority=priority
                    )
                except CIRError as exc:
                    failures.append(f"{initiative.reference}: {exc.message}")
                else:
                    done.append(initiative.reference)
            label = dict(Priority.choices).get(priority, "derived from the score")
            if done:
                messages.success(request, f"Priority {label} set on {', '.join(done)}.")
            for failure in failures:
                messages.error(request, failure)
            return None
        return self._bulk_form_page(
            request,
            queryset,
            action="set_priority",
            form=form,
            title="Set the priority",
            intro="A priority set here stays until it is handed back to the score.",
            button="Set priority",
        )


# --- step records, actions, reviews, KPIs on their own pages ------------------------------


class InitiativeChildAdmin(ServiceWritesMixin, NoRevertHistoryAdmin):
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

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or permissions.may_edit(request.user, obj.initiative))


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
        name = STEP_RECORD_NAMES[self.model]
        saved = services.step_record_update(
            initiative=obj.initiative,
            record=name,
            actor=request.user,
            **values_of(obj, RECORDS[name][1]),
        )
        adopt(obj, saved)


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
    list_filter = ("status", "iteration", "due_date")
    search_fields = ("title", "notes", "initiative__reference", "initiative__title")
    autocomplete_fields = ("initiative", "owner")
    date_hierarchy = "due_date"
    readonly_fields = ("iteration", "completed_at", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # set the status to 'dropped' instead

    def save_model(self, request, obj, form, change):
        if change:
            only = set(form.changed_data)
            services.action_update(
                action=obj, actor=request.user, **values_of(obj, ACTION_FIELDS, only=only)
            )
        else:
            created = services.action_create(
                initiative=obj.initiative, actor=request.user, **values_of(obj, ACTION_FIELDS)
            )
            adopt(obj, created)


@admin.register(Review)
class ReviewAdmin(InitiativeChildAdmin):
    """Reviews are written once, through review_create, and then kept as they were."""

    list_display = ("__str__", "initiative", "iteration", "decision", "reviewed_by", "created_at")
    list_select_related = ("initiative", "reviewed_by")
    list_filter = ("decision", "iteration")
    search_fields = ("initiative__reference", "initiative__title", "progress_check", "notes")
    date_hierarchy = "created_at"
    fields = ("initiative", *REVIEW_FIELDS)
    readonly_fields = REVIEW_READONLY

    @admin.display(description="KPI snapshot")
    def snapshot(self, obj):
        return kpi_snapshot_table(obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        created = services.review_create(
            initiative=obj.initiative,
            actor=request.user,
            **values_of(obj, ("decision", "progress_check", "value_check", "notes")),
        )
        adopt(obj, created)


class KPIForm(forms.ModelForm):
    target_change_pct = forms.FloatField(
        required=False,
        label="Target as change %",
        help_text="Instead of a target value: e.g. -15 sets the target 15 % below the baseline.",
    )

    class Meta:
        model = KPI
        fields = ("initiative", *KPI_FIELDS)


@admin.register(KPI)
class KPIAdmin(InitiativeChildAdmin):
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
    list_filter = ("status", "kind", "direction", "aggregation")
    search_fields = ("key", "name", "initiative__reference", "initiative__title")
    date_hierarchy = "target_date"
    readonly_fields = ("status_badge", "last_checked_at", "data_changed_at", "created_at")
    fieldsets = (
        (None, {"fields": ("initiative", "key", "name", "unit", "kind", "csf")}),
        ("Current value", {"fields": ("direction", "aggregation", "window_days", "tolerance")}),
        ("Point A", {"fields": ("baseline_value", "baseline_date")}),
        ("Point B", {"fields": ("target_value", "target_change_pct", "target_date")}),
        ("Checks", {"fields": ("status_badge", "last_checked_at", "data_changed_at")}),
    )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display()) if obj.pk else "–"

    def get_deleted_objects(self, objs, request):
        # measurements and checks cascade with their KPI
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or permissions.may_edit(request.user, obj.initiative))

    def save_model(self, request, obj, form, change):
        data = values_of(obj, KPI_FIELDS, only=None if not change else set(form.changed_data))
        pct = form.cleaned_data.get("target_change_pct")
        if pct is not None:
            # the service turns it into target_value (and refuses it next to a new one)
            data["target_change_pct"] = pct
        if change:
            services.kpi_update(kpi=obj, actor=request.user, **data)
        else:
            adopt(obj, services.kpi_create(initiative=obj.initiative, actor=request.user, **data))

    actions = ("check_now",)

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


# --- written by the system only -----------------------------------------------------------


@admin.register(Measurement)
class MeasurementAdmin(RolePermissionsMixin, ServiceWritesMixin, admin.ModelAdmin):
    """Measurements mostly arrive from ITSM tools through the API. A manager may add a
    point or correct one here, through services.measurement_record (which re-checks the
    KPI); a point is corrected, never deleted."""

    list_display = ("kpi", "initiative", "value", "measured_at", "source", "recorded_by")
    list_select_related = ("kpi", "kpi__initiative", "recorded_by")
    list_filter = ("source",)
    search_fields = ("kpi__key", "kpi__name", "kpi__initiative__reference", "note")
    date_hierarchy = "measured_at"
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

    def save_model(self, request, obj, form, change):
        point = values_of(obj, ("value", "measured_at", "source", "note"))
        services.measurement_record(kpi=obj.kpi, actor=request.user, points=[point])
        adopt(obj, Measurement.objects.get(kpi=obj.kpi, measured_at=obj.measured_at))


@admin.register(KPICheck)
class KPICheckAdmin(ReadOnlyAdmin):
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
    date_hierarchy = "checked_at"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display())


@admin.register(TransitionLog)
class TransitionLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "initiative", "from_step", "to_step", "actor", "iteration", "comment")
    list_select_related = ("initiative", "actor")
    list_filter = ("to_step", "from_step")
    search_fields = ("initiative__reference", "initiative__title", "comment", "actor__username")
    date_hierarchy = "at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("type", "id", "created_at", "dispatched_at")
    list_filter = ("type", ("dispatched_at", admin.EmptyFieldListFilter))
    search_fields = ("id",)
    date_hierarchy = "created_at"
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


# the webhook receivers and deliveries live in their own module
from . import admin_webhooks  # noqa: E402, F401
