"""Who gets in, and the initiatives the views load: anonymous users are sent to sign in,
signed-in users without a browser role get 403, an unknown reference is 404."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from .. import permissions, selectors
from ..models import Initiative
from . import pages_initiative

#: who may use the browser pages (permissions.may_use_browser)
NEED_BROWSER = (
    "Only users with a CIR role — Viewer, Improvement team, Service owner, Process owner or "
    "CSI manager — may open these pages; an ITSM integration account uses the API only."
)


class CIRAccessMixin:
    """Anonymous users are sent to sign in; signed-in users without access get 403, with
    the role the page needs (`denial`)."""

    nav = ""
    denial = NEED_BROWSER

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not self.has_access(request.user):
            raise PermissionDenied(self.denial)
        return super().dispatch(request, *args, **kwargs)

    def has_access(self, user) -> bool:
        return permissions.may_use_browser(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        return context


def initiative_url(initiative: Initiative, anchor: str = "") -> str:
    url = reverse("improvement:initiative", args=[initiative.reference])
    return f"{url}#{anchor}" if anchor else url


def load_for_page(user, reference: str) -> Initiative:
    """The initiative with everything its page shows (see
    pages_initiative.initiatives_for_page)."""
    return _get(pages_initiative.initiatives_for_page(user), reference)


def load_for_write(user, reference: str) -> Initiative:
    """The initiative alone, for a write: its service and practice come along for the
    permission checks of their owners. The page is loaded only if it is shown."""
    return _get(
        selectors.initiatives_visible_to(user).select_related("service", "practice"), reference
    )


def _get(queryset, reference: str) -> Initiative:
    try:
        return queryset.get(reference=reference)
    except Initiative.DoesNotExist as exc:
        raise Http404("No initiative with that reference.") from exc
