"""The initiative page and its writes: moves, step records, details, actions, KPIs (and
their re-baseline), measurements and reviews.

Views are thin: they parse a form, call one service, and answer with the page (or, for an
htmx request, the part of the page that changed). Domain errors are shown next to their
field or at the top. Every POST without htmx redirects to the page (POST-redirect-GET), a
refused one too: what was typed and the errors are kept in the session for the next
showing of the page (`refusal_keep` / `refusal_restore`), so that a reload never posts
again.
Only the moves a user may make are offered; anything else posted gets 403, naming the role
or RACI position needed. A move or a record edit made from a stale page is refused (409):
nothing changes, and the answer says what did and shows what is true now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.forms import BaseForm
from django.forms.utils import ErrorDict
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views import View
from django.views.generic import TemplateView

from .. import permissions, services, workflow
from ..choices import Step
from ..exceptions import CIRError, Conflict, Forbidden, InvalidInput, TransitionBlocked
from ..models import KPI
from ..services.measurements import DERIVED_REFUSAL
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
        overrides = refusal_restore(self.request, initiative)
        for name in OPEN_KPI_FORMS.values():
            # the way to a KPI's form without JavaScript (KPIFormMixin.get)
            value = self.request.GET.get(name, "")
            if value.isdigit():
                overrides.setdefault(f"open_{name}", int(value))
        context.update(pages.initiative_page(self.request.user, initiative, **overrides))
        return context


#: the query parameter of the page that shows a KPI's edit or re-baseline form open
OPEN_KPI_FORMS = {"edit": "kpi_edit", "rebaseline": "kpi_rebaseline"}


#: the session key of a refused write, kept for the page shown after its redirect
REFUSAL_KEY = "cir_refused_write"


def refusal_keep(request, initiative, overrides: dict) -> None:
    """Keep a refused write for the page its redirect shows: each bound form's data and
    errors (the view rebuilds the form), and the other overrides as they are."""
    forms, plain = [], {}
    for key, value in overrides.items():
        if isinstance(value, BaseForm):
            forms.append(_kept_form(key, None, value))
        elif isinstance(value, dict) and value and isinstance(next(iter(value)), int):
            # {pk: form} or {pk: message}: JSON has no int keys, keep the pairs
            if all(isinstance(v, BaseForm) for v in value.values()):
                forms.extend(_kept_form(key, pk, form) for pk, form in value.items())
            else:
                plain[key] = {"pairs": list(value.items())}
        else:
            plain[key] = value
    request.session[REFUSAL_KEY] = {
        "reference": initiative.reference,
        "path": request.path,
        "forms": forms,
        "overrides": plain,
    }


def _kept_form(key: str, pk, form: BaseForm) -> dict:
    errors = {name: [str(m) for m in messages_] for name, messages_ in form.errors.items()}
    return {"key": key, "pk": pk, "data": dict(form.data.lists()), "errors": errors}


def refusal_restore(request, initiative) -> dict:
    """The overrides of a refused write of this initiative, kept by `refusal_keep`: shown
    once, on the page its redirect leads to."""
    kept = request.session.get(REFUSAL_KEY)
    if not kept:
        return {}
    del request.session[REFUSAL_KEY]
    if kept.get("reference") != initiative.reference:
        return {}
    try:
        match = resolve(kept["path"])
    except Resolver404:
        return {}
    view_class = getattr(match.func, "view_class", None)
    if view_class is None or not issubclass(view_class, InitiativePostView):
        return {}
    overrides = {
        key: dict(value["pairs"]) if isinstance(value, dict) and "pairs" in value else value
        for key, value in kept["overrides"].items()
    }
    view = view_class()
    view.setup(request, **match.kwargs)
    view.initiative = initiative
    url_kwargs = {k: v for k, v in match.kwargs.items() if k != "reference"}
    for spec in kept["forms"]:
        data = QueryDict(mutable=True)
        for name, values in spec["data"].items():
            data.setlist(name, values)
        try:
            form = view.make_form(initiative, data, **url_kwargs)
        except Http404:
            continue  # the row has gone since
        _put_errors(form, spec["errors"])
        if spec["pk"] is None:
            overrides[spec["key"]] = form
        else:
            overrides.setdefault(spec["key"], {})[spec["pk"]] = form
    return overrides


def _put_errors(form: BaseForm, errors: dict) -> None:
    """The errors the refused post had, without validating the form again (a service's
    errors would be lost, and validation asks the database)."""
    form.cleaned_data = {}
    form._errors = ErrorDict(renderer=form.renderer)
    for name, messages_ in errors.items():
        if name == NON_FIELD_ERRORS or name not in form.fields:
            errors_ = form.error_class(error_class="nonfield", renderer=form.renderer)
            name = NON_FIELD_ERRORS
        else:
            errors_ = form.error_class(renderer=form.renderer, field_id=form[name].auto_id)
        form._errors.setdefault(name, errors_).extend(messages_)


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
        """A move made from an out-of-date page, or one that does not exist from here:
        nothing changed. htmx gets the initiative as it is now with the message (409); a
        plain post goes back to the page, which says it."""
        if self.request.htmx:
            fresh = load_for_page(self.request.user, self.initiative.reference)
            context = pages.initiative_page(self.request.user, fresh, error=message)
            html = render_to_string(InitiativePostView.partial, context, request=self.request)
            return HttpResponse(html, status=409)
        messages.error(self.request, message)
        return HttpResponseRedirect(initiative_url(self.initiative, self.anchor))

    def failure(self, *, status: int = 422, **overrides) -> HttpResponse:
        """A refused write: htmx gets its part of the page with the errors (`status`); a
        plain post is redirected to the page, which shows them once (no re-post on reload)."""
        if self.section:
            overrides["opened"] = [self.section]
        if self.request.htmx:
            fresh = load_for_page(self.request.user, self.initiative.reference)
            return self.render_partial(fresh, status=status, **overrides)
        refusal_keep(self.request, self.initiative, overrides)
        return HttpResponseRedirect(initiative_url(self.initiative, self.anchor))

    def make_form(self, initiative, data, **kwargs):
        """The view's form bound to `data` (also to show a refused post again)."""
        raise NotImplementedError

    def render_partial(self, initiative, *, status: int = 200, **overrides) -> HttpResponse:
        request = self.request
        context = pages.initiative_page(request.user, initiative, **overrides)
        context["section_name"] = self.section
        html = render_to_string(self.partial, context, request=request)
        if self.partial != InitiativePostView.partial:
            # the moves, the summary and the details (the vision's goals) change with most
            # edits: refresh them out of band
            for oob in ("_moves.html", "_summary.html", "_details.html"):
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
        form = self.make_form(initiative, request.POST, record=record)
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

    def make_form(self, initiative, data, *, record):
        self.section, self.anchor = record, f"step-{record}"
        extra = {"initiative": initiative} if record == "vision" else {}
        return RECORD_FORMS[record](
            data, instance=pages.step_record(initiative, record), auto_id=f"id_{record}_%s", **extra
        )


