"""Shared helpers of the API tests (no tests here): clients per role and a small world.

Import the fixtures you use: `from .support import World, world`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from improvement import choices
from improvement.models import KPI, Action, Benefit, Goal, Initiative, Webhook

from .. import factories
from ..conftest import force_step

#: every role the matrices exercise; "owner" holds A and R on the world's initiatives,
#: "outsider" is an Improvement team member who holds nothing on them
ROLES = [
    "anonymous",
    "norole",
    "viewer",
    "integration",
    "owner",
    "outsider",
    "service_owner",
    "csi",
]
READERS = {"viewer", "integration", "owner", "outsider", "service_owner", "csi"}
EDITORS = {"owner", "service_owner", "csi"}


def client_for(user=None, *, token: bool = True) -> APIClient:
    """An API client authenticated as `user` with a real token (or anonymous)."""
    client = APIClient()
    if user is not None:
        if token:
            key, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
        else:
            client.force_authenticate(user)
    return client


@dataclass
class World:
    """Users of every role and the objects the endpoints act on."""

    users: dict
    initiative: Initiative  # in `vision`, every record complete: it may move on
    proposed: Initiative
    in_review: Initiative
    kpi: KPI
    action: Action
    goal: Goal
    webhook: Webhook
    benefit: Benefit | None = None  # set by the tests that need one

    def client(self, role: str) -> APIClient:
        return client_for(self.users.get(role))


@pytest.fixture
def world(db, make_user, initiative_at, team_member, settings) -> World:
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    service_owner = make_user("service_owner", username="sonia")
    users = {
        "anonymous": None,
        "norole": make_user(None, username="nobody"),
        "viewer": make_user("viewer", username="victor"),
        "integration": make_user("integration", username="servicenow"),
        "owner": team_member,
        "outsider": make_user("team", username="otto"),
        "service_owner": service_owner,
        "csi": make_user("csi", username="csi", is_staff=True),
    }
    service = factories.ServiceFactory(name="VPN", owner=service_owner)
    initiative = initiative_at(choices.Step.VISION, service=service)
    proposed = initiative_at(choices.Step.PROPOSED, service=service)
    in_review = initiative_at(choices.Step.REVIEW, service=service)
    kpi = initiative.kpis.get()
    action = initiative.actions.get()
    goal = factories.GoalFactory(title="Resilient remote work")
    webhook = Webhook.objects.create(
        name="ITSM", url="http://127.0.0.1:9/hook", created_by=users["csi"]
    )
    return World(users, initiative, proposed, in_review, kpi, action, goal, webhook)


def point(value=7.5, at: str = "2026-02-01T09:00:00Z", **extra) -> dict:
    return {"value": value, "measured_at": at, "source": "test", **extra}


def kpi_at(initiative: Initiative, **kwargs) -> KPI:
    """A KPI with baseline and target (decrease 10 → 8 over 2026H1)."""
    return factories.KPIFactory(initiative=initiative, **kwargs)


def days_ago(n: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=n)).isoformat()


__all__ = [
    "EDITORS",
    "READERS",
    "ROLES",
    "World",
    "client_for",
    "days_ago",
    "force_step",
    "kpi_at",
    "point",
    "world",
]
