"""The initiative page and its writes: moves, step records, details, actions, KPIs (and
their re-baseline), measurements and reviews.

Views are thin: they parse a form, call one service, and answer with the page (or, for an
htmx request, the part of the page that changed). Domain errors are shown next to their
field or at the top; every successful POST without htmx redirects (POST-redirect-GET).
Only the moves a user may make are offered; anything else posted gets 403, naming the role
or RACI position needed. A move or a record edit made from a stale page is refused (409):
nothing changes, and the answer says what did and shows what is true now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views import View
from django.views.generic import TemplateView

from .. import permissions, services, workflow
from ..choices import Step
from ..exceptions import CIRError, Conflict, Forbidden, InvalidInput, TransitionBlocked
from ..models import KPI
from . import pages_initiative as pages
from .access import CIRAccessMixin, initiative_url, load_for_page, load_for_write
from .forms import InitiativeForm
from .forms_initiative import (
    OVERRIDE_HINT,
    RECORD_FORMS,
    ActionForm,
    KPIForm,
    KPIRebaselineForm,
    MeasurementForm,
    MoveForm,
    ReviewForm,
)

T = TypeVar("T")


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

    A write loads the initiative alone; the page's data is built only when a page or part
    of one is shown: on failure, and for htmx requests. `partial` names the template an
    htmx request gets back (its part of the page); without htmx, success redirects to the
    page and failure re-renders the whole page.
    """

    http_method_names = ["post"]
    partial = "improvement/includes/_initiative.html"
    anchor = ""
    #: the step section the write belongs to: marked saved, or kept open with the errors
    section = ""
    #: the domain errors shown on the form rather than as an error page
    form_errors: tuple[type[CIRError], ...] = (InvalidInput,)

    def post(self, request, reference, **kwargs):
        self.initiative = load_for_write(request.user, reference)
        try:
            return self.handle(request, self.initiative, **kwargs)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc

    def require(self, allowed: bool, message: str = permissions.NEED_EDIT) -> None:
        if not allowed:
            raise PermissionDenied(message)

    def answer(
        self, form, write: Callable[[], T], message: Callable[[T], str], **failed
    ) -> HttpResponse:
        """Once the form is valid, `write()` (the service), then success with the
        `message` about what it returned. Invalid input or a domain error the service
        raises shows the form again with its errors (`failed`: where it goes on the page)."""
        if form.is_valid():
            try:
                result = write()
            except self.form_errors as exc:
                form.add_service_errors(exc)
                if isinstance(exc, Conflict):
                    failed["status"] = 409  # refused as it stands (a locked goalpost)
            else:
                return self.success(message(result), **self.saved(result))
        return self.failure(**failed)

    def saved(self, result) -> dict:
        """What the page marks as just saved after a write."""
        return {"saved": self.section} if self.section else {}

    def success(self, message: str, **overrides) -> HttpResponse:
        request = self.request
        if request.htmx:
            fresh = load_for_page(request.user, self.initiative.reference)
            return self.render_partial(fresh, flash=message, **overrides)
        messages.success(request, message)
        return HttpResponseRedirect(initiative_url(self.initiative, self.anchor))

    def stale(self, message: str) -> HttpResponse:
        """A move made from an out-of-date page: nothing changed. htmx gets the initiative as
        it is now with the message (409); a plain post goes back to the page, which says it."""
        if self.request.htmx:
            fresh = load_for_page(self.request.user, self.initiative.reference)
            context = pages.initiative_page(self.request.user, fresh, error=message)
            html = render_to_string(InitiativePostView.partial, context, request=self.request)
            return HttpResponse(html, status=409)
        messages.error(self.request, message)
        return HttpResponseRedirect(initiative_url(self.initiative, self.anchor))

    def failure(self, *, status: int = 422, **overrides) -> HttpResponse:
        if self.section:
            overrides["opened"] = [self.section]
        fresh = load_for_page(self.request.user, self.initiative.reference)
        if self.request.htmx:
            return self.render_partial(fresh, status=status, **overrides)
        context = pages.initiative_page(self.request.user, fresh, **overrides)
        return render(self.request, "improvement/initiative_detail.html", context, status=status)

    def render_partial(self, initiative, *, status: int = 200, **overrides) -> HttpResponse:
        request = self.request
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
    """Save the record of step 1, 2, 3, 4 or 7, from the version the page showed."""

    partial = "improvement/includes/_step_section_response.html"

    def handle(self, request, initiative, record):
        if record not in RECORD_FORMS:
            raise Http404("No such step record.")
        self.require(permissions.may_edit(request.user, initiative))
        self.section, self.anchor = record, f"step-{record}"
        extra = {"initiative": initiative} if record == "vision" else {}
        form = RECORD_FORMS[record](
            request.POST,
            instance=pages.step_record(initiative, record),
            auto_id=f"id_{record}_%s",
            **extra,
        )
        if form.is_valid():
            try:
                services.step_record_update(
                    initiative=initiative,
                    record=record,
                    actor=request.user,
                    version=form.seen_version(),
                    **form.service_data(),
                )
            except Conflict as exc:
                # changed since the page was shown: the record as it is now, what was typed
                # kept beside it, nothing saved
                conflict = {"name": record, "message": exc.message, "unsaved": form.unsaved()}
                return self.failure(status=409, record_conflict=conflict)
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                return self.success(f"{pages.STEP_TITLES[record]} saved.", saved=record)
        return self.failure(**{f"{record}_form": form})


