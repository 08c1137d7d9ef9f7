"""Shared fixtures: one user per role, initiatives put at any step, and the rule that
tests needing real services skip without them — and fail under CIR_REQUIRE_SERVICES=1."""

import os
import socket

import pytest
from django.db import connection
from django_fsm import FSMFieldMixin

from improvement import choices
from improvement.models import Initiative

from . import factories

REQUIRE_SERVICES = os.environ.get("CIR_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs a missing service; under CIR_REQUIRE_SERVICES=1, fail it."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing (CIR_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it): for a server a test starts,
    or for a service that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.hookimpl(trylast=True)  # after pytest-django's order: database tests, then transactional
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_needs_postgres")
    # the transactional tests that restore the migrated data (serialized_rollback, the
    # browser tests) before those that do not: a flush without restore re-creates content
    # types and permissions under new keys, which a later restore would collide with
    # (each process of make test runs its share in this order)
    items.sort(key=_flushes_without_restore)


def _flushes_without_restore(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(
        marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback")
    )


@pytest.fixture
def _needs_postgres():
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")


ROLE_NAMES = {
    "viewer": choices.Role.VIEWER,
    "team": choices.Role.IMPROVEMENT_TEAM,
    "service_owner": choices.Role.SERVICE_OWNER,
    "process_owner": choices.Role.PROCESS_OWNER,
    "csi": choices.Role.CSI_MANAGER,
    "integration": choices.Role.ITSM_INTEGRATION,
}


@pytest.fixture
def make_user(db):
    """make_user("csi") → a user holding that role (keys of ROLE_NAMES), or none for None."""

    def make(role: str | None = None, **kwargs):
        roles = [ROLE_NAMES[role]] if role else []
        username = (
            kwargs.pop("username", None)
            or f"{role or 'norole'}-{factories.UserFactory._meta.model.objects.count()}"
        )
        return factories.UserFactory(username=username, roles=roles, **kwargs)

    return make


@pytest.fixture
def csi(make_user):
    return make_user("csi", username="csi", is_staff=True)


@pytest.fixture
def team_member(make_user):
    return make_user("team", username="tina")


@pytest.fixture
def viewer(make_user):
    return make_user("viewer", username="victor")


@pytest.fixture
def integration(make_user):
    return make_user("integration", username="servicenow")


def force_step(initiative: Initiative, step: str, **fields) -> Initiative:
    """Put an initiative at `step` for a test's given state, bypassing the workflow.

    Only tests do this; production code moves the step through the service alone.
    """
    if step == choices.Step.CLOSED:
        fields.setdefault("outcome", choices.Outcome.SUCCESSFUL)
    Initiative.objects.filter(pk=initiative.pk).update(step=step, **fields)
    field = next(f for f in Initiative._meta.concrete_fields if isinstance(f, FSMFieldMixin))
    field.protected = False
    try:
        initiative.refresh_from_db()
    finally:
        field.protected = True
    return initiative


COMPLETE_UP_TO = [
    choices.Step.VISION,
    choices.Step.BASELINE,
    choices.Step.TARGET,
    choices.Step.PLAN,
    choices.Step.ACTION,
    choices.Step.REVIEW,
    choices.Step.SUSTAIN,
]


@pytest.fixture
def initiative_at(db, team_member):
    """initiative_at("review") → an initiative at that step with every record its earlier
    steps need (so its guards pass), owned (A and R) by `team_member`."""

    def make(step: str = choices.Step.PROPOSED, *, complete: bool = True, **kwargs) -> Initiative:
        initiative = factories.InitiativeFactory(accountable=team_member, **kwargs)
        initiative.responsible.add(team_member)
        if complete and step != choices.Step.PROPOSED:
            initiative.goals.add(factories.GoalFactory())
            factories.VisionFactory(initiative=initiative)
            factories.BaselineFactory(initiative=initiative)
            factories.TargetFactory(initiative=initiative)
            factories.KPIFactory(initiative=initiative)
            factories.PlanFactory(initiative=initiative)
            factories.ActionFactory(initiative=initiative, status=choices.ActionStatus.DONE)
            factories.SustainFactory(initiative=initiative)
        return force_step(initiative, step)

    return make


def initiative_state(initiative: Initiative) -> dict:
    """Everything a write could touch on one initiative, read fresh from the database.

    Compare it before and after a refused write to prove that nothing changed.
    """
    from improvement.models import (
        KPI,
        Action,
        Baseline,
        Event,
        Plan,
        Review,
        Sustain,
        Target,
        TransitionLog,
        Vision,
    )

    pk = initiative.pk
    records = {
        model.__name__: list(model.objects.filter(initiative_id=pk).order_by("pk").values())
        for model in (Vision, Baseline, Target, Plan, Sustain, Action, Review, KPI)
    }
    return {
        "row": Initiative.objects.filter(pk=pk).values().first(),
        "m2m": {
            name: sorted(
                Initiative._meta.get_field(name)
                .remote_field.through.objects.filter(initiative_id=pk)
                .values_list(Initiative._meta.get_field(name).m2m_reverse_name(), flat=True)
            )
            for name in ("goals", "responsible", "consulted", "informed")
        },
        "records": records,
        "transition_logs": TransitionLog.objects.filter(initiative_id=pk).count(),
        "history": Initiative.history.filter(id=pk).count(),
        "events": Event.objects.count(),
    }


@pytest.fixture
def state_of():
    """state_of(initiative) → a dict of its row, m2m, records, log/history/event counts."""
    return initiative_state


@pytest.fixture
def run_on_commit(monkeypatch):
    """Run transaction.on_commit callbacks at once: a test's transaction never commits.

    Tests of after-commit behaviour itself use transactional tests instead.
    """
    from django.db import transaction

    def immediately(func, using=None, robust=False):
        func()

    monkeypatch.setattr(transaction, "on_commit", immediately)


@pytest.fixture
def role_groups(db):
    """The six role groups, for transactional tests: a flush after an earlier transactional
    test empties the groups that the data migration created."""
    from django.contrib.auth.models import Group

    return [Group.objects.get_or_create(name=name)[0] for name in choices.Role.values]
