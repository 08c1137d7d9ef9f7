"""Brute force: every sign-in door (the login page, the admin login, the API token) locks a
username after repeated failures, answering 429 with Retry-After, and never by address
alone."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

TOKEN_URL = "/api/v1/auth/token/"
LOGIN_URL = "/accounts/login/"
ADMIN_LOGIN_URL = "/admin/login/"
PASSWORD = "pass-1234"


def token_attempt(username, password, *, ip="203.0.113.7"):
    return APIClient(REMOTE_ADDR=ip).post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )


def page_attempt(url, username, password, *, ip="203.0.113.7"):
    client = Client(REMOTE_ADDR=ip)
    return client, client.post(url, {"username": username, "password": password})


def test_sixty_wrong_passwords_then_the_right_one_gets_no_token(integration):
    for _ in range(60):
        assert token_attempt("servicenow", "wrong").status_code in (400, 429)

    response = token_attempt("servicenow", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == "throttled"
    assert "token" not in body
    assert not Token.objects.filter(user=integration).exists()


@pytest.mark.parametrize("url", [LOGIN_URL, ADMIN_LOGIN_URL], ids=["login page", "admin"])
def test_sixty_wrong_passwords_then_the_right_one_gets_no_session(csi, url):
    for _ in range(60):
        page_attempt(url, "csi", "wrong")

    client, response = page_attempt(url, "csi", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still signed out


def test_failures_below_the_limit_do_not_lock(csi):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert token_attempt("csi", "wrong").status_code == 400

    assert token_attempt("csi", PASSWORD).status_code == 200


def test_the_lock_holds_for_a_username_from_any_address(csi):
    for n in range(settings.AXES_FAILURE_LIMIT):
        token_attempt("csi", "wrong", ip=f"198.51.100.{n + 1}")

    assert token_attempt("csi", PASSWORD, ip="192.0.2.200").status_code == 429


def test_one_locked_username_leaves_the_office_behind_its_address_signing_in(csi, viewer):
    # one person behind the office's NAT address gets their password wrong many times …
    for _ in range(settings.AXES_FAILURE_LIMIT * 3):
        token_attempt("csi", "wrong", ip="203.0.113.50")

    # … and a colleague behind the same address still signs in, everywhere
    assert token_attempt("victor", PASSWORD, ip="203.0.113.50").status_code == 200
    client, response = page_attempt(LOGIN_URL, "victor", PASSWORD, ip="203.0.113.50")
    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(viewer.pk)


def test_signing_in_works_again_after_the_cool_off(csi):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        token_attempt("csi", "wrong")
    assert token_attempt("csi", PASSWORD).status_code == 429

    # the cool-off has passed: the attempts are older than it
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME * 2
    )

    assert token_attempt("csi", PASSWORD).status_code == 200
    client, response = page_attempt(LOGIN_URL, "csi", PASSWORD)
    assert response.status_code == 302
