"""The state machine of SPEC §2 (improvement.workflow through services.initiative_transition).

The matrix proves every state × every target; the tests after it prove each guard's words,
the inputs a move requires, what a move writes, and that the step cannot move any other way.
"""

import datetime as dt

import pytest
from django.db import transaction

from improvement import services, workflow
from improvement.choices import ActionStatus, Decision, EventType, Outcome, Step
from improvement.exceptions import Conflict, InvalidInput, TransitionBlocked
from improvement.models import Event, Initiative, Sustain, TransitionLog

from . import factories
from .conftest import force_step

pytestmark = pytest.mark.django_db

S = Step

#: the edges SPEC §2 declares, written out by hand so that the code is checked against it
EDGES: dict[str, set[str]] = {
    S.PROPOSED: {S.VISION, S.REJECTED, S.ON_HOLD, S.CANCELLED},
    S.VISION: {S.BASELINE, S.ON_HOLD, S.CANCELLED},
    S.BASELINE: {S.TARGET, S.ON_HOLD, S.CANCELLED},
    S.TARGET: {S.PLAN, S.ON_HOLD, S.CANCELLED},
    S.PLAN: {S.ACTION, S.ON_HOLD, S.CANCELLED},
    S.ACTION: {S.REVIEW, S.PLAN, S.TARGET, S.ON_HOLD, S.CANCELLED},
    S.REVIEW: {S.PLAN, S.TARGET, S.BASELINE, S.SUSTAIN, S.ON_HOLD, S.CANCELLED},
    S.SUSTAIN: {S.CLOSED, S.ON_HOLD, S.CANCELLED},
    # on hold: back to any step it may have left (the one it left, see HELD_FROM), or cancel
    S.ON_HOLD: {
        S.PROPOSED,
        S.VISION,
        S.BASELINE,
        S.TARGET,
        S.PLAN,
        S.ACTION,
        S.REVIEW,
        S.SUSTAIN,
        S.CANCELLED,
    },  # fmt: skip
    S.CLOSED: set(),
    S.REJECTED: set(),
    S.CANCELLED: set(),
}

#: the review decision that leads from `review` to each target (cancel needs none; `stop` fits)
DECISION_FOR = {
    S.PLAN: Decision.ITERATE,
    S.TARGET: Decision.REVISIT_TARGET,
    S.BASELINE: Decision.REVISIT_BASELINE,
    S.SUSTAIN: Decision.ACHIEVED,
    S.CANCELLED: Decision.STOP,
}

#: the step an initiative on hold in the matrix was held from (it may resume only there)
HELD_FROM = S.ACTION

#: every input any move may require, so that the matrix tests the edges alone
ALL_INPUTS = {
    "reason": "Superseded by CIR-00007.",
    "lessons_learned": "Agree the roster before the first swarm.",
    "outcome": Outcome.SUCCESSFUL,
    "override": "Closed as agreed with the sponsor.",
    "resume_by": dt.date.today() + dt.timedelta(days=30),
}


def _moves(source: str, target: str) -> bool:
    if source == S.ON_HOLD:
        return target in (HELD_FROM, S.CANCELLED)
    return target in EDGES[source]


MATRIX = [
    pytest.param(
        source,
        target,
        _moves(source, target),
        id=f"{source}->{target}:{'moves' if _moves(source, target) else 'blocked'}",
    )
    for source in Step
    for target in Step
]


def given_at(initiative_at, step: str, *, decision: str = Decision.ACHIEVED, **kwargs):
    """An initiative at `step` whose guards all pass; at `review`, reviewed with `decision`."""
    if step == S.CLOSED:
        kwargs.setdefault("outcome", Outcome.SUCCESSFUL)  # the DB demands it of closed rows
    if step == S.ON_HOLD:
        kwargs.setdefault("held_from", HELD_FROM)
    initiative = initiative_at(step, **kwargs)
    if step == S.REVIEW:
        factories.ReviewFactory(
            initiative=initiative, iteration=initiative.iteration, decision=decision
        )
    return initiative


def bare_at(step: str, **fields) -> Initiative:
    """An initiative at `step` with no records at all, no goals and no accountable owner."""
    return force_step(factories.InitiativeFactory(), step, **fields)


