"""Spreadsheets in the browser: importing a register (upload → map columns → dry run →
commit), a KPI's measurements pasted or uploaded (preview → record), correcting or deleting
one measurement, and the exports (register, a KPI's data, the portfolio) as CSV and XLSX.

The pages translate: files are read by improvement/sheets.py, every write is a service
(services/imports.py, services/measurements.py), domain errors become form errors.
"""

from __future__ import annotations

import base64
import binascii

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.generic import TemplateView

from .. import permissions, services, sheets
from ..exceptions import CIRError, InvalidInput
from ..models import KPI, ImportMapping, KPICheck
from ..services.common import text_problem
from ..services.imports import IMPORT_FIELDS, NEED_CSI_IMPORT, mapping_guess, mapping_problems
from . import access, pages
from .access import CIRAccessMixin, initiative_url
from .forms import DateTimeInput, ServiceForm
from .register import csv_response, xlsx_response

# --- importing a register -------------------------------------------------------------------


class RegisterImportForm(ServiceForm):
    """What the import page posts besides the column choices (validated before any read)."""

    file = forms.FileField(required=False)
    content = forms.CharField(required=False)
    filename = forms.CharField(required=False, max_length=200)
    mapping_name = forms.CharField(required=False, max_length=100)
    save_mapping_as = forms.CharField(required=False, max_length=100)


