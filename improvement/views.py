"""Browser pages: the register, proposing an idea, the initiative page, portfolio and goals.

Views are thin: they parse a form, call one service, and answer with the page (or, for an
htmx request, the part of the page that changed). Domain errors are shown next to their
field or at the top; every successful POST without htmx redirects (POST-redirect-GET).
Only the moves a user may make are offered; anything else posted gets 403.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from . import choices, permissions, selectors, selectors_ui, services
from .choices import Step
from .exceptions import CIRError, Conflict, Forbidden, InvalidInput, TransitionBlocked
from .filtersets import InitiativeFilterSet
from .models import KPI, Action, Initiative
from .web.forms import (
    RECORD_FORMS,
    ActionForm,
    GoalForm,
    InitiativeForm,
    KPIForm,
    MeasurementForm,
    MoveForm,
    ProposeForm,
    ReviewForm,
    active_users,
)
from .workflow import allowed_transitions

DEFAULT_ORDERING = "-score,-created_at"
SORT_CHOICES = (
    (DEFAULT_ORDERING, "Score, highest first"),
    ("priority", "Priority, P1 first"),
    ("due_date", "Due date, soonest first"),
    ("-created_at", "Newest first"),
    ("-updated_at", "Recently updated"),
    ("reference", "Reference"),
    ("title", "Title A–Z"),
    ("step", "Step"),
    ("health", "Health"),
    ("owner", "Owner"),
)
PAGE_SIZES = (25, 50, 100)
#: the seven steps with what each one owns on the page
STEP_SECTIONS = (
    (Step.VISION, "vision", "record"),
    (Step.BASELINE, "baseline", "record"),
    (Step.TARGET, "target", "record"),
    (Step.PLAN, "plan", "record"),
    (Step.ACTION, "action", "actions"),
    (Step.REVIEW, "review", "reviews"),
    (Step.SUSTAIN, "sustain", "record"),
)
RECORD_NOUNS = {
    "vision": "vision",
    "baseline": "baseline",
    "target": "target",
    "plan": "plan",
    "sustain": "sustain measures",
}
PREVIEW_FIELD = {
    "vision": "statement",
    "baseline": "assessment",
    "target": "objectives",
    "plan": "approach",
    "sustain": "lessons_learned",
}


class CIRAccessMixin:
    """Anonymous users are sent to sign in; signed-in users without access get 403."""

    nav = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not self.has_access(request.user):
            raise PermissionDenied("Your account has no role that opens this page.")
        return super().dispatch(request, *args, **kwargs)

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        return context


# --- the register --------------------------------------------------------------------------


def sort_choices(current: str) -> list[tuple[str, str]]:
    """The register's sort options, plus the current one when a column header set it."""
    found = list(SORT_CHOICES)
    if current not in dict(found):
        field = current.lstrip("-").split(",")[0].replace("_", " ")
        found.append(
            (
                current,
                f"{field.capitalize()}, {'descending' if current.startswith('-') else 'ascending'}",
            )
        )
    return found


def register_filterset(request) -> InitiativeFilterSet:
    """The register's filters from the query string, with the default order."""
    data = request.GET.copy()
    data.pop("page", None)
    if not data.get("ordering"):
        data["ordering"] = DEFAULT_ORDERING
    return InitiativeFilterSet(
        data, queryset=selectors.initiative_list(request.user), request=request
    )


def register_queryset(filterset: InitiativeFilterSet):
    qs = filterset.qs
    # a stable order, so pages never repeat or skip a row
    return qs.order_by(*qs.query.order_by, "-pk")


class RegisterView(CIRAccessMixin, TemplateView):
    """The register: every initiative, filtered, searched, sorted and paged."""

    template_name = "improvement/initiative_list.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        filterset = register_filterset(request)
        try:
            per_page = int(request.GET.get("per_page", PAGE_SIZES[0]))
        except ValueError:
            per_page = PAGE_SIZES[0]
        per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
        paginator = Paginator(register_queryset(filterset), per_page)
        page = paginator.get_page(request.GET.get("page"))
        params = request.GET.copy()
        params.pop("page", None)
        active = {
            k: v for k, v in request.GET.items() if k not in ("page", "ordering", "per_page") and v
        }
        context.update(
            filterset=filterset,
            page=page,
            initiatives=page.object_list,
            per_page=per_page,
            page_sizes=PAGE_SIZES,
            default_ordering=DEFAULT_ORDERING.split(",")[0],
            filters_active=bool(active),
            active_count=len(active),
            sort_choices=sort_choices(request.GET.get("ordering") or DEFAULT_ORDERING),
            current_ordering=request.GET.get("ordering") or DEFAULT_ORDERING,
            export_query=params.urlencode(),
            options=selectors_ui.register_filter_options(),
            selected={k: request.GET.getlist(k) for k in request.GET},
            step_choices=choices.Step.choices,
            health_choices=choices.Health.choices,
            source_choices=choices.Source.choices,
            priority_choices=choices.Priority.choices,
            today=timezone.localdate(),
        )
        return context

    def get_template_names(self):
        if self.request.htmx and self.request.htmx.target == "register-results":
            return ["improvement/includes/_register_results.html"]
        return [self.template_name]