class DetailsUpdateView(InitiativePostView):
    """Change the register fields, the owner, RACI and (CSI managers) the priority."""

    anchor = "details"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        can_manage = permissions.may_manage(request.user)
        form = InitiativeForm(
            request.POST, instance=initiative, auto_id="id_details_%s", may_set_priority=can_manage
        )
        return self.answer(
            form,
            lambda: services.initiative_update(
                initiative=initiative, actor=request.user, **form.service_data()
            ),
            lambda _: "Details saved.",
            details_form=form,
        )


class MoveView(InitiativePostView):
    """Make one move of the workflow, from the step the page showed: only the moves offered
    to the user (else 403, naming who may); a move from a stale page is refused (409)."""

    anchor = "moves"

    def handle(self, request, initiative):
        to, seen = request.POST.get("to", ""), request.POST.get("from", "")
        move = workflow.offered_move(initiative, request.user, to)
        if move is None and seen in ("", initiative.step):
            raise PermissionDenied(self.denial(initiative, to))
        # not offered from a stale page: the service answers what changed (Conflict)
        requirements = move.requires if move else ()
        form = MoveForm(
            request.POST, requires=[r.name for r in requirements], auto_id=f"id_move_{to}_%s"
        )
        if not form.is_valid():
            return self.refused(form, to, status=422)
        try:
            moved = services.initiative_transition(
                initiative=initiative,
                to=to,
                actor=request.user,
                comment=form.cleaned_data.get("comment") or "",
                from_step=form.seen_step(),
                **form.inputs(),
            )
        except Conflict as exc:
            return self.stale(exc.message)
        except TransitionBlocked as exc:
            checks = move.check(initiative, form.inputs()) if move and move.check else []
            form.add_blocked(exc.reasons, requirements, checks)
            return self.refused(form, to, status=409)
        except InvalidInput as exc:
            form.add_service_errors(exc)
            return self.refused(form, to, status=422)
        return self.success(f"{moved.reference} moved to “{Step(moved.step).label}”.")

    def refused(self, form, to: str, *, status: int) -> HttpResponse:
        """The move's form again with its errors; every message also goes on top, for a
        move the page shows without a form."""
        errors = [str(m) for messages_ in form.errors.values() for m in messages_]
        return self.failure(status=status, move_form=form, move_to=to, move_errors=errors)

    def denial(self, initiative, to: str) -> str:
        """Why a move is not offered: the role or RACI position it needs, or that there is
        no such move from here."""
        t = workflow.find_transition(initiative, to)
        if t is None:
            return f"That move is not possible from “{initiative.get_step_display()}”."
        return permissions.move_denial(t.permission, initiative, self.request.user)


class ActionPostView(InitiativePostView):
    """Base of the writes on the actions: they answer with the section of step 5."""

    partial = "improvement/includes/_step_section_response.html"
    anchor = "step-action"
    section = "action"