class RegisterImportView(CIRAccessMixin, TemplateView):
    """Upload a CSV/XLSX register, map its columns, check it (a dry run: every row's
    outcome and errors), then import it all or nothing. CSI managers."""

    template_name = "improvement/register_import.html"
    nav = "register"
    denial = NEED_CSI_IMPORT

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_manage(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("saved_mappings", list(ImportMapping.objects.order_by("name")))
        context.setdefault("fields", IMPORT_FIELDS)
        context.setdefault("max_mb", sheets.MAX_BYTES // (1024 * 1024))
        context.setdefault("max_rows", sheets.MAX_ROWS)
        return context

    def fail(self, message: str, **context):
        context["file_error"] = message
        return self.render_to_response(self.get_context_data(**context), status=422)

    def post(self, request):
        form = RegisterImportForm(request.POST, request.FILES)
        if not form.is_valid():
            first = next(iter(form.errors.items()))
            return self.fail(f"{first[0]}: {first[1][0]}")
        try:
            data, name = self._file(request)
            sheet = sheets.sheet_read(data, name)
            mapping = self._mapping(request.POST, sheet.headers)
        except InvalidInput as exc:
            return self.fail(exc.message)
        context = {
            "content": base64.b64encode(data).decode("ascii"),
            "filename": name,
            "headers": sheet.headers,
            "row_count": len(sheet.rows),
            "mapping": mapping,
            "mapping_rows": [(f, mapping.get(f.name, "")) for f in IMPORT_FIELDS],
            "save_mapping_as": request.POST.get("save_mapping_as", "").strip(),
        }
        if problems := mapping_problems(mapping, sheet.headers):
            context["mapping_errors"] = [m for ms in problems.values() for m in ms]
            return self.render_to_response(self.get_context_data(**context), status=422)
        commit = request.POST.get("action") == "commit"
        if context["save_mapping_as"] and (
            problem := text_problem(context["save_mapping_as"], 100)
        ):  # refused before anything is imported
            return self.fail(problem, **context)
        try:
            report = services.register_import(
                actor=request.user, sheet=sheet, mapping=mapping, dry_run=not commit
            )
            if context["save_mapping_as"]:
                services.import_mapping_save(
                    actor=request.user, name=context["save_mapping_as"], mapping=mapping
                )
        except CIRError as exc:
            return self.fail(exc.message, **context)
        if report.committed:
            counts = report.counts
            messages.success(
                request,
                f"Imported {name}: {counts['create']} created, {counts['update']} updated, "
                f"{counts['unchanged']} unchanged.",
            )
            return HttpResponseRedirect(reverse("improvement:register") + "?scope=all")
        context["report"] = report
        context["refused"] = commit
        status = 422 if report.error_count else 200
        return self.render_to_response(self.get_context_data(**context), status=status)

    @staticmethod
    def _file(request) -> tuple[bytes, str]:
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > sheets.MAX_BYTES:
                raise InvalidInput(
                    f"The file is larger than {sheets.MAX_BYTES // (1024 * 1024)} MB."
                )
            return upload.read(), upload.name
        content = request.POST.get("content", "")
        if content:
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                data = None
            if data:
                return data, request.POST.get("filename", "")[:200]
        raise InvalidInput("Choose a CSV or XLSX file to import.")

    @staticmethod
    def _mapping(post, headers: list[str]) -> dict:
        """The columns chosen on the page; else a saved mapping; else a guess."""
        if post.get("mapped"):
            return {
                f.name: post[f"map_{f.name}"] for f in IMPORT_FIELDS if post.get(f"map_{f.name}")
            }
        name = post.get("mapping_name")
        if name:
            saved = ImportMapping.objects.filter(name=name).first()
            if saved is None:
                raise InvalidInput(f"There is no saved mapping '{name}'.")
            return {k: v for k, v in saved.mapping.items() if isinstance(v, str)}
        return mapping_guess(headers)


# --- a KPI's measurements: the table, pasting, correcting --------------------------------


def _kpi(request, reference: str, pk: int) -> KPI:
    initiative = access.load_for_write(request.user, reference)
    return get_object_or_404(initiative.kpis.select_related("initiative"), pk=pk)


#: measurements listed on a KPI's data page (the newest)
DATA_PAGE_ROWS = 50


class PointsForm(ServiceForm):
    text = forms.CharField(
        label="Paste the rows",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="Columns measured_at, value and optionally note (with that header, or in "
        "that order without one), separated by tabs, commas or semicolons. A time without a "
        "zone is in the site's time zone; a date alone is its midnight.",
    )
    file = forms.FileField(label="Or upload a CSV or XLSX file", required=False)


class KPIDataView(CIRAccessMixin, TemplateView):
    """A KPI's measurements, newest first, with a link to correct or delete each, the form
    to paste or upload more (previewed before recording) and its exports."""

    template_name = "improvement/kpi_data.html"

    def get(self, request, reference, pk):
        self.kpi = _kpi(request, reference, pk)
        return self.render_to_response(self.get_context_data())

    def may_record(self) -> bool:
        return permissions.may_record_measurements(self.request.user, self.kpi)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        kpi = self.kpi
        # paged by instant (`?before=<ISO instant>`), not by number: each page reads its
        # rows from the (kpi, measured_at) index, so the oldest page of a KPI of 100 000
        # points costs what the newest does, and no page counts them all
        rows = kpi.measurements.select_related("recorded_by").order_by("-measured_at")
        before = parse_datetime(self.request.GET.get("before", "") or "")
        if before is not None:
            rows = rows.filter(measured_at__lt=before)
        found = list(rows[: DATA_PAGE_ROWS + 1])  # one more: is there an older page?
        older = (
            found[DATA_PAGE_ROWS - 1].measured_at.isoformat() if len(found) > DATA_PAGE_ROWS else ""
        )
        context.update(
            kpi=kpi,
            initiative=kpi.initiative,
            measurements=found[:DATA_PAGE_ROWS],
            older=older,
            paged=before is not None,
            per_page=DATA_PAGE_ROWS,
            may_record=self.may_record(),
        )
        if context["may_record"]:
            context.setdefault("form", PointsForm(auto_id="id_points_%s"))
        return context

    def post(self, request, reference, pk):
        self.kpi = kpi = _kpi(request, reference, pk)
        if not self.may_record():
            raise PermissionDenied(permissions.NEED_FEED)
        form = PointsForm(request.POST, request.FILES, auto_id="id_points_%s")
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=422)
        try:
            upload = form.cleaned_data.get("file")
            if upload is not None:
                sheet = sheets.sheet_read(upload.read(), upload.name)
            else:
                sheet = sheets.sheet_from_text(form.cleaned_data.get("text") or "")
            points = sheets.measurement_points(sheet)
            commit = request.POST.get("action") == "record"
            report = services.measurements_import(
                kpi=kpi, actor=request.user, points=points, dry_run=not commit
            )
        except CIRError as exc:
            form.add_service_errors(exc)
            if not form.errors:
                form.add_error(None, exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=422)
        if report.recorded:
            messages.success(
                request, f"{report.recorded} measurement(s) recorded for “{kpi.name}”."
            )
            return HttpResponseRedirect(initiative_url(kpi.initiative, f"kpi-{kpi.pk}"))
        # the preview: the rows as read, in the text box to record them (or mend them)
        text = "measured_at,value,note\n" + "".join(
            f"{p['measured_at'] or ''},{p['value'] if p['value'] is not None else ''},"
            f"{_csv_note(p.get('note'))}\n"
            for p in report.rows
        )
        form = PointsForm(initial={"text": text}, auto_id="id_points_%s")
        context = self.get_context_data(form=form, preview=report)
        return self.render_to_response(context, status=422 if report.error_count else 200)


def _csv_note(note) -> str:
    if not note:
        return ""
    text = str(note)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',;"\n\t') else text


