"""Getting a token, and what an unauthenticated or role-less caller sees."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from improvement import permissions

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

TOKEN_URL = "/api/v1/auth/token/"


def test_token_for_username_and_password(world: World):
    client = APIClient()
    response = client.post(
        TOKEN_URL, {"username": "servicenow", "password": "pass-1234"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    again = client.post(
        TOKEN_URL, {"username": "servicenow", "password": "pass-1234"}, format="json"
    )
    assert again.json()["token"] == token  # the same token until an admin deletes it
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/initiatives/").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "servicenow", "password": "wrong"},
        {"username": "ghost", "password": "pass-1234"},
    ],
    ids=["wrong password", "unknown user"],
)
def test_wrong_credentials_are_400_in_the_one_shape(world: World, body):
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "Unable to log in with the given username and password.",
        "errors": {"non_field_errors": ["Unable to log in with the given username and password."]},
    }


def test_inactive_user_gets_no_token(world: World):
    user = world.users["integration"]
    user.is_active = False
    user.save()
    response = APIClient().post(
        TOKEN_URL, {"username": "servicenow", "password": "pass-1234"}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "username"),
        ({"username": "x"}, "password"),
        ({"username": 1, "password": "p"}, "username"),
    ],
)
def test_token_request_needs_both_fields(world: World, body, field):
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_bad_token_is_401(world: World):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/initiatives/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_user_without_a_role_sees_nothing(world: World):
    response = world.client("norole").get("/api/v1/initiatives/")
    assert response.status_code == 403
    # the refusal names the role that may read
    assert response.json()["message"] == permissions.NEED_VIEW


def test_schema_and_docs_are_served(world: World, client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/initiatives/{id}/transitions/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI from the installed sidecar package, never a CDN
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