class ActionCreateView(ActionPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = ActionForm(request.POST, auto_id="id_newaction_%s")
        return self.answer(
            form,
            lambda: services.action_create(
                initiative=initiative, actor=request.user, **form.cleaned_data
            ),
            lambda action: f"Action “{action.title}” added.",
            action_form=form,
        )


class ActionUpdateView(ActionPostView):
    def handle(self, request, initiative, pk):
        action = get_object_or_404(initiative.actions, pk=pk)
        self.require(permissions.may_edit(request.user, initiative))
        data = request.POST.copy()
        if data.get("quick_status"):
            # the one-click status buttons post the status alone
            for name in ("title", "owner", "due_date", "notes"):
                value = getattr(action, f"{name}_id" if name == "owner" else name)
                data[name] = "" if value is None else value
            data["status"] = data["quick_status"]
        form = ActionForm(data, instance=action, auto_id=f"id_action{action.pk}_%s")
        return self.answer(
            form,
            lambda: services.action_update(action=action, actor=request.user, **form.cleaned_data),
            lambda action: f"Action “{action.title}” saved.",
            action_forms={action.pk: form},
        )


class KPIPostView(InitiativePostView):
    """Base of the writes on the KPI section: they answer with the section."""

    partial = "improvement/includes/_kpis_response.html"
    anchor = "kpis"

    def editable_kpi(self, request, initiative, pk) -> KPI:
        kpi = get_object_or_404(initiative.kpis, pk=pk)
        self.require(permissions.may_edit(request.user, initiative))
        return kpi

    def saved(self, kpi: KPI) -> dict:
        return {"saved_kpi": kpi.pk}


class KPICreateView(KPIPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = KPIForm(request.POST, auto_id="id_newkpi_%s")
        return self.answer(
            form,
            lambda: services.kpi_create(
                initiative=initiative, actor=request.user, **form.service_data()
            ),
            lambda kpi: f"KPI “{kpi.name}” added.",
            kpi_form=form,
        )


class KPIUpdateView(KPIPostView):
    """Change a KPI's definition. Once the initiative has left step 3 the goalposts are
    locked: a change of them is refused with the way on, and nothing changes."""

    form_errors = (InvalidInput, Conflict)

    def handle(self, request, initiative, pk):
        kpi = self.editable_kpi(request, initiative, pk)
        data = KPIForm.with_locked_values(request.POST, kpi)
        form = KPIForm(data, instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s")
        return self.answer(
            form,
            lambda: services.kpi_update(kpi=kpi, actor=request.user, **form.service_data()),
            lambda kpi: f"KPI “{kpi.name}” saved.",
            kpi_forms={kpi.pk: form},
        )


class KPIRebaselineView(KPIPostView):
    """A CSI manager changes a locked KPI definition, with a reason kept in its revision."""

    def handle(self, request, initiative, pk):
        kpi = get_object_or_404(initiative.kpis, pk=pk)
        form = KPIRebaselineForm(request.POST, instance=kpi, auto_id=f"id_rb{kpi.pk}_%s")
        return self.answer(
            form,
            lambda: services.kpi_rebaseline(kpi=kpi, actor=request.user, **form.service_data()),
            lambda kpi: f"KPI “{kpi.name}” re-baselined.",
            rebaseline_forms={kpi.pk: form},
        )


class KPIDeleteView(KPIPostView):
    """Delete a KPI with its measurements and check history, once the box is ticked."""

    def handle(self, request, initiative, pk):
        kpi = self.editable_kpi(request, initiative, pk)
        if request.POST.get("confirm") != "yes":
            return self.failure(kpi_delete_errors={kpi.pk: "Tick the box to confirm the deletion."})
        name = kpi.name
        services.kpi_delete(kpi=kpi, actor=request.user)
        return self.success(
            f"KPI “{name}” deleted, with its measurements and checks.", kpis_flash=True
        )


class MeasurementCreateView(KPIPostView):
    """Record one measurement of a KPI by hand; the KPI is checked after commit."""

    def handle(self, request, initiative, pk):
        kpi = get_object_or_404(initiative.kpis, pk=pk)
        self.require(permissions.may_record_measurements(request.user, kpi), permissions.NEED_FEED)
        form = MeasurementForm(request.POST, auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)

        def record() -> KPI:
            services.measurement_record(kpi=kpi, actor=request.user, points=[form.point()])
            return kpi

        return self.answer(
            form,
            record,
            lambda kpi: (
                f"Measurement {form.cleaned_data['value']:g} {kpi.unit} recorded for “{kpi.name}”."
            ),
            measurement_forms={kpi.pk: form},
        )


class ReviewCreateView(InitiativePostView):
    """Record this iteration's review. A decision the KPI snapshot does not support is
    refused with each conflicting KPI in words, unless a justification makes it an override."""

    anchor = "step-review"
    section = "review"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = ReviewForm(request.POST, auto_id="id_review_%s")
        if form.is_valid():
            try:
                review = services.review_create(
                    initiative=initiative, actor=request.user, **form.cleaned_data
                )
            except InvalidInput as exc:
                self.decision_refused(form, exc)
            except Conflict as exc:  # one review per iteration, in step 6
                form.add_service_errors(exc)
            else:
                override = " (an override)" if review.decision_override else ""
                return self.success(
                    f"Review of iteration {review.iteration} recorded: "
                    f"{review.get_decision_display()}{override}.",
                    saved=self.section,
                )
        return self.failure(review_form=form)

    @staticmethod
    def decision_refused(form, exc: InvalidInput) -> None:
        """Each conflicting KPI in words on the decision, then the way on in the page's
        words (the service's last line names the API's field)."""
        errors = exc.errors if isinstance(exc.errors, dict) else {}
        decision = errors.get("decision", [])
        if len(decision) > 1:
            form.add_error("decision", [*decision[:-1], OVERRIDE_HINT])
            others = {k: v for k, v in errors.items() if k != "decision"}
            if others:
                form.add_service_errors(InvalidInput(exc.message, errors=others))
        else:
            form.add_service_errors(exc)