class MeasurementForm(ServiceForm):
    value = forms.FloatField(label="Value")
    measured_at = forms.DateTimeField(label="Measured at", widget=DateTimeInput())
    note = forms.CharField(label="Note", max_length=500, required=False)
    reason = forms.CharField(label="Why (kept in the history)", max_length=100, required=False)


class MeasurementEditView(CIRAccessMixin, TemplateView):
    """Correct or delete one measurement (those who may record the KPI's measurements); the
    page shows its history: each state, who changed it, when and why."""

    template_name = "improvement/measurement_edit.html"

    def load(self, request, reference, pk, mid):
        self.kpi = _kpi(request, reference, pk)
        self.measurement = get_object_or_404(self.kpi.measurements, pk=mid)
        if not permissions.may_record_measurements(request.user, self.kpi):
            raise PermissionDenied(permissions.NEED_FEED)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        m = self.measurement
        context.update(
            kpi=self.kpi,
            initiative=self.kpi.initiative,
            measurement=m,
            history=list(m.history.select_related("history_user").order_by("-history_date")),
        )
        context.setdefault(
            "form",
            MeasurementForm(
                initial={
                    "value": m.value,
                    "measured_at": timezone.localtime(m.measured_at).replace(tzinfo=None),
                    "note": m.note,
                },
                auto_id="id_correct_%s",
            ),
        )
        return context

    def get(self, request, reference, pk, mid):
        self.load(request, reference, pk, mid)
        return self.render_to_response(self.get_context_data())

    def post(self, request, reference, pk, mid):
        self.load(request, reference, pk, mid)
        back = reverse("improvement:kpi-data", args=[reference, pk])
        if request.POST.get("action") == "delete":
            reason = request.POST.get("delete_reason", "")[:100]
            try:
                services.measurement_delete(
                    measurement=self.measurement, actor=request.user, reason=reason
                )
            except CIRError as exc:
                context = self.get_context_data(delete_error=exc.message)
                return self.render_to_response(context, status=422)
            messages.success(request, "The measurement was deleted; the KPI is checked again.")
            return HttpResponseRedirect(back)
        form = MeasurementForm(request.POST, auto_id="id_correct_%s")
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.measurement_correct(
                    measurement=self.measurement,
                    actor=request.user,
                    value=data["value"],
                    measured_at=data["measured_at"],
                    note=data.get("note") or "",
                    reason=data.get("reason") or "",
                )
            except CIRError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, "The measurement was corrected; the KPI is checked again."
                )
                return HttpResponseRedirect(back)
        return self.render_to_response(self.get_context_data(form=form), status=422)


# --- exports --------------------------------------------------------------------------------

FORMATS = ("csv", "xlsx")