class DetailsUpdateView(InitiativePostView):
    """Change the register fields, the owner, RACI and (CSI managers) the priority."""

    anchor = "details"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = self.make_form(initiative, request.POST)
        return self.answer(
            form,
            lambda: services.initiative_update(
                initiative=initiative, actor=request.user, **form.service_data()
            ),
            lambda _: "Details saved.",
            details_form=form,
        )

    def make_form(self, initiative, data):
        can_manage = permissions.may_manage(self.request.user)
        return InitiativeForm(
            data, instance=initiative, auto_id="id_details_%s", may_set_priority=can_manage
        )


class MoveView(InitiativePostView):
    """Make one move of the workflow, from the step the page showed: only the moves offered
    to the user (else 403, naming who may); a move from a stale page is refused (409)."""

    anchor = "moves"

    def handle(self, request, initiative):
        to, seen = request.POST.get("to", ""), request.POST.get("from", "")
        move = workflow.offered_move(initiative, request.user, to)
        if move is None and seen in ("", initiative.step):
            open_ = [
                t.label
                for t in workflow.allowed_transitions(initiative, request.user)
                if t.permitted
            ]
            if workflow.find_transition(initiative, to) is None and open_:
                # no such move from here (a skipped step) for someone who may move it on:
                # not a matter of who may, but of what can be done from here
                return self.stale(self.impossible(initiative, open_))
            raise PermissionDenied(self.denial(initiative, to))
        # not offered from a stale page: the service answers what changed (Conflict)
        requirements = move.requires if move else ()
        form = self.make_form(initiative, request.POST)
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

    def make_form(self, initiative, data):
        to = data.get("to", "")
        move = workflow.offered_move(initiative, self.request.user, to)
        requires = [r.name for r in move.requires] if move else []
        return MoveForm(data, requires=requires, auto_id=f"id_move_{to}_%s")

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

    @staticmethod
    def impossible(initiative, open_: list[str]) -> str:
        """A move that does not exist from here (a step skipped): the moves that do."""
        return (
            f"That move is not possible from “{initiative.get_step_display()}”: the steps "
            f"are taken in turn. The moves from here are: {'; '.join(open_)}."
        )


class ActionPostView(InitiativePostView):
    """Base of the writes on the actions: they answer with the section of step 5."""

    partial = "improvement/includes/_step_section_response.html"
    anchor = "step-action"
    section = "action"


