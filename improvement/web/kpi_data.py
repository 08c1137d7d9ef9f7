"""A KPI's data page: every measurement, newest first, a page at a time.

Paged by instant (`?before=<ISO instant>`), not by number: each page reads its rows from
the (kpi, measured_at) index, so the oldest page of a KPI of 100 000 points costs what the
newest does, and no page counts them all."""

from __future__ import annotations

from django.http import Http404
from django.utils.dateparse import parse_datetime
from django.views.generic import TemplateView

from ..models import KPI
from .access import CIRAccessMixin, load_for_write

#: measurements per page
PER_PAGE = 50


class KPIDataView(CIRAccessMixin, TemplateView):
    """Every measurement of one KPI of an initiative, newest first, PER_PAGE at a time."""

    template_name = "improvement/kpi_data.html"
    nav = "register"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        initiative = load_for_write(self.request.user, kwargs["reference"])
        try:
            kpi = KPI.objects.get(pk=kwargs["pk"], initiative=initiative)
        except KPI.DoesNotExist as exc:
            raise Http404("No such KPI on this initiative.") from exc
        rows = kpi.measurements.select_related("recorded_by").order_by("-measured_at")
        before = parse_datetime(self.request.GET.get("before", "") or "")
        if before is not None:
            rows = rows.filter(measured_at__lt=before)
        found = list(rows[: PER_PAGE + 1])  # one more: is there an older page?
        context.update(
            initiative=initiative,
            kpi=kpi,
            measurements=found[:PER_PAGE],
            older=found[PER_PAGE - 1].measured_at.isoformat() if len(found) > PER_PAGE else "",
            paged=before is not None,
            per_page=PER_PAGE,
        )
        return context