def blocked_reasons(initiative, to, actor, **inputs) -> list[str]:
    with pytest.raises(TransitionBlocked) as exc:
        services.initiative_transition(initiative=initiative, to=to, actor=actor, **inputs)
    assert exc.value.errors == {"conditions": exc.value.reasons}
    return exc.value.reasons


# --- the matrix -------------------------------------------------------------------------


def test_declared_edges_are_exactly_those_of_the_spec():
    declared: dict[str, set[str]] = {str(s): set() for s in Step}
    for source, target, _label in workflow.all_edges():
        declared[str(source)].add(str(target))
    assert declared == {str(k): {str(t) for t in v} for k, v in EDGES.items()}


@pytest.mark.parametrize(("source", "target", "moves"), MATRIX)
def test_csi_manager_moves_exactly_along_the_edges_of_the_spec(
    source, target, moves, csi, initiative_at, state_of
):
    # given: an initiative at `source` with every guard met (and at review, the review
    # deciding for `target`), and every input a move may require
    initiative = given_at(initiative_at, source, decision=DECISION_FOR.get(target, "achieved"))
    before = state_of(initiative)

    if moves:
        # when: the CSI manager moves it
        moved = services.initiative_transition(
            initiative=initiative, to=target, actor=csi, comment="matrix", **ALL_INPUTS
        )
        # then: it is at `target` in the database, with exactly one log row for the move
        assert moved.step == target
        assert Initiative.objects.get(pk=initiative.pk).step == target
        log = TransitionLog.objects.get(initiative=initiative)
        # the log keeps the reason every move is given here, and the comment
        assert (log.from_step, log.to_step, log.actor_id, log.comment) == (
            source,
            target,
            csi.pk,
            f"{ALL_INPUTS['reason']} — matrix",
        )
        assert initiative.step == source  # the caller's copy is left as it was
    else:
        # when / then: it is refused with the reason in words, and nothing changed
        reasons = blocked_reasons(initiative, target, csi, comment="matrix", **ALL_INPUTS)
        assert reasons == [f"There is no move from '{S(source).label}' to '{S(target).label}'."]
        assert state_of(initiative) == before
        assert initiative.step == source


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("target", [S.PLAN, S.TARGET, S.BASELINE, S.SUSTAIN])
def test_review_moves_only_where_its_decision_leads(decision, target, csi, initiative_at, state_of):
    initiative = given_at(initiative_at, S.REVIEW, decision=decision)
    leads_to = workflow.DECISION_TARGETS[decision]
    before = state_of(initiative)

    # every move back from the review says why (the comment serves as the reason)
    if leads_to == target:
        moved = services.initiative_transition(
            initiative=initiative, to=target, actor=csi, comment="As the review decided."
        )
        assert moved.step == target
    else:
        reasons = blocked_reasons(initiative, target, csi, comment="Let us try.")
        assert reasons == [
            f"The review decided '{Decision(decision).label}', which leads to "
            f"'{S(leads_to).label}', not '{S(target).label}'."
        ]
        assert state_of(initiative) == before


@pytest.mark.parametrize("decision", list(Decision))
def test_review_may_be_cancelled_whatever_its_decision(decision, csi, initiative_at):
    initiative = given_at(initiative_at, S.REVIEW, decision=decision)
    moved = services.initiative_transition(
        initiative=initiative, to=S.CANCELLED, actor=csi, **ALL_INPUTS
    )
    assert moved.step == S.CANCELLED


@pytest.mark.parametrize("target", [S.PLAN, S.TARGET, S.BASELINE, S.SUSTAIN])
def test_review_without_a_review_of_this_iteration_is_blocked(target, csi, initiative_at):
    initiative = initiative_at(S.REVIEW)
    # a review of an earlier iteration does not count
    factories.ReviewFactory(initiative=initiative, iteration=1, decision=DECISION_FOR[target])
    initiative = force_step(initiative, S.REVIEW, iteration=2)
    assert blocked_reasons(initiative, target, csi, comment="Next.") == [
        "There is no review of iteration 2 yet."
    ]


# --- guards: every unmet condition in words, all at once ------------------------------------


def test_vision_guard_lists_every_unmet_condition_at_once(csi, state_of):
    initiative = bare_at(S.VISION)
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.BASELINE, csi) == [
        "The vision statement is missing.",
        "The initiative is not linked to any organisational goal.",
        "No accountable owner is set.",
        "The expected value is not described.",
    ]
    assert state_of(initiative) == before


