"""The initiative in the admin: its form with the records of its steps as inlines, the
workflow panel (moves.py), and bulk triage.

The step is read-only everywhere; it changes only through services.initiative_transition.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.template.response import TemplateResponse

from .. import permissions, services, workflow
from ..choices import Priority, Step
from ..models import Initiative
from ..services.initiatives import INITIATIVE_FIELDS, RACI_FIELDS, REFERENCE_PREFIX
from ..workflow import deletion_blockers
from .base import (
    DeletedByServiceMixin,
    NoRevertHistoryAdmin,
    ServiceWritesMixin,
    adopt,
    for_each,
    status_badge,
    values_of,
)
from .inlines import (
    ActionInline,
    BaselineInline,
    BenefitInline,
    KPIInline,
    PlanInline,
    ReviewInline,
    SustainInline,
    TargetInline,
    TransitionLogInline,
    VisionInline,
    WatcherInline,
)
from .moves import WorkflowPanelMixin
from .scale import ScaleAdminMixin

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
    BenefitInline: {Step.REVIEW, Step.SUSTAIN, Step.CLOSED},
}


def references(initiatives) -> str:
    return ", ".join(initiative.reference for initiative in initiatives)


class BulkForm(forms.Form):
    """The input a bulk action asks for on its intermediate page, with that page's texts."""

    title = intro = button = ""


class RejectForm(BulkForm):
    title = "Reject initiatives"
    intro = "The reason is kept on each initiative and in its transition log."
    button = "Reject them"

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each initiative and in its transition log.",
    )


class CancelForm(BulkForm):
    title = "Cancel initiatives"
    intro = (
        "The reason is kept on each initiative and in its transition log; the lessons learned "
        "are added to its step 7 record."
    )
    button = "Cancel them"

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    lessons_learned = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class PriorityForm(BulkForm):
    title = "Set the priority"
    intro = "A priority set here stays until it is handed back to the score."
    button = "Set priority"

    priority = forms.ChoiceField(
        choices=[("", "Derived from the score"), *Priority.choices],
        required=False,
        help_text="“Derived from the score” hands the priority back to (value + urgency) / effort.",
    )