class _Echo:
    def write(self, value):
        return value


def _csv_safe(value) -> str:
    """Cells that a spreadsheet would run as a formula are quoted as text."""
    text = "" if value is None else str(value)
    if text and text[0] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


CSV_COLUMNS = (
    "reference", "title", "step", "health", "priority", "score", "value", "effort", "urgency",
    "owner", "due_date", "source", "service", "practice", "goals", "iteration",
    "external_system", "external_id", "created_at", "updated_at",
)  # fmt: skip


class RegisterExportView(CIRAccessMixin, View):
    """The filtered register as CSV, in the register's order, every row (not one page)."""

    def get(self, request):
        qs = register_queryset(register_filterset(request))
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for i in qs.iterator(chunk_size=1000):
                owner = i.accountable.get_username() if i.accountable else ""
                yield writer.writerow(
                    [
                        _csv_safe(v)
                        for v in (
                            i.reference,
                            i.title,
                            i.step,
                            i.health,
                            i.priority,
                            f"{i.score:.2f}",
                            i.value,
                            i.effort,
                            i.urgency,
                            owner,
                            i.due_date.isoformat() if i.due_date else "",
                            i.source,
                            i.service.name if i.service else "",
                            i.practice.name if i.practice else "",
                            "; ".join(g.title for g in i.goals.all()),
                            i.iteration,
                            i.external_system,
                            i.external_id,
                            i.created_at.isoformat(),
                            i.updated_at.isoformat(),
                        )
                    ]
                )

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="cir-register-{stamp}.csv"'
        return response


# --- proposing ------------------------------------------------------------------------------


class ProposeView(CIRAccessMixin, FormView):
    """The short form for an idea: it lands in the register as `proposed`."""

    template_name = "improvement/initiative_propose.html"
    form_class = ProposeForm
    nav = "propose"

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_propose(user)

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        if data.pop("accountable_me", False):
            data["accountable"] = self.request.user
        try:
            initiative = services.initiative_create(actor=self.request.user, **data)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except InvalidInput as exc:
            form.add_service_errors(exc)
            return self.render_to_response(self.get_context_data(form=form), status=422)
        messages.success(
            self.request,
            f"{initiative.reference} is registered as proposed. A CSI manager will triage it.",
        )
        return HttpResponseRedirect(initiative_url(initiative))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=422)


# --- the initiative page --------------------------------------------------------------------


def initiative_url(initiative: Initiative, anchor: str = "") -> str:
    url = reverse("improvement:initiative", args=[initiative.reference])
    return f"{url}#{anchor}" if anchor else url


def _load(user, reference: str) -> Initiative:
    try:
        return selectors_ui.initiative_page(user).get(reference=reference)
    except Initiative.DoesNotExist as exc:
        raise Http404("No initiative with that reference.") from exc


def _preview(record, name: str) -> str:
    if record is None:
        return ""
    return " ".join(str(getattr(record, PREVIEW_FIELD[name], "") or "").split())