MEASUREMENT_COLUMNS = ["measured_at", "value", "source", "note", "recorded_by", "recorded_at"]
CHECK_COLUMNS = [
    "checked_at", "status", "current", "progress", "expected", "measurement_count",
    "previous_status",
]  # fmt: skip


def _measurement_rows(kpi: KPI):
    queryset = kpi.measurements.select_related("recorded_by").order_by("measured_at", "pk")
    for m in queryset.iterator(chunk_size=2000):
        yield (
            m.measured_at, m.value, m.source, m.note,
            m.recorded_by.get_username() if m.recorded_by else "", m.recorded_at,
        )  # fmt: skip


def _check_rows(kpi: KPI):
    queryset = KPICheck.objects.filter(kpi=kpi).order_by("checked_at", "pk")
    for c in queryset.iterator(chunk_size=2000):
        yield (
            c.checked_at, c.status, c.current, c.progress, c.expected, c.measurement_count,
            c.previous_status,
        )  # fmt: skip


class KPIExportView(CIRAccessMixin, View):
    """A KPI's measurements or checks as CSV, or both as the two sheets of an XLSX."""

    def get(self, request, reference, pk, table, format):
        if format not in FORMATS or table not in ("measurements", "checks", "data"):
            raise Http404("No such export.")
        kpi = _kpi(request, reference, pk)
        name = f"cir-{kpi.key}-{table}"
        if format == "xlsx":
            return xlsx_response(
                [
                    ("Measurements", MEASUREMENT_COLUMNS, _measurement_rows(kpi)),
                    ("Checks", CHECK_COLUMNS, _check_rows(kpi)),
                ],
                f"cir-{kpi.key}",
            )
        if table == "checks":
            return csv_response(CHECK_COLUMNS, _check_rows(kpi), name)
        return csv_response(MEASUREMENT_COLUMNS, _measurement_rows(kpi), name)


def portfolio_tables(p: pages.Portfolio) -> list[tuple[str, list[str], list]]:
    """The portfolio's figures as tables: (title, header, rows) — counts, and the lists'
    first TOP_N as the page shows them (the register export has every initiative)."""
    by_goal = [(g["goal"].title if g["goal"] else "(no goal)", g["count"]) for g in p.by_goal]
    return [
        ("By step", ["step", "label", "initiatives"], [list(row) for row in p.step_counts]),
        (
            "By health",
            ["health", "label", "open initiatives"],
            [list(row) for row in p.health_counts],
        ),
        ("By goal", ["goal", "open initiatives"], by_goal),
        (
            "Value vs effort",
            ["value", "effort", "open initiatives"],
            [
                (row["value"], cell["effort"], cell["count"])
                for row in p.matrix
                for cell in row["cells"]
            ],  # fmt: skip
        ),
        (
            "KPIs needing attention",
            ["initiative", "kpi", "name", "status"],
            [(k.initiative.reference, k.key, k.name, k.status) for k in p.kpis_attention],
        ),
        (
            "Overdue actions",
            ["initiative", "action", "owner", "due_date"],
            [
                (
                    a.initiative.reference,
                    a.title,
                    a.owner.get_username() if a.owner else "",
                    a.due_date,
                )
                for a in p.overdue_actions
            ],  # fmt: skip
        ),
    ]


class PortfolioExportView(CIRAccessMixin, View):
    """The portfolio's figures: XLSX (a sheet per table) or CSV (one table, the first
    column naming the table each row belongs to)."""

    def get(self, request, format):
        if format not in FORMATS:
            raise Http404("No such export.")
        tables = portfolio_tables(pages.portfolio(request.user))
        if format == "xlsx":
            return xlsx_response(tables, "cir-portfolio")
        width = max(len(header) for _, header, _ in tables)

        def rows():
            for title, header, body in tables:
                yield [title, *header, *[""] * (width - len(header))]
                for row in body:
                    yield [title, *row, *[""] * (width - len(row))]

        header = ["table", *[f"column {n}" for n in range(1, width + 1)]]
        return csv_response(header, rows(), "cir-portfolio")
