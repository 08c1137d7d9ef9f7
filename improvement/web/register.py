"""The register (filtered, sorted, paged), its CSV and XLSX exports, and proposing an idea."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import FileResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from .. import permissions, services, sheets, worklists
from ..exceptions import Forbidden, InvalidInput
from . import access, pages
from .access import CIRAccessMixin, initiative_url
from .forms import ProposeForm


class RegisterView(CIRAccessMixin, TemplateView):
    """The register: every initiative, filtered, searched, sorted and paged."""

    template_name = "improvement/initiative_list.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(pages.register_page(self.request))
        context["may_import"] = permissions.may_manage(self.request.user)
        return context

    def get_template_names(self):
        if self.request.htmx and self.request.htmx.target == "register-results":
            return ["improvement/includes/_register_results.html"]
        return [self.template_name]


#: the register's columns, exported in this order: the first are those the CSV export has
#: always had; every one the import reads is named as the import's field (or an alias of
#: it: `owner` is the accountable), so an export imports back as it is
EXPORT_COLUMNS = (
    "reference", "title", "step", "health", "priority", "score", "value", "effort", "urgency",
    "owner", "due_date", "source", "service", "practice", "goals", "iteration",
    "external_system", "external_id", "created_at", "updated_at", "description",
    "external_url", "responsible", "consulted", "informed", "vision_statement",
    "expected_value", "baseline_assessment", "outcome", "closure_reason", "closed_at",
    "created_by",
)  # fmt: skip
#: kept for the callers of the CSV export's first version
CSV_COLUMNS = EXPORT_COLUMNS
#: initiatives read per database round trip of an export (each chunk loads its relations
#: in four more queries), so memory stays bounded at 100 000 rows
EXPORT_CHUNK = 2000


def _csv_safe(value) -> str:
    """The formula guard of every export (sheets.formula_safe)."""
    return sheets.formula_safe(value)


def _record_text(initiative, record: str, name: str) -> str:
    try:
        obj = getattr(initiative, record)
    except ObjectDoesNotExist:
        return ""
    return getattr(obj, name) if obj is not None else ""


def _usernames(people) -> str:
    return "; ".join(sorted(p.get_username() for p in people))


def register_export_rows(queryset):
    """Each initiative of `queryset` as a row of EXPORT_COLUMNS (plain values: dates stay
    dates, numbers numbers), read a chunk at a time."""
    queryset = queryset.select_related("vision", "baseline", "created_by").prefetch_related(
        "responsible", "consulted", "informed"
    )
    for i in queryset.iterator(chunk_size=EXPORT_CHUNK):
        yield (
            i.reference,
            i.title,
            i.step,
            i.health,
            i.priority,
            round(i.score, 2),
            i.value,
            i.effort,
            i.urgency,
            i.accountable.get_username() if i.accountable else "",
            i.due_date,
            i.source,
            i.service.name if i.service else "",
            i.practice.name if i.practice else "",
            "; ".join(g.title for g in i.goals.all()),
            i.iteration,
            i.external_system,
            i.external_id,
            i.created_at,
            i.updated_at,
            i.description,
            i.external_url,
            _usernames(i.responsible.all()),
            _usernames(i.consulted.all()),
            _usernames(i.informed.all()),
            _record_text(i, "vision", "statement"),
            _record_text(i, "vision", "expected_value"),
            _record_text(i, "baseline", "assessment"),
            i.outcome,
            i.closure_reason,
            i.closed_at,
            i.created_by.get_username() if i.created_by else "",
        )


def _attachment(response, name: str, extension: str):
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{extension}"'
    return response


def csv_response(header, rows, name: str) -> StreamingHttpResponse:
    """A CSV download streamed a row at a time, every text cell guarded against formulas."""
    response = StreamingHttpResponse(
        sheets.csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    return _attachment(response, name, "csv")


def xlsx_response(sheet_list, name: str) -> FileResponse:
    """An XLSX download of `sheet_list` ([(title, header, rows)]), written to a temporary
    file in write-only mode and streamed from it."""
    response = FileResponse(sheets.xlsx_file(sheet_list), content_type=sheets.XLSX_TYPE)
    return _attachment(response, name, "xlsx")


class RegisterExportView(CIRAccessMixin, View):
    """The filtered register as CSV or XLSX (`format`), in the register's order, every row
    (not one page) and every field."""

    format = "csv"

    def get(self, request):
        qs = pages.register_queryset(pages.register_filterset(request))
        rows = register_export_rows(qs)
        if self.format == "xlsx":
            return xlsx_response([("Register", list(EXPORT_COLUMNS), rows)], "cir-register")
        return csv_response(EXPORT_COLUMNS, rows, "cir-register")


# --- proposing ------------------------------------------------------------------------------


class ProposeView(CIRAccessMixin, FormView):
    """The short form for an idea: it lands in the register as `proposed`."""

    template_name = "improvement/initiative_propose.html"
    form_class = ProposeForm
    nav = "propose"

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_propose(user)

    @property
    def denial(self) -> str:
        return (
            permissions.NEED_CONTRIBUTOR
            if permissions.may_use_browser(self.request.user)
            else access.NEED_BROWSER
        )

    def get_initial(self):
        # /propose/?title=…: the idea prefilled, with the open initiatives alike shown
        return {k: self.request.GET[k][:200] for k in ("title",) if self.request.GET.get(k)}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.request.method == "GET" and self.request.GET.get("title"):
            context["duplicates"] = worklists.possible_duplicates(
                self.request.user, title=self.request.GET["title"][:200]
            )
            context["looked_up"] = True
        return context

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