def test_vision_guard_counts_a_blank_statement_as_missing(csi, team_member):
    initiative = bare_at(S.VISION, accountable_id=team_member.pk)
    initiative.goals.add(factories.GoalFactory())
    factories.VisionFactory(initiative=initiative, statement="   \n", expected_value="Less toil.")
    assert blocked_reasons(initiative, S.BASELINE, csi) == ["The vision statement is missing."]


def test_baseline_guard_without_kpis_asks_for_the_narrative(csi):
    initiative = bare_at(S.BASELINE)
    assert blocked_reasons(initiative, S.TARGET, csi) == [
        "Describe where we are now (the baseline assessment) or add a KPI with a baseline."
    ]
    factories.BaselineFactory(initiative=initiative, assessment="Nine hours on average.")
    moved = services.initiative_transition(initiative=initiative, to=S.TARGET, actor=csi)
    assert moved.step == S.TARGET


def test_baseline_guard_names_each_kpi_without_baseline_value_and_date(csi):
    initiative = bare_at(S.BASELINE)
    factories.BaselineFactory(initiative=initiative)  # a narrative does not excuse the KPIs
    factories.KPIFactory(
        initiative=initiative,
        name="Mean time to resolve",
        baseline_value=None,
        baseline_date=None,
        target_value=None,
        target_date=None,
    )
    factories.KPIFactory(initiative=initiative, name="First-time fix rate", baseline_date=None)
    assert blocked_reasons(initiative, S.TARGET, csi) == [
        "KPI 'First-time fix rate' has no baseline date.",
        "KPI 'Mean time to resolve' has no baseline value.",
        "KPI 'Mean time to resolve' has no baseline date.",
    ]


def test_target_guard_without_kpis_asks_for_one(csi):
    initiative = bare_at(S.TARGET)
    assert blocked_reasons(initiative, S.PLAN, csi) == [
        "Add at least one KPI with a baseline and a target."
    ]


def test_target_guard_names_the_kpi_without_target(csi, state_of):
    initiative = bare_at(S.TARGET)
    factories.KPIFactory(
        initiative=initiative, name="Mean time to resolve", target_value=None, target_date=None
    )
    factories.KPIFactory(
        initiative=initiative, name="Change success rate", baseline_value=None, target_value=None
    )
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.PLAN, csi) == [
        "KPI 'Change success rate' has no baseline value.",
        "KPI 'Change success rate' has no target value.",
        "KPI 'Mean time to resolve' has no target value.",
        "KPI 'Mean time to resolve' has no target date.",
    ]
    assert state_of(initiative) == before


def test_plan_guard_ignores_dropped_actions(csi):
    initiative = bare_at(S.PLAN)
    factories.PlanFactory(initiative=initiative, approach="")
    factories.ActionFactory(initiative=initiative, status=ActionStatus.DROPPED)
    assert blocked_reasons(initiative, S.ACTION, csi) == [
        "The plan has no approach.",
        "No action is planned.",
    ]


@pytest.mark.parametrize(
    "status", [ActionStatus.PLANNED, ActionStatus.IN_PROGRESS, ActionStatus.DROPPED]
)
def test_action_guard_needs_one_done_action(status, csi):
    initiative = bare_at(S.ACTION)
    factories.ActionFactory(initiative=initiative, status=status)
    assert blocked_reasons(initiative, S.REVIEW, csi) == ["No action is done yet."]


def test_close_lists_missing_sustain_record_and_outcome_at_once(csi, state_of):
    initiative = bare_at(S.SUSTAIN)
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.CLOSED, csi) == [
        "Lessons learned are not recorded.",
        "Embedding measures (knowledge, training, controls) are not recorded.",
        "An outcome is required to close.",
    ]
    assert state_of(initiative) == before


@pytest.mark.parametrize("target", [S.PLAN, S.TARGET])
@pytest.mark.parametrize("comment", ["", "   "])
def test_back_moves_from_action_need_a_reason_and_nothing_else(target, comment, csi, state_of):
    initiative = bare_at(S.ACTION)  # nothing recorded at all
    before = state_of(initiative)
    assert blocked_reasons(initiative, target, csi, comment=comment) == [
        "Say why it goes back (a reason is required)."
    ]
    assert state_of(initiative) == before
    moved = services.initiative_transition(
        initiative=initiative, to=target, actor=csi, comment="The supplier changed the date."
    )
    assert moved.step == target
    log = TransitionLog.objects.get(initiative=initiative)
    assert log.comment == "The supplier changed the date."


