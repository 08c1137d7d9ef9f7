"""Sign-in lockout (django-axes): the backend every sign-in door passes through, and the 429
answer with Retry-After a locked-out account gets (settings: the "ways in" block)."""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

LOCKED_MESSAGE = "Too many failed sign-in attempts for this account. Try again later."


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, skipped for calls without a request (management
    commands, a shell): they do not come over the network, so there is nothing to throttle.
    Every sign-in door (the login page, the admin login, the API token) passes the request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        # DRF wraps the request; axes keeps its state on Django's own
        return super().authenticate(
            getattr(request, "_request", request), username, password, **kwargs
        )


def retry_after_seconds(request: HttpRequest | None = None) -> int:
    """How long a locked-out account waits: the cool-off (every failed attempt during a
    lockout starts it again, so the full cool-off is the honest answer)."""
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """The answer to a locked-out sign-in: 429 with Retry-After; the API's error shape under
    /api/, a page everywhere else (AXES_LOCKOUT_CALLABLE)."""
    wait = retry_after_seconds(request)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"code": "throttled", "message": LOCKED_MESSAGE, "errors": {}}, status=429
        )
    else:
        minutes = max(1, math.ceil(wait / 60))
        html = render_to_string(
            "registration/locked_out.html", {"minutes": minutes}, request=request
        )
        response = HttpResponse(html, status=429)
    response["Retry-After"] = str(wait)
    return response
