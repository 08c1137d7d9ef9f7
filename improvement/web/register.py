"""The register (filtered, sorted, paged), its CSV export, and proposing an idea."""

from __future__ import annotations

import csv
import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from .. import permissions, services, worklists
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
        return context

    def get_template_names(self):
        if self.request.htmx and self.request.htmx.target == "register-results":
            return ["improvement/includes/_register_results.html"]
        return [self.template_name]


class _Echo:
    def write(self, value):
        return value


#: where a spreadsheet may start a new cell, and so a formula: the cell's start, and after a
#: ',' or ';' (a semicolon-separator locale splits "x;=1+1" into "x" and a live "=1+1"),
#: spaces in between included; the formula's first character is quoted with "'"
_FORMULA_START = re.compile(r"(^|[;,])(\s*)(?=[=+\-@\t\r])")


def _csv_safe(value) -> str:
    """Cells that a spreadsheet would run as a formula are quoted as text, wherever a
    spreadsheet may see a cell start (after a ',' or ';' as well as at the start)."""
    text = "" if value is None else str(value)
    return _FORMULA_START.sub(lambda m: f"{m.group(1)}{m.group(2)}'", text)


CSV_COLUMNS = (
    "reference", "title", "step", "health", "priority", "score", "value", "effort", "urgency",
    "owner", "due_date", "source", "service", "practice", "goals", "iteration",
    "external_system", "external_id", "created_at", "updated_at",
)  # fmt: skip


class RegisterExportView(CIRAccessMixin, View):
    """The filtered register as CSV, in the register's order, every row (not one page)."""

    def get(self, request):
        qs = pages.register_queryset(pages.register_filterset(request))
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