def test_a_reason_given_as_such_serves_a_move_back(csi):
    initiative = bare_at(S.ACTION)
    services.initiative_transition(initiative=initiative, to=S.PLAN, actor=csi, reason="Re-plan.")
    assert TransitionLog.objects.get(initiative=initiative).comment == "Re-plan."


# --- inputs a move requires ---------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_requires_a_reason(reason, csi, initiative_at, state_of):
    initiative = initiative_at(S.PROPOSED)
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.REJECTED, csi, reason=reason) == ["A reason is required."]
    assert state_of(initiative) == before


def test_reject_records_reason_and_closing_time(csi, initiative_at):
    initiative = initiative_at(S.PROPOSED)
    moved = services.initiative_transition(
        initiative=initiative, to=S.REJECTED, actor=csi, reason="Duplicate of CIR-00003."
    )
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.step, row.closure_reason) == (S.REJECTED, "Duplicate of CIR-00003.")
    assert row.closed_at is not None and row.closed_at == moved.closed_at
    # without a comment, the reason is the log's comment
    assert TransitionLog.objects.get(initiative=initiative).comment == "Duplicate of CIR-00003."


def test_cancel_requires_reason_and_lessons_learned(csi, initiative_at, state_of):
    initiative = initiative_at(S.ACTION)
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.CANCELLED, csi) == [
        "A reason is required.",
        "Lessons learned are required to cancel.",
    ]
    assert blocked_reasons(initiative, S.CANCELLED, csi, reason="No budget.") == [
        "Lessons learned are required to cancel."
    ]
    assert state_of(initiative) == before


def test_cancel_writes_lessons_into_a_new_sustain_record(csi):
    # given: a proposed initiative, which has no sustain record yet
    initiative = factories.InitiativeFactory()
    assert not Sustain.objects.filter(initiative=initiative).exists()
    # when
    moved = services.initiative_transition(
        initiative=initiative,
        to=S.CANCELLED,
        actor=csi,
        reason="No budget this year.",
        lessons_learned="Check funding before accepting.",
    )
    # then
    sustain = Sustain.objects.get(initiative=initiative)
    assert sustain.lessons_learned == "Check funding before accepting."
    assert sustain.updated_by == csi
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.step, row.closure_reason) == (S.CANCELLED, "No budget this year.")
    assert row.closed_at == moved.closed_at is not None


def test_cancel_appends_lessons_to_an_existing_sustain_record(csi, initiative_at):
    initiative = initiative_at(S.SUSTAIN)
    services.initiative_transition(
        initiative=initiative,
        to=S.CANCELLED,
        actor=csi,
        reason="The service is retired.",
        lessons_learned="Retirements end improvements.",
    )
    assert Sustain.objects.get(initiative=initiative).lessons_learned == (
        "Swarming works when the roster is clear.\n\nRetirements end improvements."
    )


def test_close_requires_an_outcome_and_records_it(csi, initiative_at, state_of):
    initiative = initiative_at(S.SUSTAIN)
    before = state_of(initiative)
    assert blocked_reasons(initiative, S.CLOSED, csi) == ["An outcome is required to close."]
    assert state_of(initiative) == before

    moved = services.initiative_transition(
        initiative=initiative, to=S.CLOSED, actor=csi, outcome=Outcome.UNSUCCESSFUL
    )
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.step, row.outcome, row.outcome_override) == (S.CLOSED, Outcome.UNSUCCESSFUL, "")
    assert row.closed_at is not None and row.closed_at == moved.closed_at


def test_close_with_an_unknown_outcome_is_invalid_input(csi, initiative_at, state_of):
    initiative = initiative_at(S.SUSTAIN)
    before = state_of(initiative)
    with pytest.raises(InvalidInput) as exc:
        services.initiative_transition(
            initiative=initiative, to=S.CLOSED, actor=csi, outcome="great"
        )
    assert list(exc.value.errors) == ["outcome"]
    assert state_of(initiative) == before


