"""My work: the signed-in home page — my initiatives by RACI role, my actions, reviews due,
KPIs in trouble, and for CSI managers the triage queue and the stale initiatives."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from .. import permissions, worklists
from ..filtersets import InitiativeFilterSet
from .access import CIRAccessMixin

#: query parameters of the register: "/" carrying any of them is an old register link
REGISTER_PARAMETERS = frozenset(
    {*InitiativeFilterSet.base_filters, "page", "per_page", "q", "status", "sort"}
)


class MyWorkView(CIRAccessMixin, TemplateView):
    """The home page. A request carrying the register's query parameters (a link from before
    the register moved to /register/) is redirected there with the same query."""

    template_name = "improvement/my_work.html"
    nav = "my-work"

    def dispatch(self, request, *args, **kwargs):
        if request.GET.keys() & REGISTER_PARAMETERS:
            url = f"{reverse('improvement:register')}?{request.GET.urlencode()}"
            return HttpResponseRedirect(url)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["work"] = worklists.my_work(self.request.user)
        context["is_csi"] = permissions.is_csi_manager(self.request.user)
        return context
