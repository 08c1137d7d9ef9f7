"""The initiative page and its writes: moves, step records, details, actions, KPIs,
measurements and reviews.

Views are thin: they parse a form, call one service, and answer with the page (or, for an
htmx request, the part of the page that changed). Domain errors are shown next to their
field or at the top; every successful POST without htmx redirects (POST-redirect-GET).
Only the moves a user may make are offered; anything else posted gets 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views import View
from django.views.generic import TemplateView

from .. import permissions, services
from ..choices import Step
from ..exceptions import Conflict, Forbidden, InvalidInput, TransitionBlocked
from ..models import KPI, Action
from ..workflow import allowed_transitions
from . import pages
from .access import CIRAccessMixin, initiative_url, load_for_page
from .forms import (
    RECORD_FORMS,
    ActionForm,
    InitiativeForm,
    KPIForm,
    MeasurementForm,
    MoveForm,
    ReviewForm,
)


class InitiativeView(CIRAccessMixin, TemplateView):
    """The initiative page: stepper, moves, step records, actions, KPIs, reviews, history."""

    template_name = "improvement/initiative_detail.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        initiative = load_for_page(self.request.user, kwargs["reference"])
        context.update(pages.initiative_page(self.request.user, initiative))
        return context


class InitiativePostView(CIRAccessMixin, View):
    """Base of every write on an initiative page: load, check, call a service, answer.

    `partial` names the template an htmx request gets back (its part of the page);
    without htmx, success redirects to the page and failure re-renders the whole page.
    """

    http_method_names = ["post"]
    partial = "improvement/includes/_initiative.html"
    anchor = ""
    #: the step section an htmx response re-renders (for the section partial)
    section = ""

    def post(self, request, reference, **kwargs):
        initiative = load_for_page(request.user, reference)
        try:
            return self.handle(request, initiative, **kwargs)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc

    def require(self, allowed: bool, message: str = "You may not change this initiative.") -> None:
        if not allowed:
            raise PermissionDenied(message)

    def success(self, request, initiative, message: str, *, anchor: str = "", **overrides):
        if request.htmx:
            fresh = load_for_page(request.user, initiative.reference)
            return self.render_partial(request, fresh, flash=message, **overrides)
        messages.success(request, message)
        return HttpResponseRedirect(initiative_url(initiative, anchor or self.anchor))

    def failure(self, request, initiative, *, status: int = 422, **overrides):
        fresh = load_for_page(request.user, initiative.reference)
        if request.htmx:
            return self.render_partial(request, fresh, status=status, **overrides)
        context = pages.initiative_page(request.user, fresh, **overrides)
        return render(request, "improvement/initiative_detail.html", context, status=status)

    def render_partial(self, request, initiative, *, status: int = 200, **overrides):
        context = pages.initiative_page(request.user, initiative, **overrides)
        context["section_name"] = self.section
        html = render_to_string(self.partial, context, request=request)
        if self.partial != InitiativePostView.partial:
            # the moves and the summary change with most edits: refresh them out of band
            for oob in ("_moves.html", "_summary.html"):
                html += render_to_string(
                    f"improvement/includes/{oob}", {**context, "oob": True}, request=request
                )
        return HttpResponse(html, status=status)


class RecordUpdateView(InitiativePostView):
    """Save the record of step 1, 2, 3, 4 or 7."""

    partial = "improvement/includes/_step_section_response.html"

    def handle(self, request, initiative, record):
        if record not in RECORD_FORMS:
            raise Http404("No such step record.")
        self.require(permissions.may_edit(request.user, initiative))
        records = pages.step_records(initiative)
        form_class = RECORD_FORMS[record]
        extra = {"initiative": initiative} if record == "vision" else {}
        form = form_class(
            request.POST, instance=records[record], auto_id=f"id_{record}_%s", **extra
        )
        self.section = record
        if form.is_valid():
            data = form.service_data() if hasattr(form, "service_data") else form.cleaned_data
            try:
                services.step_record_update(
                    initiative=initiative, record=record, actor=request.user, **data
                )
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                label = pages.STEP_TITLES[record]
                return self.success(
                    request, initiative, f"{label} saved.", anchor=f"step-{record}", saved=record
                )
        return self.failure(request, initiative, **{f"{record}_form": form, "opened": [record]})


class DetailsUpdateView(InitiativePostView):
    """Change the register fields, the owner, RACI and (CSI managers) the priority."""

    anchor = "details"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        can_manage = permissions.may_manage(request.user)
        form = InitiativeForm(
            request.POST, instance=initiative, auto_id="id_details_%s", may_set_priority=can_manage
        )
        if form.is_valid():
            try:
                services.initiative_update(
                    initiative=initiative,
                    actor=request.user,
                    **form.service_data(),
                )
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(request, initiative, "Details saved.")
        return self.failure(request, initiative, details_form=form)


class MoveView(InitiativePostView):
    """Make one move of the workflow: only the moves offered to the user; else 403."""

    def handle(self, request, initiative):
        form = MoveForm(request.POST, auto_id="id_move_%s")
        if not form.is_valid():
            raise PermissionDenied("That move is not offered to you.")
        to = form.cleaned_data["to"]
        offered = {t.to: t for t in allowed_transitions(initiative, request.user) if t.permitted}
        if to not in offered:
            raise PermissionDenied("That move is not offered to you.")
        move = offered[to]
        try:
            moved = services.initiative_transition(
                initiative=initiative,
                to=to,
                actor=request.user,
                comment=form.cleaned_data.get("comment", ""),
                **form.inputs(move.requires),
            )
        except TransitionBlocked as exc:
            return self.failure(
                request,
                initiative,
                status=409,
                move_errors=exc.reasons,
                move_form=form,
                move_to=to,
            )
        except Conflict as exc:
            return self.failure(request, initiative, status=409, move_errors=[exc.message])
        except InvalidInput as exc:
            messages_ = [m for v in exc.errors.values() for m in v] or [exc.message]
            return self.failure(
                request, initiative, status=422, move_errors=messages_, move_form=form, move_to=to
            )
        return self.success(
            request,
            moved,
            f"{moved.reference} moved to “{Step(moved.step).label}”.",
            anchor="moves",
        )


class ActionCreateView(InitiativePostView):
    partial = "improvement/includes/_step_section_response.html"
    anchor = "step-action"
    section = "action"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = ActionForm(request.POST, auto_id="id_newaction_%s")
        if form.is_valid():
            try:
                action = services.action_create(
                    initiative=initiative, actor=request.user, **form.cleaned_data
                )
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(
                    request, initiative, f"Action “{action.title}” added.", saved="action"
                )
        return self.failure(request, initiative, action_form=form, opened=["action"])


class ActionUpdateView(InitiativePostView):
    partial = "improvement/includes/_step_section_response.html"
    anchor = "step-action"
    section = "action"

    def handle(self, request, initiative, pk):
        action = get_object_or_404(Action, pk=pk, initiative=initiative)
        self.require(permissions.may_edit(request.user, initiative))
        data = request.POST.copy()
        if data.get("quick_status"):
            # the one-click status buttons post the status alone
            for name in ("title", "owner", "due_date", "notes"):
                value = getattr(action, f"{name}_id" if name == "owner" else name)
                data[name] = "" if value is None else value
            data["status"] = data["quick_status"]
        form = ActionForm(data, instance=action, auto_id=f"id_action{action.pk}_%s")
        if form.is_valid():
            try:
                services.action_update(action=action, actor=request.user, **form.cleaned_data)
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(
                    request, initiative, f"Action “{action.title}” saved.", saved="action"
                )
        return self.failure(request, initiative, action_forms={action.pk: form}, opened=["action"])


class KPIPostView(InitiativePostView):
    """Base of the writes on the KPI section: they answer with the section."""

    partial = "improvement/includes/_kpis_response.html"
    anchor = "kpis"

    def editable_kpi(self, request, initiative, pk) -> KPI:
        kpi = get_object_or_404(KPI, pk=pk, initiative=initiative)
        self.require(permissions.may_edit(request.user, initiative))
        return kpi


class KPICreateView(KPIPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = KPIForm(request.POST, auto_id="id_newkpi_%s")
        if form.is_valid():
            try:
                kpi = services.kpi_create(
                    initiative=initiative, actor=request.user, **form.service_data()
                )
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(
                    request, initiative, f"KPI “{kpi.name}” added.", saved_kpi=kpi.pk
                )
        return self.failure(request, initiative, kpi_form=form)


class KPIUpdateView(KPIPostView):
    def handle(self, request, initiative, pk):
        kpi = self.editable_kpi(request, initiative, pk)
        form = KPIForm(request.POST, instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s")
        if form.is_valid():
            try:
                services.kpi_update(kpi=kpi, actor=request.user, **form.service_data())
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(
                    request, initiative, f"KPI “{kpi.name}” saved.", saved_kpi=kpi.pk
                )
        return self.failure(request, initiative, kpi_forms={kpi.pk: form})


class KPIDeleteView(KPIPostView):
    """Delete a KPI with its measurements and check history, once the box is ticked."""

    def handle(self, request, initiative, pk):
        kpi = self.editable_kpi(request, initiative, pk)
        if request.POST.get("confirm") != "yes":
            return self.failure(
                request, initiative,
                kpi_delete_errors={kpi.pk: "Tick the box to confirm the deletion."},
            )  # fmt: skip
        name = kpi.name
        services.kpi_delete(kpi=kpi, actor=request.user)
        return self.success(
            request, initiative, f"KPI “{name}” deleted, with its measurements and checks.",
            kpis_flash=True,
        )  # fmt: skip


class MeasurementCreateView(KPIPostView):
    """Record one measurement of a KPI by hand; the KPI is checked after commit."""

    def handle(self, request, initiative, pk):
        kpi = get_object_or_404(
            KPI.objects.select_related("initiative"), pk=pk, initiative=initiative
        )
        self.require(
            permissions.may_record_measurements(request.user, kpi),
            "You may not record measurements for this KPI.",
        )
        form = MeasurementForm(request.POST, auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)
        if form.is_valid():
            try:
                services.measurement_record(kpi=kpi, actor=request.user, points=[form.point()])
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                value = form.cleaned_data["value"]
                return self.success(
                    request,
                    initiative,
                    f"Measurement {value:g} {kpi.unit} recorded for “{kpi.name}”.",
                    saved_kpi=kpi.pk,
                )
        return self.failure(request, initiative, measurement_forms={kpi.pk: form})


class ReviewCreateView(InitiativePostView):
    anchor = "step-review"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = ReviewForm(request.POST, auto_id="id_review_%s")
        if form.is_valid():
            try:
                review = services.review_create(
                    initiative=initiative, actor=request.user, **form.cleaned_data
                )
            except (InvalidInput, Conflict) as exc:
                form.add_service_errors(exc)
            else:
                return self.success(
                    request,
                    initiative,
                    f"Review of iteration {review.iteration} recorded: "
                    f"{review.get_decision_display()}.",
                    saved="review",
                )
        return self.failure(request, initiative, review_form=form, opened=["review"])
