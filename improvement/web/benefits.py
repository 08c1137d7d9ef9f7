"""The benefits section of the initiative page (SPEC §10): add, change and remove expected
benefits, and record what one realised (at the review, while sustaining, once closed).

Each write calls a service of services/benefits.py. A refused write shows the initiative
page again (422) with the form and its errors; a saved one redirects to the section
(POST-redirect-GET).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string

from .. import choices, permissions, services
from ..exceptions import Conflict, InvalidInput
from ..models import BENEFIT_AMOUNT_LIMIT, Benefit
from . import pages_initiative as pages
from .access import initiative_url, load_for_page
from .forms import ServiceForm
from .initiative import InitiativePostView
from .reports import realisations_prefetch

ANCHOR = "benefits"


def _amount(label: str, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        max_digits=15,
        decimal_places=2,
        min_value=0,
        max_value=BENEFIT_AMOUNT_LIMIT,
        **kwargs,
    )


class BenefitForm(ServiceForm):
    """An expected benefit; the KPI is one of the initiative's (given as `kpis`)."""

    category = forms.ChoiceField(choices=choices.BenefitCategory.choices)
    amount = _amount("Expected amount")
    unit = forms.CharField(
        max_length=32,
        label="Unit or currency",
        help_text="A currency code (EUR, USD) or a unit (hours, points, %).",
    )
    kpi = forms.ChoiceField(label="KPI it rests on", required=False)
    description = forms.CharField(max_length=200, required=False, label="What it is")

    def __init__(self, *args, kpis=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.kpis = {str(k.pk): k for k in kpis}
        kpi_choices = [(pk, kpi.name) for pk, kpi in self.kpis.items()]
        self.fields["kpi"].choices = [("", "— none —"), *kpi_choices]

    def clean_kpi(self):
        return self.kpis.get(self.cleaned_data.get("kpi") or "")

    @classmethod
    def for_benefit(cls, benefit, kpis, data=None):
        initial = {
            "category": benefit.category,
            "amount": benefit.amount,
            "unit": benefit.unit,
            "kpi": str(benefit.kpi_id or ""),
            "description": benefit.description,
        }
        return cls(data, initial=initial, kpis=kpis, auto_id=f"id_benefit{benefit.pk}_%s")


class RealiseForm(ServiceForm):
    amount = _amount("Realised amount to date")
    note = forms.CharField(
        required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )


def benefits_section(user, initiative, context) -> dict:
    """The section's data: each benefit with its forms (for those who may), the form to add
    one, and whether realised amounts may be recorded now. From the page's prefetched KPIs;
    the benefits in two queries (one if the page prefetched them)."""
    kpis = list(initiative.kpis.all())
    may_edit = permissions.may_edit_benefits(user, initiative)
    may_realise = permissions.may_realise_benefits(user, initiative)
    edit_forms = context.get("benefit_forms") or {}
    realise_forms = context.get("realise_forms") or {}
    delete_errors = context.get("benefit_delete_errors") or {}
    benefits = Benefit.objects.filter(initiative=initiative).select_related("kpi")
    rows = []
    for benefit in benefits.prefetch_related(realisations_prefetch()):
        rows.append(
            {
                "benefit": benefit,
                "realisations": list(benefit.realisations.all()),
                "edit_form": edit_forms.get(benefit.pk)
                or (BenefitForm.for_benefit(benefit, kpis) if may_edit else None),
                "realise_form": realise_forms.get(benefit.pk)
                or (RealiseForm(auto_id=f"id_realise{benefit.pk}_%s") if may_realise else None),
                "open_edit": benefit.pk in edit_forms or benefit.pk in delete_errors,
                "delete_error": delete_errors.get(benefit.pk, ""),
            }
        )
    return {
        "rows": rows,
        "may_edit": may_edit,
        "may_realise": may_realise,
        "realisation_steps": [choices.Step(s).label for s in choices.REALISATION_STEPS],
        "add_form": context.get("benefit_form")
        or (BenefitForm(kpis=kpis, auto_id="id_newbenefit_%s") if may_edit else None),
        "add_open": bool(context.get("benefit_form")),
    }


class BenefitPostView(InitiativePostView):
    """Base of the benefit writes: success redirects to the section; a refusal shows the
    page again with the form and its errors (422, or 409 for a conflict)."""

    anchor = ANCHOR
    form_errors = (InvalidInput, Conflict)

    def answer(self, form, write, message, **failed) -> HttpResponse:
        status = 422
        if form.is_valid():
            try:
                result = write()
            except self.form_errors as exc:
                form.add_service_errors(exc)
                status = 409 if isinstance(exc, Conflict) else 422
            else:
                messages.success(self.request, message(result))
                return HttpResponseRedirect(initiative_url(self.initiative, self.anchor))
        return self.refused(status=status, **failed)

    def refused(self, *, status: int, **forms_) -> HttpResponse:
        request = self.request
        fresh = load_for_page(request.user, self.initiative.reference)
        context = pages.initiative_page(request.user, fresh)
        context.update(forms_)
        context["benefits_error"] = True
        html = render_to_string("improvement/initiative_detail.html", context, request=request)
        return HttpResponse(html, status=status)


class BenefitCreateView(BenefitPostView):
    def handle(self, request, initiative):
        self.require(permissions.may_edit_benefits(request.user, initiative))
        form = BenefitForm(request.POST, kpis=initiative.kpis.all(), auto_id="id_newbenefit_%s")
        return self.answer(
            form,
            lambda: services.benefit_create(
                actor=request.user, initiative=initiative, **form.cleaned_data
            ),
            lambda b: f"Expected benefit “{b.get_category_display()}” added.",
            benefit_form=form,
        )


class BenefitUpdateView(BenefitPostView):
    def handle(self, request, initiative, pk):
        benefit = get_object_or_404(initiative.benefits, pk=pk)
        self.require(permissions.may_edit_benefits(request.user, initiative))
        form = BenefitForm.for_benefit(benefit, initiative.kpis.all(), request.POST)
        return self.answer(
            form,
            lambda: services.benefit_update(
                actor=request.user, benefit=benefit, **form.cleaned_data
            ),
            lambda b: f"Expected benefit “{b.get_category_display()}” saved.",
            benefit_forms={benefit.pk: form},
        )


class BenefitDeleteView(BenefitPostView):
    def handle(self, request, initiative, pk):
        benefit = get_object_or_404(initiative.benefits, pk=pk)
        self.require(permissions.may_edit_benefits(request.user, initiative))
        try:
            services.benefit_delete(actor=request.user, benefit=benefit)
        except Conflict as exc:
            return self.refused(status=409, benefit_delete_errors={benefit.pk: exc.message})
        messages.success(request, "Expected benefit removed.")
        return HttpResponseRedirect(initiative_url(initiative, self.anchor))


class BenefitRealiseView(BenefitPostView):
    def handle(self, request, initiative, pk):
        benefit = get_object_or_404(initiative.benefits, pk=pk)
        self.require(
            permissions.may_realise_benefits(request.user, initiative)
            or initiative.step not in choices.REALISATION_STEPS,
            permissions.NEED_REALISE,
        )
        form = RealiseForm(request.POST, auto_id=f"id_realise{benefit.pk}_%s")
        return self.answer(
            form,
            lambda: services.benefit_realise(
                actor=request.user, benefit=benefit, **form.cleaned_data
            ),
            lambda r: f"Realised amount {r.amount} {benefit.unit} recorded.",
            realise_forms={benefit.pk: form},
        )