def initiative_context(request, initiative: Initiative, **overrides) -> dict:
    """Everything the initiative page shows, for `request.user`.

    `overrides` carries bound forms with errors (by their context name), `move_errors`,
    `saved` (the section just saved) and `opened` (sections to show expanded).
    """
    user = request.user
    can_edit = permissions.may_edit(user, initiative)
    can_manage = permissions.may_manage(user)
    # the people the page's owner selects offer: read once, whatever the number of forms
    users = list(active_users()) if can_edit else []
    records = selectors_ui.step_records(initiative)
    done = selectors_ui.steps_done(initiative)
    opened = set(overrides.get("opened", ()))
    saved = overrides.get("saved", "")

    # the moves: only those the user is permitted; allowed ones as buttons, blocked with reasons
    moves = [t for t in allowed_transitions(initiative, user) if t.permitted]
    forward = [t for t in moves if t.allowed and not t.requires and not t.back]
    back = [t for t in moves if t.allowed and not t.requires and t.back]
    with_inputs = [t for t in moves if t.allowed and t.requires]
    blocked = [t for t in moves if not t.allowed]
    blocked_main = [t for t in blocked if not t.back]
    blocked_other = [t for t in blocked if t.back]

    steps = []
    order = list(choices.SEVEN_STEPS)
    for number, step in enumerate(order, start=1):
        state = "current" if initiative.step == step else "done" if step in done else "upcoming"
        steps.append(
            {
                "value": step.value,
                "number": number,
                "title": step.label.split(" · ", 1)[1],
                "state": state,
            }
        )

    sections = []
    for step, name, kind in STEP_SECTIONS:
        state = "current" if initiative.step == step else "done" if step in done else "upcoming"
        form = None
        record = records.get(name)
        if kind == "record" and can_edit:
            form = overrides.get(f"{name}_form") or RECORD_FORMS[name](
                instance=record,
                auto_id=f"id_{name}_%s",
                **({"initiative": initiative} if name == "vision" else {}),
            )
        sections.append(
            {
                "step": step.value,
                "name": name,
                "kind": kind,
                "number": order.index(step) + 1,
                "title": step.label.split(" · ", 1)[1],
                "state": state,
                "record": record,
                "form": form,
                "preview": _preview(record, name) if kind == "record" else "",
                "noun": RECORD_NOUNS.get(name, name),
                "open": state == "current" or name in opened or name == saved,
                "saved": name == saved,
            }
        )

    kpis = list(initiative.kpis.all())
    may_record = bool(kpis) and permissions.may_record_measurements(user, kpis[0])
    kpi_cards = []
    for kpi in kpis:
        check = kpi.latest_checks[0] if getattr(kpi, "latest_checks", None) else None
        kpi_cards.append(
            {
                "kpi": kpi,
                "check": check,
                "edit_form": (
                    overrides.get("kpi_forms", {}).get(kpi.pk)
                    or KPIForm(instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s")
                )
                if can_edit
                else None,
                "measurement_form": (
                    overrides.get("measurement_forms", {}).get(kpi.pk)
                    or MeasurementForm(auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)
                )
                if may_record
                else None,
                "open_edit": kpi.pk in overrides.get("kpi_forms", {})
                or kpi.pk in overrides.get("kpi_delete_errors", {}),
                "delete_error": overrides.get("kpi_delete_errors", {}).get(kpi.pk, ""),
                "open_measure": kpi.pk in overrides.get("measurement_forms", {}),
                "saved": overrides.get("saved_kpi") == kpi.pk,
            }
        )

    actions = []
    for action in initiative.actions.all():
        actions.append(
            {
                "action": action,
                "form": (
                    overrides.get("action_forms", {}).get(action.pk)
                    or ActionForm(instance=action, auto_id=f"id_action{action.pk}_%s", users=users)
                )
                if can_edit
                else None,
                "open": action.pk in overrides.get("action_forms", {}),
            }
        )
    reviews = list(initiative.reviews.all())
    current_review = next((r for r in reviews if r.iteration == initiative.iteration), None)
    may_review = can_edit and initiative.step == Step.REVIEW and current_review is None

    return {
        "nav": "register",
        "initiative": initiative,
        "can_edit": can_edit,
        "can_manage": can_manage,
        "steps": steps,
        "sections": sections,
        "records": records,
        "off_model": initiative.step not in order,
        "moves": moves,
        "moves_forward": forward,
        "moves_back": back,
        "moves_with_inputs": with_inputs,
        "moves_blocked": blocked_main,
        "moves_blocked_other": blocked_other,
        "move_form": overrides.get("move_form") or MoveForm(auto_id="id_move_%s"),
        "move_errors": overrides.get("move_errors", []),
        "move_to": overrides.get("move_to", ""),
        "kpi_cards": kpi_cards,
        "kpis_flash": overrides.get("flash", "") if overrides.get("kpis_flash") else "",
        "may_record": may_record,
        "kpi_form": overrides.get("kpi_form")
        or (KPIForm(auto_id="id_newkpi_%s") if can_edit else None),
        "kpi_form_open": "kpi_form" in overrides,
        "actions": actions,
        "action_form": overrides.get("action_form")
        or (ActionForm(auto_id="id_newaction_%s", users=users) if can_edit else None),
        "action_form_open": "action_form" in overrides,
        "reviews": reviews,
        "current_review": current_review,
        "may_review": may_review,
        "review_form": overrides.get("review_form")
        or (ReviewForm(auto_id="id_review_%s") if may_review else None),
        "details_form": overrides.get("details_form")
        or (
            InitiativeForm(
                instance=initiative,
                auto_id="id_details_%s",
                may_set_priority=can_manage,
                users=users,
            )
            if can_edit
            else None
        ),
        "details_open": "details_form" in overrides,
        "transitions": list(initiative.transitions.all()),
        "history": selectors_ui.change_history(initiative),
        "saved": saved,
        "flash": overrides.get("flash", ""),
        "error": overrides.get("error", ""),
        "today": timezone.localdate(),
    }


class InitiativeView(CIRAccessMixin, TemplateView):
    """The initiative page: stepper, moves, step records, actions, KPIs, reviews, history."""

    template_name = "improvement/initiative_detail.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        initiative = _load(self.request.user, kwargs["reference"])
        context.update(initiative_context(self.request, initiative))
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
        initiative = _load(request.user, reference)
        try:
            return self.handle(request, initiative, **kwargs)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc

    def require(self, allowed: bool, message: str = "You may not change this initiative.") -> None:
        if not allowed:
            raise PermissionDenied(message)

    def success(self, request, initiative, message: str, *, anchor: str = "", **overrides):
        if request.htmx:
            fresh = _load(request.user, initiative.reference)
            return self.render_partial(request, fresh, flash=message, **overrides)
        messages.success(request, message)
        return HttpResponseRedirect(initiative_url(initiative, anchor or self.anchor))

    def failure(self, request, initiative, *, status: int = 422, **overrides):
        fresh = _load(request.user, initiative.reference)
        if request.htmx:
            return self.render_partial(request, fresh, status=status, **overrides)
        context = initiative_context(request, fresh, **overrides)
        return render(request, "improvement/initiative_detail.html", context, status=status)

    def render_partial(self, request, initiative, *, status: int = 200, **overrides):
        context = initiative_context(request, initiative, **overrides)
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
        records = selectors_ui.step_records(initiative)
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
                label = dict(STEP_TITLES)[record]
                return self.success(
                    request, initiative, f"{label} saved.", anchor=f"step-{record}", saved=record
                )
        return self.failure(request, initiative, **{f"{record}_form": form, "opened": [record]})


STEP_TITLES = [(name, step.label) for step, name, _ in STEP_SECTIONS]


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


# --- portfolio and goals ----------------------------------------------------------------------


class PortfolioView(CIRAccessMixin, TemplateView):
    """The CSI manager's overview of the whole register."""

    template_name = "improvement/portfolio.html"
    nav = "portfolio"

    # the CSI manager's page, readable by every role: "read everything they can see"
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["p"] = selectors_ui.portfolio(self.request.user)
        context["efforts"] = range(1, 6)
        context["values"] = range(5, 0, -1)
        context["today"] = timezone.localdate()
        return context


class GoalsView(CIRAccessMixin, TemplateView):
    """Each organisational goal with its initiatives and their health."""

    template_name = "improvement/goal_list.html"
    nav = "goals"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["goals"] = selectors_ui.goals_overview(self.request.user)
        if permissions.may_manage(self.request.user):
            context["goal_form"] = kwargs.get("goal_form") or GoalForm(auto_id="id_goal_%s")
        return context

    def post(self, request):
        if not permissions.may_manage(request.user):
            raise PermissionDenied("Only a CSI manager manages goals.")
        form = GoalForm(request.POST, auto_id="id_goal_%s")
        if form.is_valid():
            try:
                goal = services.goal_create(actor=request.user, **form.cleaned_data)
            except CIRError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Goal “{goal.title}” added.")
                return HttpResponseRedirect(reverse("improvement:goals") + f"#goal-{goal.pk}")
        context = self.get_context_data(goal_form=form, goal_form_open=True)
        return self.render_to_response(context, status=422)


def register_link(**params) -> str:
    """A link to the register filtered by `params` (used by the portfolio)."""
    return reverse("improvement:register") + "?" + urlencode(params)
