"""The opportunities page (where service is being lost, ranked), promoting a group, and the
import of an ITSM export with its progress (SPEC §9)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from .. import opportunities as opp
from .. import permissions
from ..choices import DerivedMetric, Dimension, ImportStatus, RecordKind
from ..exceptions import CIRError, Conflict, Forbidden
from ..models import ITSMImport
from ..services import derived, itsm
from .access import CIRAccessMixin, initiative_url
from .forms import ServiceForm

NEED_IMPORT = "Only a CSI manager may import ITSM records in the browser."
NEED_PROMOTE = "Only a CSI manager may promote an opportunity to an initiative."


class OpportunityFilterForm(ServiceForm):
    dimension = forms.ChoiceField(label="Group by", choices=Dimension.choices, required=False)
    kind = forms.ChoiceField(label="Records", choices=RecordKind.choices, required=False)
    system = forms.CharField(label="System", max_length=64, required=False)
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class PromoteForm(ServiceForm):
    dimension = forms.ChoiceField(choices=Dimension.choices)
    group = forms.CharField(max_length=200, required=False, strip=False)
    kind = forms.ChoiceField(choices=RecordKind.choices)
    system = forms.CharField(max_length=64, required=False)
    start = forms.DateField()
    end = forms.DateField()
    metric = forms.ChoiceField(label="KPI", choices=DerivedMetric.choices)


class ImportForm(ServiceForm):
    file = forms.FileField(label="CSV export", help_text="UTF-8 CSV, as the tool exports it.")
    system = forms.CharField(
        label="System", max_length=64, initial="servicenow", help_text="e.g. servicenow, jira."
    )
    kind = forms.ChoiceField(label="Records", choices=RecordKind.choices)
    preset = forms.ChoiceField(
        label="Columns",
        required=False,
        choices=[
            ("", "The system's own preset"),
            ("servicenow", "ServiceNow export"),
            ("jsm", "Jira Service Management export"),
            ("none", "No preset: my mapping only"),
        ],
    )
    mapping = forms.CharField(
        label="Mapping (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Our field → your column, e.g. {"service": "Business service"}.',
    )
    date_format = forms.CharField(
        label="Date format",
        required=False,
        max_length=64,
        help_text="dmy, mdy, ymd or e.g. %d/%m/%Y %H:%M — detected from the dates when empty.",
    )
    dry_run = forms.BooleanField(label="Dry run: report only, write nothing", required=False)

    def clean_mapping(self):
        text = self.cleaned_data.get("mapping") or ""
        if not text.strip():
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError("The mapping must be JSON.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The mapping must be a JSON object.")
        return value


def _query(data) -> dict:
    """The page's filters, read leniently: a bad value falls back to the default."""
    form = OpportunityFilterForm(data or None)
    cleaned = form.cleaned_data if form.is_valid() else {}
    return {
        "form": form,
        "dimension": cleaned.get("dimension") or Dimension.CATEGORY,
        "kind": cleaned.get("kind") or RecordKind.INCIDENT,
        "system": (cleaned.get("system") or "").strip().lower(),
        "start": cleaned.get("start"),
        "end": cleaned.get("end"),
    }


class OpportunitiesView(CIRAccessMixin, TemplateView):
    """The groups of ITSM records of a period, ranked, with their figures and trend."""

    template_name = "improvement/opportunities.html"
    nav = "opportunities"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = _query(self.request.GET)
        user = self.request.user
        error = ""
        try:
            period = opp.period_from(query["start"], query["end"], today=timezone.localdate())
        except CIRError as exc:
            error = exc.message
            period = opp.period_from(None, None, today=timezone.localdate())
        items = opp.opportunities(
            dimension=query["dimension"], period=period, kind=query["kind"], system=query["system"]
        )
        top_score = items[0]["score"] if items else 0
        for item in items:
            item["bar"] = f"{(item['score'] / top_score * 100) if top_score else 0:.0f}%"
        context.update(
            query=query,
            form=query["form"],
            period=period,
            previous=period.previous(),
            items=items,
            error=error,
            dimension_label=Dimension(query["dimension"]).label,
            metrics=DerivedMetric.choices,
            may_promote=permissions.may_promote(user),
            may_import=permissions.may_import_itsm(user),
        )
        return context


class PromoteView(CIRAccessMixin, View):
    """POST: promote a group; to the new initiative's page, or back with the reason."""

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_promote(user)

    denial = NEED_PROMOTE

    def refused(self, message: str, back: str, status: int = 422) -> HttpResponse:
        """A refused promote: htmx gets the reason in place (4xx); a plain post goes back
        to the page with the reason as a message (POST-redirect-GET)."""
        if self.request.htmx:
            return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        messages.error(self.request, message)
        return HttpResponseRedirect(back)

    def post(self, request):
        form = PromoteForm(request.POST)
        back = reverse("improvement:opportunities")
        if not form.is_valid():
            return self.refused(
                "The opportunity could not be promoted: the form was not complete.", back
            )
        data = form.cleaned_data
        try:
            period = opp.period_from(data["start"], data["end"], today=timezone.localdate())
            initiative = derived.opportunity_promote(
                actor=request.user, dimension=data["dimension"], group=data["group"],
                period=period, metric=data["metric"], kind=data["kind"],
                system=(data.get("system") or "").lower(),
            )  # fmt: skip
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except CIRError as exc:
            return self.refused(exc.message, back, status=409 if isinstance(exc, Conflict) else 422)
        messages.success(
            request,
            f"{initiative.reference} is proposed, with a KPI measured from the records "
            f"(baseline {initiative.kpis.get().baseline_value:.2f}).",
        )
        return HttpResponseRedirect(initiative_url(initiative))


class ImportView(CIRAccessMixin, FormView):
    """The upload form; the import runs as a task whose progress the next page shows."""

    template_name = "improvement/itsm_import.html"
    form_class = ImportForm
    nav = "opportunities"
    denial = NEED_IMPORT

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_import_itsm(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["imports"] = list(
            ITSMImport.objects.filter(created_by=self.request.user)
            .defer("content")
            .order_by("-created_at")[:5]
        )
        return context

    def form_valid(self, form):
        data = form.cleaned_data
        upload = data["file"]
        options = {k: data.get(k) for k in ("preset", "mapping", "date_format", "dry_run")}
        try:
            job = itsm.itsm_import_start(
                actor=self.request.user, content=upload.read(), file_name=upload.name,
                system=data["system"], kind=data["kind"], options=options,
            )  # fmt: skip
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except CIRError as exc:
            form.add_service_errors(exc)
            return self.form_invalid(form)
        return HttpResponseRedirect(reverse("improvement:itsm-import", args=[job.pk]))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=422)


class ImportStatusView(CIRAccessMixin, View):
    """One import: its progress while it runs (htmx polls the part), then its answer."""

    denial = NEED_IMPORT

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_import_itsm(user)

    def get(self, request, pk: int):
        job = ITSMImport.objects.defer("content").filter(pk=pk, created_by=request.user).first()
        if job is None:
            raise Http404("No such import.")
        context = {
            "job": job,
            "running": job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING),
            "nav": "opportunities",
        }
        template = (
            "improvement/includes/_itsm_import_status.html"
            if request.htmx
            else "improvement/itsm_import_status.html"
        )
        return render(request, template, context)
