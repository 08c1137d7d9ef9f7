"""Who may do what (SPEC §5): a role × action matrix through the services.

Each cell sets up the action's given state so that only the actor's role decides: allowed
actions must take effect, refused ones raise Forbidden and change nothing.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from improvement import permissions, selectors, services
from improvement.choices import Decision, Outcome, Priority, Step
from improvement.exceptions import Forbidden
from improvement.models import Action, Goal, Initiative, Plan

from . import factories

pytestmark = pytest.mark.django_db

ROLES = [
    "viewer",
    "team_ra",  # Improvement team, accountable and responsible
    "team_no_raci",  # Improvement team, no RACI role on it
    "team_ci",  # Improvement team, only consulted and informed
    "service_owner",  # owns the initiative's service
    "other_service_owner",  # a service owner, of another service
    "process_owner",  # owns the initiative's practice
    "csi",
    "integration",
    "no_role",
    "inactive",  # an inactive user who would otherwise be a CSI manager
]

EDITORS = {"team_ra", "service_owner", "process_owner", "csi"}
PROPOSERS = EDITORS | {"team_no_raci", "team_ci", "other_service_owner", "integration"}
READERS = set(ROLES) - {"no_role", "inactive"}
CSI = {"csi"}


@dataclass
class World:
    users: dict
    initiative_at: Callable[..., Initiative]


@pytest.fixture
def world(make_user, team_member, initiative_at):
    """One user per row of the matrix, and initiatives on the owners' service and practice."""
    service_owner = make_user("service_owner", username="sam")
    process_owner = make_user("process_owner", username="pat")
    other_service_owner = make_user("service_owner", username="olga")
    service = factories.ServiceFactory(owner=service_owner)
    practice = factories.PracticeFactory(owner=process_owner)
    factories.ServiceFactory(owner=other_service_owner)
    team_ci = make_user("team", username="carl")
    users = {
        "viewer": make_user("viewer", username="victor"),
        "team_ra": team_member,
        "team_no_raci": make_user("team", username="nora"),
        "team_ci": team_ci,
        "service_owner": service_owner,
        "other_service_owner": other_service_owner,
        "process_owner": process_owner,
        "csi": make_user("csi", username="csi"),
        "integration": make_user("integration", username="servicenow"),
        "no_role": make_user(None, username="nobody"),
        "inactive": make_user("csi", username="gone", is_active=False),
    }

    def at(step: str, **kwargs) -> Initiative:
        if step == Step.CLOSED:
            kwargs.setdefault("outcome", Outcome.SUCCESSFUL)
        initiative = initiative_at(step, service=service, practice=practice, **kwargs)
        initiative.consulted.add(team_ci)
        initiative.informed.add(team_ci)
        return initiative

    return World(users=users, initiative_at=at)


# --- actions: (given, when, then-if-allowed) ----------------------------------------------


def _transition(step: str, to: str, *, decision: str | None = None, **inputs):
    def given(w: World):
        initiative = w.initiative_at(step)
        if decision:
            factories.ReviewFactory(initiative=initiative, iteration=1, decision=decision)
        return initiative

    def when(w: World, initiative, actor):
        services.initiative_transition(initiative=initiative, to=to, actor=actor, **inputs)

    def then(w: World, initiative, actor):
        assert Initiative.objects.get(pk=initiative.pk).step == to

    return given, when, then


def _resume():
    def given(w: World):
        return w.initiative_at(Step.ON_HOLD, held_from=Step.ACTION)

    def when(w: World, initiative, actor):
        services.initiative_transition(initiative=initiative, to=Step.ACTION, actor=actor)

    def then(w: World, initiative, actor):
        assert Initiative.objects.get(pk=initiative.pk).step == Step.ACTION

    return given, when, then


def _rebaseline():
    def given(w: World):
        return w.initiative_at(Step.ACTION)

    def when(w: World, initiative, actor):
        services.kpi_rebaseline(
            kpi=initiative.kpis.get(), actor=actor, reason="Scope grew.", target_value=8.5
        )

    def then(w: World, initiative, actor):
        assert initiative.kpis.get().target_value == 8.5

    return given, when, then


def _review_override():
    def given(w: World):
        return w.initiative_at(Step.REVIEW)

    def when(w: World, initiative, actor):
        services.review_create(
            initiative=initiative, actor=actor, decision="achieved",
            decision_override="The sponsor accepts it.",
        )  # fmt: skip

    def then(w: World, initiative, actor):
        assert initiative.reviews.get().decision_override == "The sponsor accepts it."

    return given, when, then