class ActionCreateView(ActionPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = self.make_form(initiative, request.POST)
        return self.answer(
            form,
            lambda: services.action_create(
                initiative=initiative, actor=request.user, **form.cleaned_data
            ),
            lambda action: f"Action “{action.title}” added.",
            action_form=form,
        )

    def make_form(self, initiative, data):
        return ActionForm(data, auto_id="id_newaction_%s")


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
        form = self.form_for(action, data)
        return self.answer(
            form,
            lambda: services.action_update(action=action, actor=request.user, **form.cleaned_data),
            lambda action: f"Action “{action.title}” saved.",
            action_forms={action.pk: form},
        )

    def make_form(self, initiative, data, *, pk):
        return self.form_for(get_object_or_404(initiative.actions, pk=pk), data)

    @staticmethod
    def form_for(action, data):
        return ActionForm(data, instance=action, auto_id=f"id_action{action.pk}_%s")


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

    def make_form(self, initiative, data, *, pk):
        return self.form_for(get_object_or_404(initiative.kpis, pk=pk), data)


class KPIFormMixin:
    """GET: a KPI card's form on its own, asked for by the card when its <details> is first
    opened (htmx), as the POST to the same URL would show it; the same permission as the
    POST. Without htmx (no JavaScript), the page with that form open."""

    http_method_names = ["get", "post"]
    #: which form: a key of OPEN_KPI_FORMS
    form_name = ""
    template = ""

    def get(self, request, reference, pk):
        initiative = load_for_write(request.user, reference)
        kpi = get_object_or_404(initiative.kpis, pk=pk)
        rebaseline = self.form_name == "rebaseline"
        if rebaseline:
            self.require(permissions.may_rebaseline(request.user), permissions.NEED_REBASELINE)
        else:
            self.require(permissions.may_edit(request.user, initiative))
        if not request.htmx:
            page = initiative_url(initiative)
            return HttpResponseRedirect(
                f"{page}?{OPEN_KPI_FORMS[self.form_name]}={kpi.pk}#kpi-{kpi.pk}-{self.form_name}"
            )
        context = pages.kpi_form_card(request.user, initiative, kpi, rebaseline=rebaseline)
        response = HttpResponse(render_to_string(self.template, context, request=request))
        add_never_cache_headers(response)  # a form shows the KPI as it is now
        patch_vary_headers(response, ["HX-Request"])
        return response


class KPICreateView(KPIPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = self.make_form(initiative, request.POST)
        return self.answer(
            form,
            lambda: services.kpi_create(
                initiative=initiative, actor=request.user, **form.service_data()
            ),
            lambda kpi: f"KPI “{kpi.name}” added.",
            kpi_form=form,
        )

    def make_form(self, initiative, data):
        return KPIForm(data, auto_id="id_newkpi_%s")


class KPIUpdateView(KPIFormMixin, KPIPostView):
    """Change a KPI's definition. Once the initiative has left step 3 the goalposts are
    locked: a change of them is refused with the way on, and nothing changes."""

    form_name = "edit"
    template = "improvement/includes/_kpi_edit.html"

    form_errors = (InvalidInput, Conflict)

    def handle(self, request, initiative, pk):
        kpi = self.editable_kpi(request, initiative, pk)
        form = self.form_for(kpi, KPIForm.with_locked_values(request.POST, kpi))
        return self.answer(
            form,
            lambda: services.kpi_update(kpi=kpi, actor=request.user, **form.service_data()),
            lambda kpi: f"KPI “{kpi.name}” saved.",
            kpi_forms={kpi.pk: form},
        )

    @staticmethod
    def form_for(kpi, data):
        return KPIForm(data, instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s")


class KPIRebaselineView(KPIFormMixin, KPIPostView):
    """A CSI manager changes a locked KPI definition, with a reason kept in its revision."""

    form_name = "rebaseline"
    template = "improvement/includes/_kpi_rebaseline.html"

    def handle(self, request, initiative, pk):
        kpi = get_object_or_404(initiative.kpis, pk=pk)
        form = self.form_for(kpi, request.POST)
        return self.answer(
            form,
            lambda: services.kpi_rebaseline(kpi=kpi, actor=request.user, **form.service_data()),
            lambda kpi: f"KPI “{kpi.name}” re-baselined.",
            rebaseline_forms={kpi.pk: form},
        )

    @staticmethod
    def form_for(kpi, data):
        return KPIRebaselineForm(data, instance=kpi, auto_id=f"id_rb{kpi.pk}_%s")


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
        if kpi.derived:  # the page offers no form for it: the refusal goes on top of the page
            return self.stale(DERIVED_REFUSAL)
        form = self.form_for(kpi, request.POST)

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

    @staticmethod
    def form_for(kpi, data):
        return MeasurementForm(data, auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)


class ReviewCreateView(InitiativePostView):
    """Record this iteration's review. A decision the KPI snapshot does not support is
    refused with each conflicting KPI in words, unless a justification makes it an override."""

    anchor = "step-review"
    section = "review"

    def handle(self, request, initiative):
        self.require(permissions.may_edit(request.user, initiative))
        form = self.make_form(initiative, request.POST)
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

    def make_form(self, initiative, data):
        return ReviewForm(data, auto_id="id_review_%s")

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
