"""Middleware of the browser wing."""

from __future__ import annotations

from django.utils.cache import patch_vary_headers


class VaryOnHtmxMiddleware:
    """Every answer varies on `HX-Request`: a page and the part of it that htmx asks for
    share one URL, so a browser's cache must not give the part back for the page (Back
    after filtering the register showed the bare results). One place for the whole site,
    the partials of the initiative page included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response