def test_moving_to_an_unknown_state_is_invalid_input(csi, initiative_at, state_of):
    initiative = initiative_at(S.VISION)
    before = state_of(initiative)
    with pytest.raises(InvalidInput) as exc:
        services.initiative_transition(initiative=initiative, to="done", actor=csi)
    assert exc.value.errors == {"to": ["'done' is not a step."]}
    assert state_of(initiative) == before


# --- what a move writes -----------------------------------------------------------------


def test_transition_log_row_has_from_to_actor_comment_and_iteration(team_member, initiative_at):
    initiative = force_step(initiative_at(S.VISION), S.VISION, iteration=3)
    services.initiative_transition(
        initiative=initiative, to=S.BASELINE, actor=team_member, comment="Vision agreed."
    )
    log = TransitionLog.objects.get(initiative=initiative)
    assert (log.from_step, log.to_step, log.actor, log.comment, log.iteration) == (
        S.VISION,
        S.BASELINE,
        team_member,
        "Vision agreed.",
        3,
    )
    assert log.at is not None


def test_review_to_plan_starts_the_next_iteration(team_member, initiative_at):
    initiative = given_at(initiative_at, S.REVIEW, decision=Decision.ITERATE)
    moved = services.initiative_transition(
        initiative=initiative, to=S.PLAN, actor=team_member, comment="Round two."
    )
    assert moved.iteration == 2
    assert Initiative.objects.get(pk=initiative.pk).iteration == 2
    assert TransitionLog.objects.get(initiative=initiative).iteration == 2


@pytest.mark.parametrize("target", [S.TARGET, S.BASELINE])
def test_revisiting_from_review_also_starts_the_next_iteration(target, csi, initiative_at):
    # a revisit comes back to review; without a new iteration its review would clash
    initiative = given_at(initiative_at, S.REVIEW, decision=DECISION_FOR[target])
    moved = services.initiative_transition(
        initiative=initiative, to=target, actor=csi, comment="Revisit."
    )
    assert moved.iteration == 2


@pytest.mark.parametrize("target", [S.PLAN, S.TARGET])
def test_back_moves_from_action_keep_the_iteration(target, csi, initiative_at):
    initiative = force_step(initiative_at(S.ACTION), S.ACTION, iteration=2)
    moved = services.initiative_transition(
        initiative=initiative, to=target, actor=csi, comment="Back."
    )
    assert (moved.step, moved.iteration) == (target, 2)
    assert Initiative.objects.get(pk=initiative.pk).iteration == 2


def test_second_iteration_does_its_own_work_and_gets_its_own_review(team_member, initiative_at):
    # given: the first review decided to iterate
    initiative = initiative_at(S.REVIEW)
    services.review_create(initiative=initiative, actor=team_member, decision=Decision.ITERATE)
    initiative = services.initiative_transition(
        initiative=initiative, to=S.PLAN, actor=team_member, comment="Round two."
    )
    # then: iteration 1's finished action neither plans nor completes iteration 2
    assert blocked_reasons(initiative, S.ACTION, team_member) == [
        "No action is planned in iteration 2."
    ]
    action = services.action_create(initiative=initiative, actor=team_member, title="Swarm P2s")
    initiative = services.initiative_transition(
        initiative=initiative, to=S.ACTION, actor=team_member
    )
    assert blocked_reasons(initiative, S.REVIEW, team_member) == [
        "No action is done yet in iteration 2."
    ]
    services.action_update(action=action, actor=team_member, status=ActionStatus.DONE)
    initiative = services.initiative_transition(
        initiative=initiative, to=S.REVIEW, actor=team_member
    )
    # and the second review belongs to iteration 2 and leads to sustain
    second = services.review_create(
        initiative=initiative, actor=team_member, decision=Decision.ACHIEVED,
        decision_override="The sponsor accepts the result.",
    )  # fmt: skip
    assert second.iteration == 2
    moved = services.initiative_transition(initiative=initiative, to=S.SUSTAIN, actor=team_member)
    assert (moved.step, moved.iteration) == (S.SUSTAIN, 2)
    assert list(
        TransitionLog.objects.filter(initiative=initiative).values_list("to_step", "iteration")
    ) == [(S.PLAN, 2), (S.ACTION, 2), (S.REVIEW, 2), (S.SUSTAIN, 2)]


