"""The browser's notifications: the inbox, mark read, the preferences page, one-click
unsubscribe from an email, and following an initiative."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from .. import selectors
from ..choices import Delivery, NotificationKind
from ..exceptions import CIRError
from ..services import mail, notifications, watchers
from .access import CIRAccessMixin, load_for_write

PAGE_SIZE = 30


def _inbox_url(request) -> str:
    return reverse("improvement:notifications") + (
        "?unread=1" if request.POST.get("unread") or request.GET.get("unread") else ""
    )


class InboxView(CIRAccessMixin, TemplateView):
    """The signed-in user's notifications, newest first; `?unread=1` for the unread only."""

    template_name = "improvement/notification_list.html"
    nav = "notifications"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        unread_only = self.request.GET.get("unread") == "1"
        qs = selectors.notifications_of(self.request.user)
        if unread_only:
            qs = qs.filter(read_at__isnull=True)
        page = Paginator(qs, PAGE_SIZE).get_page(self.request.GET.get("page"))
        context.update(page=page, items=list(page.object_list), unread_only=unread_only)
        return context


class MarkReadView(CIRAccessMixin, View):
    """POST: mark one notification (`pk`) or all of them read; htmx gets the row or the
    list back, a plain form is sent back to the inbox."""

    def post(self, request, pk: int | None = None):
        count = notifications.notifications_mark_read(
            actor=request.user, ids=None if pk is None else [pk]
        )
        if request.htmx:
            if pk is not None:
                item = selectors.notifications_of(request.user).filter(pk=pk).first()
                if item is None:
                    raise Http404("No such notification of yours.")
                # the row, and the header's link with its new unread count (out of band)
                return render(
                    request,
                    "improvement/includes/_notification.html",
                    {"item": item, "oob": True, "nav": "notifications"},
                )
            return HttpResponse(headers={"HX-Redirect": _inbox_url(request)})
        if pk is None:
            messages.success(
                request, f"{count} notification{'s' if count != 1 else ''} marked read."
            )
        return HttpResponseRedirect(request.POST.get("next") or _inbox_url(request))


class PreferencesForm(forms.Form):
    """One choice of delivery per kind of notification."""

    def __init__(self, *args, current: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        for kind in NotificationKind:
            self.fields[kind.value] = forms.ChoiceField(
                label=kind.label, choices=Delivery.choices, initial=current[kind.value]
            )


class NotificationSettingsView(CIRAccessMixin, TemplateView):
    """How the user wants each kind of notification: off, in the app, by email, digest."""

    template_name = "improvement/notification_settings.html"
    nav = "notification-settings"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "form" not in context:
            current = notifications.preferences_for(self.request.user)
            context["form"] = PreferencesForm(current=current)
        context["has_email"] = bool(self.request.user.email)
        return context

    def post(self, request):
        current = notifications.preferences_for(request.user)
        form = PreferencesForm(request.POST, current=current)
        if form.is_valid():
            try:
                notifications.notification_preferences_set(
                    actor=request.user, preferences=form.cleaned_data
                )
            except CIRError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Notification preferences saved.")
                return HttpResponseRedirect(reverse("improvement:notification-settings"))
        return self.render_to_response(self.get_context_data(form=form), status=422)


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """An email's unsubscribe link: GET asks to confirm, POST unsubscribes (RFC 8058: a
    mail client posts "List-Unsubscribe=One-Click" with no session). The signed token is
    the authority; no sign-in is needed."""

    template_name = "improvement/notification_unsubscribe.html"

    def _context(self, token: str) -> dict:
        try:
            _, kind = mail.token_subject(token)
        except CIRError:
            return {"invalid": True}
        label = "the daily digest" if kind == mail.DIGEST else NotificationKind(kind).label
        return {"what": label, "token": token}

    def get(self, request, token: str):
        context = self._context(token)
        return render(
            request, self.template_name, context, status=400 if "invalid" in context else 200
        )

    def post(self, request, token: str):
        context = self._context(token)
        if "invalid" in context:
            return render(request, self.template_name, context, status=400)
        try:
            mail.notifications_unsubscribe(token=token)
        except CIRError:
            return render(request, self.template_name, {"invalid": True}, status=400)
        return render(request, self.template_name, {**context, "done": True})


class WatchView(CIRAccessMixin, View):
    """POST follow=1 to follow an initiative, follow=0 to stop; htmx gets the panel back."""

    def post(self, request, reference: str):
        initiative = load_for_write(request.user, reference)
        follow = request.POST.get("follow") == "1"
        error = ""
        try:
            if follow:
                watchers.initiative_watch(actor=request.user, initiative=initiative)
            else:
                watchers.initiative_unwatch(actor=request.user, initiative=initiative)
        except CIRError as exc:
            error = exc.message
        if request.htmx:
            status = 409 if error else 200
            return render(
                request,
                "improvement/includes/_watchers.html",
                {"initiative": initiative, "watch_error": error},
                status=status,
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(
                request,
                f"You follow {initiative.reference}."
                if follow
                else f"You no longer follow {initiative.reference}.",
            )
        return HttpResponseRedirect(
            reverse("improvement:initiative", args=[initiative.reference]) + "#watchers"
        )