def _propose():
    def when(w, _, actor):
        services.initiative_create(actor=actor, title="Automate password resets")

    def then(w, _, actor):
        created = Initiative.objects.get(title="Automate password resets")
        assert (created.step, created.created_by) == (Step.PROPOSED, actor)

    return (lambda w: None), when, then


def _edit_initiative():
    def when(w, initiative, actor):
        services.initiative_update(initiative=initiative, actor=actor, title="Renamed", urgency=5)

    def then(w, initiative, actor):
        row = Initiative.objects.get(pk=initiative.pk)
        assert (row.title, row.urgency) == ("Renamed", 5)

    return (lambda w: w.initiative_at(Step.PLAN)), when, then


def _edit_record():
    def when(w, initiative, actor):
        services.step_record_update(
            initiative=initiative, record="plan", actor=actor, approach="Shift-left to L1."
        )

    def then(w, initiative, actor):
        assert Plan.objects.get(initiative=initiative).approach == "Shift-left to L1."

    return (lambda w: w.initiative_at(Step.PLAN)), when, then


def _add_action():
    def when(w, initiative, actor):
        services.action_create(initiative=initiative, actor=actor, title="Write KB article")

    def then(w, initiative, actor):
        assert Action.objects.filter(initiative=initiative, title="Write KB article").exists()

    return (lambda w: w.initiative_at(Step.ACTION)), when, then


def _set_priority():
    def when(w, initiative, actor):
        services.initiative_set_priority(initiative=initiative, actor=actor, priority=Priority.P1)

    def then(w, initiative, actor):
        row = Initiative.objects.get(pk=initiative.pk)
        assert (row.priority, row.priority_set_manually) == (Priority.P1, True)

    return (lambda w: w.initiative_at(Step.PROPOSED)), when, then


def _delete():
    def when(w, initiative, actor):
        services.initiative_delete(initiative=initiative, actor=actor)

    def then(w, initiative, actor):
        assert not Initiative.objects.filter(pk=initiative.pk).exists()

    return (lambda w: w.initiative_at(Step.PROPOSED)), when, then


def _create_goal():
    def when(w, _, actor):
        services.goal_create(actor=actor, title="Resilient payments")

    def then(w, _, actor):
        assert Goal.objects.filter(title="Resilient payments").exists()

    return (lambda w: None), when, then


def _update_goal():
    def given(w):
        factories.GoalFactory(title="Happy customers")
        return None

    def when(w, _, actor):
        goal = Goal.objects.get(title="Happy customers")
        services.goal_update(goal=goal, actor=actor, active=False)

    def then(w, _, actor):
        assert Goal.objects.get(title="Happy customers").active is False

    return given, when, then


def _read():
    def when(w, _, actor):
        if not selectors.initiatives_visible_to(actor).exists():
            raise Forbidden("sees nothing")

    def then(w, _, actor):
        assert selectors.initiatives_visible_to(actor).count() == 1

    return (lambda w: w.initiative_at(Step.PLAN)), when, then


CANCEL_INPUTS = {"reason": "No budget.", "lessons_learned": "Fund first."}
RESUME_BY = dt.date.today() + dt.timedelta(days=14)

ACTIONS = {
    "read": (_read(), READERS),
    "propose": (_propose(), PROPOSERS),
    "edit_initiative": (_edit_initiative(), EDITORS),
    "edit_step_record": (_edit_record(), EDITORS),
    "add_action": (_add_action(), EDITORS),
    "move_forward_vision_to_baseline": (_transition(Step.VISION, Step.BASELINE), EDITORS),
    "move_forward_plan_to_action": (_transition(Step.PLAN, Step.ACTION), EDITORS),
    "move_forward_review_to_sustain": (
        _transition(Step.REVIEW, Step.SUSTAIN, decision=Decision.ACHIEVED),
        EDITORS,
    ),
    "move_back_action_to_plan": (_transition(Step.ACTION, Step.PLAN, reason="Re-plan."), EDITORS),
    "move_back_review_to_plan": (
        _transition(Step.REVIEW, Step.PLAN, decision=Decision.ITERATE, reason="Round two."),
        EDITORS,
    ),
    "put_on_hold": (
        _transition(Step.ACTION, Step.ON_HOLD, reason="Change freeze.", resume_by=RESUME_BY),
        EDITORS,
    ),
    "resume_from_hold": (_resume(), EDITORS),
    "rebaseline_a_locked_kpi": (_rebaseline(), CSI),
    "review_with_an_override": (_review_override(), EDITORS),
    "accept": (_transition(Step.PROPOSED, Step.VISION), CSI),
    "reject": (_transition(Step.PROPOSED, Step.REJECTED, reason="Duplicate."), CSI),
    "cancel": (_transition(Step.PLAN, Step.CANCELLED, **CANCEL_INPUTS), CSI),
    "close": (_transition(Step.SUSTAIN, Step.CLOSED, outcome=Outcome.UNSUCCESSFUL), CSI),
    "set_priority": (_set_priority(), CSI),
    "delete": (_delete(), CSI),
    "create_goal": (_create_goal(), CSI),
    "update_goal": (_update_goal(), CSI),
}