def test_transition_writes_an_initiative_transitioned_event(team_member, initiative_at):
    initiative = initiative_at(S.VISION)
    services.initiative_transition(
        initiative=initiative, to=S.BASELINE, actor=team_member, comment="Agreed."
    )
    event = Event.objects.get(type=EventType.INITIATIVE_TRANSITIONED)
    assert event.payload == {
        "id": initiative.pk,
        "reference": initiative.reference,
        "title": initiative.title,
        "step": S.BASELINE,
        "iteration": 1,
        "health": "none",
        "priority": initiative.priority,
        "from": S.VISION,
        "to": S.BASELINE,
        "by": "tina",
        "comment": "Agreed.",
    }


def test_move_log_and_event_commit_or_roll_back_together(team_member, initiative_at, state_of):
    initiative = initiative_at(S.VISION)
    before = state_of(initiative)

    # the caller's transaction rolls back: the move, its log and its event all go
    with pytest.raises(RuntimeError), transaction.atomic():
        services.initiative_transition(initiative=initiative, to=S.BASELINE, actor=team_member)
        assert Event.objects.filter(type=EventType.INITIATIVE_TRANSITIONED).count() == 1
        assert TransitionLog.objects.filter(initiative=initiative).count() == 1
        raise RuntimeError("the caller fails after the move")
    assert state_of(initiative) == before


def test_a_failing_event_write_undoes_the_move_and_its_log(
    team_member, initiative_at, state_of, monkeypatch
):
    from improvement.services import initiatives

    def broken_event_emit(**kwargs):
        raise RuntimeError("event table unavailable")

    monkeypatch.setattr(initiatives, "event_emit", broken_event_emit)
    initiative = initiative_at(S.VISION)
    before = state_of(initiative)
    with pytest.raises(RuntimeError):
        services.initiative_transition(initiative=initiative, to=S.BASELINE, actor=team_member)
    assert state_of(initiative) == before


def test_stale_copy_gets_a_conflict_and_changes_nothing(csi, initiative_at, state_of):
    # given: two copies of one initiative at action; the first moves it back to plan
    initiative = initiative_at(S.ACTION)
    stale = Initiative.objects.get(pk=initiative.pk)
    services.initiative_transition(initiative=initiative, to=S.PLAN, actor=csi, comment="Re-plan")
    before = state_of(initiative)
    # when: the stale copy tries to move on to review
    with pytest.raises(Conflict) as exc:
        services.initiative_transition(initiative=stale, to=S.REVIEW, actor=csi)
    # then: it is told what happened (where it is now, who moved it) and nothing changed
    assert "it is now in '4 · How do we get there?'" in exc.value.message
    assert "by csi" in exc.value.message
    assert state_of(initiative) == before


def test_moving_a_deleted_initiative_is_a_conflict(csi, initiative_at):
    initiative = initiative_at(S.PROPOSED)
    copy = Initiative.objects.get(pk=initiative.pk)
    services.initiative_delete(initiative=initiative, actor=csi)
    with pytest.raises(Conflict):
        services.initiative_transition(initiative=copy, to=S.VISION, actor=csi)
    assert TransitionLog.objects.count() == 0


# --- the protected step -------------------------------------------------------------------


def test_assigning_step_raises_and_queryset_update_is_the_only_bypass(initiative_at):
    initiative = initiative_at(S.SUSTAIN)
    # the attribute refuses assignment on a loaded instance ...
    with pytest.raises(AttributeError, match="Direct step modification is not allowed"):
        initiative.step = S.CLOSED
    assert Initiative.objects.get(pk=initiative.pk).step == S.SUSTAIN
    # ... and a fresh load is just as protected
    with pytest.raises(AttributeError):
        Initiative.objects.get(pk=initiative.pk).step = S.CLOSED
    # the one way around it is a queryset update, which tests use to set up a given state
    Initiative.objects.filter(pk=initiative.pk).update(step=S.CANCELLED)
    assert Initiative.objects.get(pk=initiative.pk).step == S.CANCELLED
    assert TransitionLog.objects.filter(initiative=initiative).count() == 0


