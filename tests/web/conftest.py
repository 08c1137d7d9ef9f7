"""Helpers of the browser tests: URLs by name, the htmx header, a signed-in client, a
page's text."""

import html

import pytest
from django.urls import reverse

from .. import factories

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"improvement:{name}", args=args)


def page(initiative):
    return url("initiative", initiative.reference)


def text(response) -> str:
    """The HTML of a response with its character references resolved (' for &#x27;)."""
    return html.unescape(response.content.decode())


@pytest.fixture
def client_for(client):
    """client_for(user) → the test client signed in as `user`."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def proposed(db):
    return factories.InitiativeFactory(title="Faster payroll restores")


def after_redirect(client, response):
    """A plain (not htmx) POST is answered with a redirect to the page, refused or not
    (POST-redirect-GET): the page it leads to, which shows a refusal once."""
    assert response.status_code == 302, response.status_code
    return client.get(response["Location"])
