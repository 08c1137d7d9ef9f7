"""Who may call what: every endpoint × every role (SPEC §4, §5).

Anonymous callers get 401 everywhere, users without a CIR role 403, readers 2xx on reads;
writes succeed for the roles allowed and answer 403 to the others, before reading the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .support import EDITORS, READERS, ROLES, World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

CSI = {"csi"}
PROPOSERS = {"integration", "owner", "outsider", "service_owner", "csi"}
FEEDERS = {"integration", "owner", "service_owner", "csi"}
#: the roles and RACI positions a refusal may name
WHO = ("CSI manager", "Viewer", "Improvement team", "accountable owner", "ITSM integration")


@dataclass(frozen=True)
class Call:
    """One endpoint: method, path (formatted with the world), body, who succeeds with what."""

    name: str
    method: str
    path: str
    allowed: set = field(default_factory=lambda: READERS)
    success: int = 200
    body: object = None


def W(w: World) -> dict:  # noqa: N802 - the names the paths are formatted with
    return {
        "i": w.initiative.pk,
        "p": w.proposed.pk,
        "r": w.in_review.pk,
        "k": w.kpi.pk,
        "key": w.kpi.key,
        "a": w.action.pk,
        "g": w.goal.pk,
        "wh": w.webhook.pk,
        "u": w.users["viewer"].pk,
    }


CALLS = [
    Call("token-free root", "GET", "/api/v1/"),
    Call("initiative list", "GET", "/api/v1/initiatives/"),
    Call(
        "initiative create",
        "POST",
        "/api/v1/initiatives/",
        PROPOSERS,
        201,
        {"title": "Fewer VPN drop-outs", "source": "problem"},
    ),
    Call("initiative read", "GET", "/api/v1/initiatives/{i}/"),
    Call("initiative patch", "PATCH", "/api/v1/initiatives/{i}/", EDITORS, body={"title": "New"}),
    Call("initiative delete", "DELETE", "/api/v1/initiatives/{p}/", CSI, 204),
    Call("transition log", "GET", "/api/v1/initiatives/{i}/transitions/"),
    Call(
        "transition",
        "POST",
        "/api/v1/initiatives/{i}/transitions/",
        EDITORS,
        body={"to": "baseline", "comment": "Vision agreed."},
    ),
    *[
        c
        for record, body in [
            ("vision", {"statement": "Stable VPN."}),
            ("baseline", {"assessment": "9 drops a day."}),
            ("target", {"objectives": "2 drops a day by June."}),
            ("plan", {"approach": "Roll back the client."}),
            ("sustain", {"embedding": "KB0042."}),
        ]
        for c in (
            Call(f"{record} read", "GET", f"/api/v1/initiatives/{{i}}/{record}/"),
            Call(
                f"{record} write", "PUT", f"/api/v1/initiatives/{{i}}/{record}/", EDITORS, body=body
            ),
        )
    ],
    Call("action list", "GET", "/api/v1/initiatives/{i}/actions/"),
    Call(
        "action create",
        "POST",
        "/api/v1/initiatives/{i}/actions/",
        EDITORS,
        201,
        {"title": "Pin the client version", "owner": "tina"},
    ),
    Call("action read", "GET", "/api/v1/actions/{a}/"),
    Call("action patch", "PATCH", "/api/v1/actions/{a}/", EDITORS, body={"status": "in_progress"}),
    Call("review list", "GET", "/api/v1/initiatives/{r}/reviews/"),
    Call(
        "review create",
        "POST",
        "/api/v1/initiatives/{r}/reviews/",
        EDITORS,
        201,
        # a decision the KPI's data (not measured yet) does not contradict
        {"decision": "iterate", "progress_check": "Drops down to 4 a day; the target is 2."},
    ),
    Call("goal list", "GET", "/api/v1/goals/"),
    Call("goal create", "POST", "/api/v1/goals/", CSI, 201, {"title": "Happy customers"}),
    Call("goal read", "GET", "/api/v1/goals/{g}/"),
    Call("goal patch", "PATCH", "/api/v1/goals/{g}/", CSI, body={"active": False}),
    Call("kpi list", "GET", "/api/v1/kpis/"),
    Call(
        "kpi create",
        "POST",
        "/api/v1/kpis/",
        EDITORS,
        201,
        {
            "initiative": "{i}",
            "key": "vpn-drops",
            "name": "VPN drops a day",
            "direction": "decrease",
        },
    ),
    Call("kpi read", "GET", "/api/v1/kpis/{k}/"),
    Call("kpi patch", "PATCH", "/api/v1/kpis/{k}/", EDITORS, body={"unit": "drops"}),
    Call("kpi delete", "DELETE", "/api/v1/kpis/{k}/", EDITORS, 204),
    Call(
        "kpi rebaseline",
        "POST",
        "/api/v1/kpis/{k}/rebaseline/",
        CSI,
        body={"reason": "The SLA changed.", "target_value": 7.5},
    ),
    Call("kpi revisions", "GET", "/api/v1/kpis/{k}/revisions/"),
    Call("measurement list", "GET", "/api/v1/kpis/{k}/measurements/"),
    Call(
        "measurement post",
        "POST",
        "/api/v1/kpis/{k}/measurements/",
        FEEDERS,
        body={"value": 9.0, "measured_at": "2026-02-01T09:00:00Z"},
    ),
    Call(
        "bulk measurements",
        "POST",
        "/api/v1/measurements/",
        FEEDERS,
        body=[{"kpi": "{key}", "value": 9.0, "measured_at": "2026-02-01T09:00:00Z"}],
    ),
    Call("check history", "GET", "/api/v1/kpis/{k}/checks/"),
    Call("check now", "POST", "/api/v1/kpis/{k}/checks/", FEEDERS),
    Call("webhook list", "GET", "/api/v1/webhooks/", CSI),
    Call(
        "webhook create",
        "POST",
        "/api/v1/webhooks/",
        CSI,
        201,
        {"name": "Jira", "url": "http://127.0.0.1:9/jira"},
    ),
    Call("webhook read", "GET", "/api/v1/webhooks/{wh}/", CSI),
    Call("webhook patch", "PATCH", "/api/v1/webhooks/{wh}/", CSI, body={"active": False}),
    Call("webhook delete", "DELETE", "/api/v1/webhooks/{wh}/", CSI, 204),
    Call("webhook deliveries", "GET", "/api/v1/webhooks/{wh}/deliveries/", CSI),
    Call("webhook rotate secret", "POST", "/api/v1/webhooks/{wh}/rotate-secret/", CSI),
    Call("user list", "GET", "/api/v1/users/"),
    Call("user read", "GET", "/api/v1/users/{u}/"),
]


def _fill(value, names: dict):
    """Format the world's ids into a body (ids stay numbers when the whole value is one)."""
    if isinstance(value, str):
        formatted = value.format(**names)
        return int(formatted) if value in ("{i}", "{k}") else formatted
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def expected(call: Call, role: str) -> int:
    if role == "anonymous":
        return 401
    if call.name == "token-free root":  # the browsable index: any signed-in user
        return 200
    return call.success if role in call.allowed else 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_role_endpoint_matrix(world: World, call: Call, role: str):
    names = W(world)
    client = world.client(role)
    response = client.generic(
        call.method,
        call.path.format(**names),
        data=None if call.body is None else __import__("json").dumps(_fill(call.body, names)),
        content_type="application/json",
    )
    assert response.status_code == expected(call, role), response.content[:400]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "errors"}
        if response.status_code == 401:
            assert body["code"] == "not_authenticated"
            assert response["WWW-Authenticate"] == "Token"
        if response.status_code == 403:  # a refusal names the role or RACI position needed
            assert body["message"].startswith("Only "), body["message"]
            assert any(who in body["message"] for who in WHO), body["message"]


@pytest.mark.parametrize("role", ["viewer", "integration", "outsider", "norole"])
def test_wrong_role_gets_403_even_with_a_bad_body(world: World, role: str):
    # the role is checked before the input: a caller learns nothing from validation
    response = world.client(role).patch(
        f"/api/v1/initiatives/{world.initiative.pk}/", {"value": "NaN"}, format="json"
    )
    assert response.status_code == 403


def test_session_auth_works_for_the_browser(world: World, client):
    client.force_login(world.users["viewer"])
    assert client.get("/api/v1/initiatives/").status_code == 200
    # unsafe methods with a session need the CSRF token (the browser's form sends it)
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.users["csi"])
    response = strict.post("/api/v1/goals/", {"title": "No CSRF"}, content_type="application/json")
    assert response.status_code == 403