@pytest.mark.parametrize("service", ["initiative_create", "initiative_update"])
def test_services_other_than_transition_refuse_to_set_step(service, csi, initiative_at):
    initiative = initiative_at(S.PROPOSED)
    call = {
        "initiative_create": lambda: services.initiative_create(
            actor=csi, title="Sneaky", step=S.CLOSED
        ),
        "initiative_update": lambda: services.initiative_update(
            initiative=initiative, actor=csi, step=S.CLOSED
        ),
    }[service]
    with pytest.raises(InvalidInput) as exc:
        call()
    assert list(exc.value.errors) == ["step"]
    assert set(Initiative.objects.values_list("step", flat=True)) == {S.PROPOSED}


# --- allowed_transitions -------------------------------------------------------------------


def _listing(initiative, user) -> list[tuple]:
    return [
        (t.to, t.allowed, t.permitted, t.reasons, t.requires, t.back)
        for t in workflow.allowed_transitions(initiative, user)
    ]


def test_allowed_transitions_for_the_csi_manager_show_unmet_conditions(csi):
    initiative = bare_at(S.VISION)
    assert _listing(initiative, csi) == [
        (
            S.BASELINE,
            False,
            True,
            [
                "The vision statement is missing.",
                "The initiative is not linked to any organisational goal.",
                "No accountable owner is set.",
                "The expected value is not described.",
            ],
            (),
            False,
        ),
        (S.ON_HOLD, True, True, [], ("reason", "resume_by"), False),
        (S.CANCELLED, True, True, [], ("reason", "lessons_learned"), False),
    ]


def test_allowed_transitions_for_the_team_member_holding_a(team_member, initiative_at):
    initiative = given_at(initiative_at, S.REVIEW, decision=Decision.ITERATE)
    no_permission = "Only a CSI manager may accept, reject, cancel or close an initiative."
    decided = "The review decided 'Iterate: plan the next round', which leads to "
    plan = "'4 · How do we get there?'"
    listing = _listing(initiative, team_member)
    # forward moves first, back moves next, the endings last
    assert [t[0] for t in listing][0] == S.SUSTAIN
    assert [t[0] for t in listing][-1] == S.CANCELLED
    assert {t[0]: t[1:] for t in listing} == {
        S.SUSTAIN: (False, True, [f"{decided}{plan}, not '7 · Keep the momentum going'."],
                    (), False),
        S.PLAN: (True, True, [], ("reason",), True),
        S.TARGET: (False, True, [f"{decided}{plan}, not '3 · Where do we want to be?'."],
                   ("reason",), True),
        S.BASELINE: (False, True, [f"{decided}{plan}, not '2 · Where are we now?'."],
                     ("reason",), True),
        S.ON_HOLD: (True, True, [], ("reason", "resume_by"), False),
        S.CANCELLED: (False, False, [no_permission], ("reason", "lessons_learned"), False),
    }  # fmt: skip


def test_allowed_transitions_for_a_viewer_permit_nothing(viewer, initiative_at):
    initiative = initiative_at(S.PROPOSED)
    listing = _listing(initiative, viewer)
    assert listing[0][0] == S.VISION
    assert {t[0] for t in listing} == {S.VISION, S.REJECTED, S.ON_HOLD, S.CANCELLED}
    assert all(not allowed and not permitted for _, allowed, permitted, *_ in listing)
    # each refusal names the role that may
    assert {t[0]: t[3] for t in listing} == {
        S.VISION: ["Only a CSI manager may accept, reject, cancel or close an initiative."],
        S.REJECTED: ["Only a CSI manager may accept, reject, cancel or close an initiative."],
        S.ON_HOLD: ["Only a CSI manager may move an initiative that is not yet accepted."],
        S.CANCELLED: ["Only a CSI manager may accept, reject, cancel or close an initiative."],
    }


def test_allowed_transitions_of_a_final_state_are_empty(csi):
    assert workflow.allowed_transitions(bare_at(S.REJECTED), csi) == []
    assert workflow.allowed_transitions(bare_at(S.CANCELLED), csi) == []
    assert workflow.allowed_transitions(bare_at(S.CLOSED, outcome="successful"), csi) == []


def test_allowed_transitions_as_dict_is_plain_json(csi):
    (first, _cancel) = workflow.allowed_transitions(bare_at(S.ACTION), csi)[:2]
    assert first.as_dict() == {
        "to": "review",
        "label": "Move to 6 · Did we get there?",
        "allowed": False,
        "permitted": True,
        "reasons": ["No action is done yet."],
        "requires": [],
        "back": False,
    }