@admin.register(Initiative)
class InitiativeAdmin(
    ScaleAdminMixin,
    WorkflowPanelMixin,
    DeletedByServiceMixin,
    ServiceWritesMixin,
    NoRevertHistoryAdmin,
):
    """The register's initiatives: triage, the records of each step, moves and bulk work."""

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
        # every service, practice and goal: listing only those in use reads every initiative
        "service",
        "practice",
        "goals",
        "accountable",
    )
    list_select_related = ("accountable", "service", "practice")
    # the external id matched whole, as the register's search does (an index serves it)
    search_fields = ("reference", "title", "description", "=external_id")

    def get_search_results(self, request, queryset, search_term):
        """A reference, whole or its beginning ("CIR-0004"), finds those initiatives by the
        reference's index; any other text searches the search fields."""
        term = search_term.strip()
        if REFERENCE_PREFIX.match(term):
            return queryset.filter(reference__startswith=term.upper()), False
        return super().get_search_results(request, queryset, search_term)

    # native selects and Django's filter boxes: each one labelled and named for assistive
    # technology (the select2 autocomplete leaves its search box and an empty choice unnamed)
    filter_horizontal = ("goals", "responsible", "consulted", "informed")
    readonly_fields = (
        "reference",
        "step",
        "iteration",
        "health",
        "health_badge",
        "score",
        "priority_set_manually",
        "age",
        "closed_at",
        "outcome",
        "outcome_override",
        "closure_reason",
        "held_from",
        "hold_reason",
        "hold_until",
        "held_since",
        "days_on_hold",
        "suggested_accountable",
        "suggested_goals",
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
                    "age",
                    ("closed_at", "outcome"),
                    "outcome_override",
                    "closure_reason",
                ),
                "description": "Moved only on the transition page, through the workflow.",
            },
        ),
        (
            "On hold",
            {
                "fields": (
                    ("held_from", "hold_until"),
                    "hold_reason",
                    ("held_since", "days_on_hold"),
                ),
                "description": "Put on hold and resumed on the transition page; it resumes "
                "in the step it was held from.",
            },
        ),
        (
            "Suggested by the ITSM tool",
            {
                "fields": ("suggested_accountable", "suggested_goals"),
                "description": "What the ITSM integration proposed with the initiative. "
                "Accepting the initiative applies them: the owner if none is set, the goals "
                "if it has none.",
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
        BenefitInline,
        TransitionLogInline,
        WatcherInline,
    )
    actions = ("accept_selected", "reject_selected", "cancel_selected", "set_priority")
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

    @admin.display(description="age (days, time on hold not counted)")
    def age(self, obj):
        return obj.age_days

    @admin.display(description="days on hold (all holds)")
    def days_on_hold(self, obj):
        return obj.on_hold_days

    # -- permissions: the admin's model permissions, refined by the register's rules

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.may_propose(request.user)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or permissions.may_edit(request.user, obj))

    def _may_delete_initiatives(self, request) -> bool:
        return super().has_delete_permission(request) and permissions.may_manage(request.user)

    def has_delete_permission(self, request, obj=None):
        # the workflow says which initiatives may go (services.initiative_delete asks it too)
        allowed = self._may_delete_initiatives(request)
        return allowed and (obj is None or not deletion_blockers(obj))

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        blockers = deletion_blockers(obj) if obj is not None else []
        if blockers and self._may_delete_initiatives(request):
            raise PermissionDenied(" ".join(blockers))  # the refusal, in the workflow's words
        return super().delete_view(request, object_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes one by one through the service
        return actions

    # -- form layout

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        # what is not there for this initiative is folded away
        folded = {
            "On hold": not obj.held_from and not obj.hold_days,
            "Suggested by the ITSM tool": obj.suggested_accountable_id is None
            and not obj.suggested_goals.exists(),
        }
        return tuple(
            (name, {**options, "classes": ("collapse",)}) if folded.get(name) else (name, options)
            for name, options in self.fieldsets
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_inline_instances(self, request, obj=None):
        # open the records the current step works on (on hold: the step it was held from);
        # fold the others away
        instances = super().get_inline_instances(request, obj)
        if obj is None:
            return instances
        step = workflow.working_step(obj)
        for inline in instances:
            steps = INLINE_STEPS.get(type(inline))
            if steps is not None and step not in steps:
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
        formset.save(commit=False)  # fills new/changed/deleted_objects without writing
        inline = next(i for i in self.inlines if i.model is formset.model)
        inline.save_rows(formset, initiative=form.instance, actor=request.user)

    def delete_model(self, request, obj):
        services.initiative_delete(initiative=obj, actor=request.user)

    # -- bulk actions

    def _bulk_transition(self, request, queryset, *, to: str, verb: str, **inputs) -> None:
        def failed(initiative, exc):
            reasons = getattr(exc, "reasons", None) or [exc.message]
            return f"{initiative.reference} was not {verb}: {' '.join(reasons)}"

        for_each(
            request,
            queryset,
            lambda initiative: services.initiative_transition(
                initiative=initiative, to=to, actor=request.user, **inputs
            ),
            done=lambda moved: f"{len(moved)} {verb}: {references(moved)}.",
            failed=failed,
        )

    def _with_form(self, request, queryset, *, action: str, form_class, apply):
        """Bulk action `action` that needs input: once its form is filled in, `apply` the
        cleaned data; until then, the form's intermediate page."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            apply(**form.cleaned_data)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": form.title,
            "subtitle": None,
            "intro": form.intro,
            "button": form.button,
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
        def reject(**inputs):
            self._bulk_transition(request, queryset, to=Step.REJECTED, verb="rejected", **inputs)

        return self._with_form(
            request, queryset, action="reject_selected", form_class=RejectForm, apply=reject
        )

    @admin.action(description="Cancel selected initiatives…", permissions=["change"])
    def cancel_selected(self, request, queryset):
        def cancel(**inputs):
            self._bulk_transition(request, queryset, to=Step.CANCELLED, verb="cancelled", **inputs)

        return self._with_form(
            request, queryset, action="cancel_selected", form_class=CancelForm, apply=cancel
        )

    @admin.action(description="Set the priority of selected initiatives…", permissions=["change"])
    def set_priority(self, request, queryset):
        def set_each(*, priority):
            priority = priority or None
            label = dict(Priority.choices).get(priority, "derived from the score")
            for_each(
                request,
                queryset,
                lambda initiative: services.initiative_set_priority(
                    initiative=initiative, actor=request.user, priority=priority
                ),
                done=lambda changed: f"Priority {label} set on {references(changed)}.",
                failed=lambda initiative, exc: f"{initiative.reference}: {exc.message}",
            )

        return self._with_form(
            request, queryset, action="set_priority", form_class=PriorityForm, apply=set_each
        )
