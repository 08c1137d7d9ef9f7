"""The re-baseline page of a KPI (`<id>/rebaseline/`, "Re-baseline…" on the KPI's page).

Once the initiative has left step 3, a KPI's baseline, target, dates, direction,
aggregation and window are locked; a CSI manager changes them here, with a reason, through
`services.kpi_rebaseline`, which keeps the change as a KPI revision. The checks made
before stay as they were.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import permissions, services
from ..exceptions import CIRError, InvalidInput
from ..models import KPI
from ..services.kpis import LOCKED_FIELDS
from .base import report_error, revision_lines


class RebaselineForm(forms.Form):
    """The reason and the definition fields (added per request, as the admin draws them)."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why the KPI's definition changes: kept in its revision, with who and when.",
    )
    target_change_pct = forms.FloatField(
        required=False,
        label="Target as change %",
        help_text="Instead of a target value: e.g. -15 sets the target 15 % below the baseline.",
    )
    field_order = (*LOCKED_FIELDS[:6], "target_change_pct", *LOCKED_FIELDS[6:], "reason")

    def changes(self) -> dict:
        """The definition fields changed on the form, as the service takes them."""
        data = {n: self.cleaned_data[n] for n in self.changed_data if n in LOCKED_FIELDS}
        if self.cleaned_data.get("target_change_pct") is not None:
            data["target_change_pct"] = self.cleaned_data["target_change_pct"]
        return data

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not self.changes():
            raise forms.ValidationError("Change at least one field of the definition.")
        return cleaned

    def add_service_errors(self, exc: InvalidInput) -> bool:
        """Put a service's field errors on the form; False when none belongs to a field."""
        placed = False
        if isinstance(exc.errors, dict):
            for name, errors in exc.errors.items():
                if name in self.fields:
                    for error in errors if isinstance(errors, list | tuple) else [errors]:
                        self.add_error(name, str(error))
                    placed = True
        return placed


class RebaselineMixin:
    """The re-baseline page of the KPI admin."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/rebaseline/",
                self.admin_site.admin_view(self.rebaseline_view),
                name="{}_{}_rebaseline".format(*info),
            ),
            *super().get_urls(),
        ]

    def rebaseline_url(self, kpi: KPI) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_rebaseline",
            args=[kpi.pk],
            current_app=self.admin_site.name,
        )

    def may_rebaseline(self, request, kpi: KPI) -> bool:
        """CSI managers re-baseline (services.kpi_rebaseline asks the same)."""
        return permissions.may_rebaseline(request.user) and self.has_change_permission(request, kpi)

    def rebaseline_form_class(self, request) -> type[RebaselineForm]:
        fields = {
            name: self.formfield_for_dbfield(KPI._meta.get_field(name), request)
            for name in LOCKED_FIELDS
        }
        return type("RebaselineForm", (RebaselineForm,), fields)

    def rebaseline_view(self, request, object_id):
        """GET: the form with the KPI's definition; POST: services.kpi_rebaseline."""
        kpi = self.get_object(request, unquote(object_id))
        if kpi is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.may_rebaseline(request, kpi):
            raise PermissionDenied(permissions.NEED_CSI)
        form_class = self.rebaseline_form_class(request)
        initial = {name: getattr(kpi, name) for name in LOCKED_FIELDS}
        form = form_class(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            try:
                saved = services.kpi_rebaseline(
                    kpi=kpi,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    **form.changes(),
                )
            except InvalidInput as exc:
                if not form.add_service_errors(exc):
                    report_error(request, exc)
            except CIRError as exc:
                report_error(request, exc)
            else:
                revision = saved.revisions.order_by("-at", "-id").first()
                what = "; ".join(revision_lines(revision.changes if revision else {}))
                self.log_change(request, saved, f"Re-baselined: {form.cleaned_data['reason']}")
                messages.success(request, f"KPI '{saved.name}' re-baselined: {what}.")
                change = reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[kpi.pk],
                    current_app=self.admin_site.name,
                )
                return HttpResponseRedirect(change)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Re-baseline {kpi.name}",
            "subtitle": None,
            "opts": self.opts,
            "original": kpi,
            "form": form,
            "media": self.media + form.media,
            "revisions": kpi.revisions.select_related("by").order_by("at", "id"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/improvement/kpi/rebaseline.html", context)