def test_guards_do_not_depend_on_dates_in_the_past(csi):
    # a target date long past still lets the plan start: the check reports "missed" later
    initiative = bare_at(S.TARGET)
    factories.KPIFactory(
        initiative=initiative, baseline_date=dt.date(2020, 1, 1), target_date=dt.date(2020, 6, 1)
    )
    assert services.initiative_transition(initiative=initiative, to=S.PLAN, actor=csi).step == (
        S.PLAN
    )


# --- what the interfaces ask of the workflow ------------------------------------------------


def test_step_progress_on_hold_shows_the_step_it_left_and_closed_shows_all_done(csi):
    held = bare_at(S.ON_HOLD, held_from=S.PLAN)
    states = dict(workflow.step_progress(held))
    assert (states[S.TARGET], states[S.PLAN], states[S.ACTION]) == ("done", "current", "todo")
    closed = bare_at(S.CLOSED, outcome=Outcome.SUCCESSFUL)
    assert {state for _, state in workflow.step_progress(closed)} == {"done"}
    assert {state for _, state in workflow.step_progress(bare_at(S.PROPOSED))} == {"todo"}


def test_steps_done_counts_steps_left_forward_in_the_log(csi, initiative_at):
    initiative = initiative_at(S.PLAN)  # put there directly: no log yet
    assert workflow.steps_done(initiative) == {S.VISION, S.BASELINE, S.TARGET}
    initiative = services.initiative_transition(initiative=initiative, to=S.ACTION, actor=csi)
    initiative = services.initiative_transition(
        initiative=initiative, to=S.TARGET, actor=csi, comment="Target too soft."
    )
    # back at step 3, step 4 stays done: the log shows it was left forward
    assert workflow.steps_done(Initiative.objects.get(pk=initiative.pk)) == {
        S.VISION, S.BASELINE, S.PLAN
    }  # fmt: skip


def test_offered_move_is_the_move_the_user_may_make_without_asking_its_guard(
    team_member, viewer, initiative_at
):
    initiative = bare_at(S.VISION)  # the guard would fail: nothing recorded
    initiative.accountable = team_member
    initiative.save()
    assert workflow.offered_move(initiative, team_member, S.BASELINE).label.startswith("Move to 2")
    assert workflow.offered_move(initiative, viewer, S.BASELINE) is None
    assert workflow.offered_move(initiative, team_member, S.CLOSED) is None


def test_moves_that_end_an_initiative_say_how_they_look():
    tones = {str(t): m.tone for _, t, m in workflow.all_edges()}
    assert (tones[S.CANCELLED], tones[S.REJECTED], tones[S.CLOSED]) == (
        "danger", "danger", "primary"
    )  # fmt: skip


def test_steps_done_passes_over_moves_from_outside_the_seven_steps(csi, team_member):
    initiative = factories.InitiativeFactory(accountable=team_member)
    accepted = services.initiative_transition(initiative=initiative, to=S.VISION, actor=csi)
    held = services.initiative_transition(
        initiative=accepted, to=S.ON_HOLD, actor=csi, reason="Freeze.",
        resume_by=dt.date.today().isoformat(),
    )  # fmt: skip
    resumed = services.initiative_transition(initiative=held, to=S.VISION, actor=csi)
    assert workflow.steps_done(Initiative.objects.get(pk=resumed.pk)) == set()


def test_step_progress_of_a_cancelled_initiative_shows_where_it_ended(csi, initiative_at):
    initiative = initiative_at(S.ACTION)
    cancelled = services.initiative_transition(
        initiative=initiative, to=S.CANCELLED, actor=csi, reason="No budget.",
        lessons_learned="Fund first.",
    )  # fmt: skip
    states = dict(workflow.step_progress(Initiative.objects.get(pk=cancelled.pk)))
    assert (states[S.PLAN], states[S.ACTION], states[S.REVIEW]) == ("done", "current", "todo")


def test_the_log_keeps_both_a_reason_and_a_comment(csi, initiative_at):
    initiative = initiative_at(S.PROPOSED)
    services.initiative_transition(
        initiative=initiative, to=S.REJECTED, actor=csi, reason="Duplicate of CIR-00003.",
        comment="Merged into the older one.",
    )  # fmt: skip
    assert TransitionLog.objects.get(initiative=initiative).comment == (
        "Duplicate of CIR-00003. — Merged into the older one."
    )
