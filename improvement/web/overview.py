"""The overviews: the CSI manager's portfolio and the organisational goals."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from .. import permissions, services
from ..exceptions import CIRError
from . import pages
from .access import CIRAccessMixin
from .forms import GoalForm


class PortfolioView(CIRAccessMixin, TemplateView):
    """The CSI manager's overview of the whole register."""

    template_name = "improvement/portfolio.html"
    nav = "portfolio"

    # the CSI manager's page, readable by every role: "read everything they can see"
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(pages.portfolio_page(self.request.user))
        return context


class GoalsView(CIRAccessMixin, TemplateView):
    """Each organisational goal with its initiatives and their health."""

    template_name = "improvement/goal_list.html"
    nav = "goals"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(pages.goals_page(self.request.user, kwargs.get("goal_form")))
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