MATRIX = [
    pytest.param(
        role,
        action,
        role in allowed,
        id=f"{role}-{action}:{'allowed' if role in allowed else 'forbidden'}",
    )
    for action, (_steps, allowed) in ACTIONS.items()
    for role in ROLES
]


def _db_state(initiative) -> dict:
    from .conftest import initiative_state

    return {
        "initiatives": list(Initiative.objects.order_by("pk").values()),
        "goals": list(Goal.objects.order_by("pk").values()),
        "initiative": initiative_state(initiative) if initiative is not None else None,
    }


@pytest.mark.parametrize(("role", "action", "allowed"), MATRIX)
def test_role_may_only_do_what_spec_section_5_allows(role, action, allowed, world):
    (given, when, then), _ = ACTIONS[action]
    actor = world.users[role]
    initiative = given(world)
    before = _db_state(initiative)

    if allowed:
        when(world, initiative, actor)
        then(world, initiative, actor)
    else:
        with pytest.raises(Forbidden):
            when(world, initiative, actor)
        assert _db_state(initiative) == before


# --- refinements of the matrix -------------------------------------------------------------


@pytest.mark.parametrize("step", [Step.CLOSED, Step.REJECTED, Step.CANCELLED])
@pytest.mark.parametrize("role", ["team_ra", "service_owner", "process_owner"])
def test_contributors_cannot_edit_a_finished_initiative(step, role, world):
    initiative = world.initiative_at(step)
    actor = world.users[role]
    assert permissions.may_edit(actor, initiative) is False
    with pytest.raises(Forbidden):
        services.initiative_update(initiative=initiative, actor=actor, title="Late edit")
    assert Initiative.objects.get(pk=initiative.pk).title != "Late edit"


def test_csi_manager_may_still_edit_a_closed_initiative(world):
    initiative = world.initiative_at(Step.CLOSED)
    services.initiative_update(initiative=initiative, actor=world.users["csi"], title="Fixed typo")
    assert Initiative.objects.get(pk=initiative.pk).title == "Fixed typo"


def test_team_member_cannot_set_priority_through_update(world, team_member, state_of):
    initiative = world.initiative_at(Step.PLAN)
    before = state_of(initiative)
    with pytest.raises(Forbidden):
        services.initiative_update(
            initiative=initiative, actor=team_member, title="Mine", priority=Priority.P1
        )
    assert state_of(initiative) == before


def test_responsible_alone_is_enough_to_edit(make_user, initiative_at):
    responsible = make_user("team", username="rita")
    initiative = initiative_at(Step.PLAN)
    initiative.responsible.add(responsible)
    services.initiative_update(initiative=initiative, actor=responsible, title="By R")
    assert Initiative.objects.get(pk=initiative.pk).title == "By R"


def test_owner_of_a_service_without_the_owner_role_may_not_edit(make_user, initiative_at):
    # owning the catalogue entry is not enough: the role must be held too
    owner = make_user("team", username="tom")
    initiative = initiative_at(Step.PLAN, service=factories.ServiceFactory(owner=owner))
    assert permissions.may_edit(owner, initiative) is False


def test_superuser_without_groups_is_a_csi_manager(make_user, initiative_at):
    admin = make_user(None, username="root", is_superuser=True)
    initiative = initiative_at(Step.PROPOSED)
    moved = services.initiative_transition(initiative=initiative, to=Step.VISION, actor=admin)
    assert moved.step == Step.VISION


def test_anonymous_user_may_do_nothing(initiative_at):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    initiative = initiative_at(Step.PLAN)
    assert permissions.may_view(anonymous) is False
    assert permissions.may_propose(anonymous) is False
    assert permissions.may_edit(anonymous, initiative) is False
    with pytest.raises(Forbidden):
        services.initiative_create(actor=anonymous, title="Anonymous idea")
    assert Initiative.objects.count() == 1
