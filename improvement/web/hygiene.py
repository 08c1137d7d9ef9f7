"""Register hygiene in the browser: the possible duplicates shown while proposing, and a
CSI manager closing an initiative as a duplicate of another."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.views import View
from django.views.generic import TemplateView

from .. import permissions, worklists
from ..exceptions import CIRError, Forbidden
from ..models import Initiative
from ..services.hygiene import initiative_close_as_duplicate
from .access import CIRAccessMixin, initiative_url, load_for_write
from .forms_people import CloseAsDuplicateForm


class ProposeDuplicatesView(CIRAccessMixin, TemplateView):
    """The open initiatives alike the idea being proposed (title, description): what the
    propose page shows as the title is typed (htmx), or on its own without script."""

    template_name = "improvement/includes/_possible_duplicates.html"

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user) and permissions.may_propose(user)

    @property
    def denial(self) -> str:
        return permissions.NEED_CONTRIBUTOR

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        context["duplicates"] = worklists.possible_duplicates(
            self.request.user,
            title=params.get("title", "")[:200],
            description=params.get("description", "")[:2000],
        )
        context["looked_up"] = True
        return context


class CloseAsDuplicateView(CIRAccessMixin, View):
    """A CSI manager ends the initiative as a duplicate of another (by its reference)."""

    http_method_names = ["post"]

    def refuse(self, initiative, message: str, status: int = 422):
        """A refusal: in place for htmx (4xx with the message), else a message on the page
        the redirect shows (POST-redirect-GET)."""
        if self.request.htmx:
            return HttpResponse(message, status=status, content_type="text/plain")
        messages.error(self.request, message)
        return HttpResponseRedirect(initiative_url(initiative, "hygiene"))

    def post(self, request, reference):
        initiative = load_for_write(request.user, reference)
        form = CloseAsDuplicateForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
            return self.refuse(initiative, f"Nothing was changed: {errors}")
        other_ref = form.cleaned_data["duplicate_of"].strip().upper()
        other = Initiative.objects.filter(reference=other_ref).first()
        if other is None:
            return self.refuse(initiative, f"No initiative has the reference {other_ref}.")
        try:
            initiative_close_as_duplicate(
                initiative=initiative,
                actor=request.user,
                duplicate_of=other,
                reason=form.cleaned_data["reason"],
            )
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except CIRError as exc:
            return self.refuse(initiative, exc.message, 422 if exc.code == "invalid" else 409)
        messages.success(
            request, f"{initiative.reference} was closed as a duplicate of {other.reference}."
        )
        return HttpResponseRedirect(initiative_url(initiative))
