"""The initiative services (services/initiatives.py): references, idempotent intake,
validation, priorities, deletion, reviews and actions, and the audit history of every write."""

import pytest
from django.apps import apps
from django.db.models import Max

from improvement import services
from improvement.choices import ActionStatus, Decision, EventType, Outcome, Priority, Step
from improvement.exceptions import Conflict, Forbidden, InvalidInput
from improvement.models import (
    KPI,
    Counter,
    Event,
    Initiative,
    Review,
    TransitionLog,
)

from .. import factories
from ..conftest import force_step

pytestmark = pytest.mark.django_db


def _nothing_written() -> dict:
    return {
        "initiatives": Initiative.objects.count(),
        "history": Initiative.history.count(),
        "events": Event.objects.count(),
        "counter": list(Counter.objects.values_list("name", "value")),
        "kpis": KPI.objects.count(),
    }


def _history_models():
    return [
        m
        for m in apps.get_app_config("improvement").get_models()
        if m.__name__.startswith("Historical")
        and any(f.name == "history_user" for f in m._meta.fields)
    ]


def _history_marks() -> dict:
    return {m: m.objects.aggregate(top=Max("history_id"))["top"] or 0 for m in _history_models()}


def _history_since(marks: dict) -> list:
    rows = []
    for model, mark in marks.items():
        rows += list(model.objects.filter(history_id__gt=mark))
    return rows


def _w_create(c):
    services.initiative_create(actor=c["csi"], title="New", goals=[c["goal"]])


def _w_update(c):
    services.initiative_update(initiative=c["plan"], actor=c["team"], title="Renamed")


def _w_priority(c):
    services.initiative_set_priority(initiative=c["plan"], actor=c["csi"], priority="P1")


def _w_vision(c):
    services.step_record_update(
        initiative=c["proposed"],
        record="vision",
        actor=c["team"],
        statement="Always on.",
        goals=[c["goal"]],
    )


def _w_record(record, **data):
    def write(c):
        services.step_record_update(initiative=c["plan"], record=record, actor=c["team"], **data)

    return write


def _w_action_create(c):
    services.action_create(initiative=c["plan"], actor=c["team"], title="Train agents")


def _w_action_update(c):
    action = c["plan"].actions.get()
    services.action_update(action=action, actor=c["team"], status="in_progress")


def _w_review(c):
    services.review_create(initiative=c["review"], actor=c["team"], decision="iterate")


def _w_kpi_create(c):
    services.kpi_create(
        initiative=c["plan"], actor=c["team"], key="new-kpi", name="New", direction="increase"
    )


def _w_kpi_update(c):
    services.kpi_update(kpi=c["plan"].kpis.get(), actor=c["team"], name="Renamed KPI")


def _w_kpi_delete(c):
    services.kpi_delete(kpi=c["plan"].kpis.get(), actor=c["team"])


def _w_goal_create(c):
    services.goal_create(actor=c["csi"], title="Resilience")


def _w_goal_update(c):
    services.goal_update(goal=c["goal"], actor=c["csi"], active=False)


def _w_move(c):
    services.initiative_transition(initiative=c["plan"], to="action", actor=c["team"])


def _w_cancel_proposed(c):
    services.initiative_transition(
        initiative=c["proposed"], to="cancelled", actor=c["csi"], reason="r", lessons_learned="l"
    )


def _w_cancel_sustain(c):
    services.initiative_transition(
        initiative=c["sustain"], to="cancelled", actor=c["csi"], reason="r", lessons_learned="l"
    )


def _w_close(c):
    services.initiative_transition(
        initiative=c["sustain"], to="closed", actor=c["csi"], outcome=Outcome.UNSUCCESSFUL
    )


def _w_delete(c):
    services.initiative_delete(initiative=c["proposed"], actor=c["csi"])


def _w_delete_with_records(c):
    initiative = c["proposed"]
    services.step_record_update(
        initiative=initiative, record="vision", actor=c["csi"], statement="Draft"
    )
    services.kpi_create(
        initiative=initiative, actor=c["csi"], key="draft", name="Draft", direction="increase"
    )
    services.initiative_delete(initiative=initiative, actor=c["csi"])


WRITES = {
    "initiative_create": (_w_create, "csi", {"HistoricalInitiative"}),
    "initiative_update": (_w_update, "team", {"HistoricalInitiative"}),
    "initiative_set_priority": (_w_priority, "csi", {"HistoricalInitiative"}),
    "step_record_update-vision-with-goals": (
        _w_vision,
        "team",
        {"HistoricalVision", "HistoricalInitiative"},
    ),
    "step_record_update-plan": (_w_record("plan", approach="Swarm"), "team", {"HistoricalPlan"}),
    "step_record_update-sustain": (
        _w_record("sustain", embedding="KB0042"),
        "team",
        {"HistoricalSustain"},
    ),
    "action_create": (_w_action_create, "team", {"HistoricalAction"}),
    "action_update": (_w_action_update, "team", {"HistoricalAction"}),
    "review_create": (_w_review, "team", {"HistoricalReview"}),
    "kpi_create": (_w_kpi_create, "team", {"HistoricalKPI"}),
    "kpi_update": (_w_kpi_update, "team", {"HistoricalKPI"}),
    "kpi_delete": (_w_kpi_delete, "team", {"HistoricalKPI"}),
    "goal_create": (_w_goal_create, "csi", {"HistoricalGoal"}),
    "goal_update": (_w_goal_update, "csi", {"HistoricalGoal"}),
    "initiative_transition": (_w_move, "team", {"HistoricalInitiative"}),
    "initiative_transition-cancel-without-sustain-record": (
        _w_cancel_proposed,
        "csi",
        {"HistoricalInitiative", "HistoricalSustain"},
    ),
    "initiative_transition-cancel-with-sustain-record": (
        _w_cancel_sustain,
        "csi",
        {"HistoricalInitiative", "HistoricalSustain"},
    ),
    "initiative_transition-close": (_w_close, "csi", {"HistoricalInitiative"}),
    "initiative_delete": (_w_delete, "csi", {"HistoricalInitiative"}),
    "initiative_delete-with-records": (
        _w_delete_with_records,
        "csi",
        {"HistoricalInitiative", "HistoricalVision", "HistoricalKPI"},
    ),
}


def test_initiative_create_assigns_sequential_references(csi):
    first = services.initiative_create(actor=csi, title="Reduce P1 outages")
    second = services.initiative_create(actor=csi, title="Faster patient records")
    assert (first.reference, second.reference) == ("CIR-00001", "CIR-00002")
    assert Initiative.objects.get(pk=second.pk).reference == "CIR-00002"


def test_references_are_never_reused_after_delete(csi):
    services.initiative_create(actor=csi, title="One")
    second = services.initiative_create(actor=csi, title="Two")
    services.initiative_delete(initiative=second, actor=csi)
    third = services.initiative_create(actor=csi, title="Three")
    assert third.reference == "CIR-00003"
    assert sorted(Initiative.objects.values_list("reference", flat=True)) == [
        "CIR-00001",
        "CIR-00003",
    ]


def test_initiative_create_starts_proposed_and_records_creator_and_event(team_member):
    goal = factories.GoalFactory()
    created = services.initiative_create(
        actor=team_member,
        title="Shift-left password resets",
        source="incident",
        value=5,
        effort=1,
        urgency=4,
        goals=[goal],
        responsible=[team_member],
    )
    row = Initiative.objects.get(pk=created.pk)
    assert (row.step, row.iteration, row.created_by, row.source) == (
        Step.PROPOSED,
        1,
        team_member,
        "incident",
    )
    assert list(row.goals.all()) == [goal]
    assert list(row.responsible.all()) == [team_member]
    event = Event.objects.get(type=EventType.INITIATIVE_CREATED)
    assert event.payload["reference"] == "CIR-00001"
    # and the RACI it was created with is recorded as assigned (for notifications)
    assigned = Event.objects.get(type=EventType.INITIATIVE_ASSIGNED).payload["assigned"]
    assert assigned == [{"user": team_member.pk, "role": "responsible"}]


def test_create_or_get_is_idempotent_on_external_system_and_id(integration):
    first, created_first = services.initiative_create_or_get(
        actor=integration,
        title="Recurring VPN drops",
        source="problem",
        external_system="servicenow",
        external_id="PRB0040012",
    )
    again, created_again = services.initiative_create_or_get(
        actor=integration,
        title="Recurring VPN drops (retry)",
        source="problem",
        external_system="servicenow",
        external_id="PRB0040012",
    )
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert Initiative.objects.get().title == "Recurring VPN drops"
    assert Event.objects.filter(type=EventType.INITIATIVE_CREATED).count() == 1
    # the retry did not draw a reference
    assert services.initiative_create(actor=integration, title="Next").reference == "CIR-00002"


def test_same_external_id_in_another_system_is_another_initiative(integration):
    a, _ = services.initiative_create_or_get(
        actor=integration, title="A", external_system="servicenow", external_id="PRB1"
    )
    b, created = services.initiative_create_or_get(
        actor=integration, title="B", external_system="jira", external_id="PRB1"
    )
    assert created is True and a.pk != b.pk


def test_create_or_get_without_external_id_always_creates(integration):
    services.initiative_create_or_get(actor=integration, title="Same")
    services.initiative_create_or_get(actor=integration, title="Same")
    assert Initiative.objects.count() == 2


def test_create_or_get_still_validates_a_new_initiative(integration):
    with pytest.raises(InvalidInput) as exc:
        services.initiative_create_or_get(
            actor=integration, title="x" * 201, external_system="jira", external_id="ITSM-1"
        )
    assert list(exc.value.errors) == ["title"]
    assert Initiative.objects.count() == 0


def test_create_or_get_by_a_viewer_is_forbidden_even_for_an_existing_one(integration, viewer):
    services.initiative_create_or_get(
        actor=integration, title="A", external_system="servicenow", external_id="PRB2"
    )
    with pytest.raises(Forbidden):
        services.initiative_create_or_get(
            actor=viewer, title="B", external_system="jira", external_id="PRB3"
        )
    assert Initiative.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"title": "x" * 201}, "title", id="title-201-chars"),
        pytest.param({"title": ""}, "title", id="title-empty"),
        pytest.param({"value": 0}, "value", id="value-0"),
        pytest.param({"value": 6}, "value", id="value-6"),
        pytest.param({"effort": 0}, "effort", id="effort-0"),
        pytest.param({"urgency": 6}, "urgency", id="urgency-6"),
        pytest.param({"source": "rumour"}, "source", id="source-unknown"),
        pytest.param({"external_url": "not a url"}, "external_url", id="url-malformed"),
    ],
)
def test_initiative_create_rejects_bad_input_with_field_errors_and_writes_nothing(data, field, csi):
    before = _nothing_written()
    data = {"title": "A valid title"} | data
    with pytest.raises(InvalidInput) as exc:
        services.initiative_create(actor=csi, **data)
    assert field in exc.value.errors, exc.value.errors
    assert exc.value.errors[field] and all(isinstance(m, str) for m in exc.value.errors[field])
    assert _nothing_written() == before


def test_a_refused_create_does_not_use_up_a_reference(csi):
    with pytest.raises(InvalidInput):
        services.initiative_create(actor=csi, title="Bad", value=9)
    assert services.initiative_create(actor=csi, title="Good").reference == "CIR-00001"


def test_title_of_exactly_200_chars_is_accepted(csi):
    assert len(services.initiative_create(actor=csi, title="x" * 200).title) == 200


def test_initiative_update_rejects_bad_input_and_keeps_the_row(initiative_at, csi, state_of):
    initiative = initiative_at(Step.PLAN)
    before = state_of(initiative)
    with pytest.raises(InvalidInput) as exc:
        services.initiative_update(initiative=initiative, actor=csi, title="", urgency=6)
    assert {"title", "urgency"} <= set(exc.value.errors)
    assert state_of(initiative) == before


@pytest.mark.parametrize(
    ("value", "urgency", "effort", "score", "priority"),
    [
        (5, 5, 1, 10.0, Priority.P1),
        (3, 2, 1, 5.0, Priority.P1),
        (4, 3, 2, 3.5, Priority.P2),
        (3, 2, 2, 2.5, Priority.P2),
        (3, 3, 3, 2.0, Priority.P3),
        (3, 3, 5, 1.2, Priority.P3),
        (1, 1, 5, 0.4, Priority.P4),
    ],
)
def test_priority_is_derived_from_the_score(value, urgency, effort, score, priority, csi):
    created = services.initiative_create(
        actor=csi, title="Scored", value=value, urgency=urgency, effort=effort
    )
    row = Initiative.objects.get(pk=created.pk)
    assert (row.score, row.priority, row.priority_set_manually) == (
        pytest.approx(score),
        priority,
        False,
    )


def test_derived_priority_follows_score_changes(csi):
    initiative = services.initiative_create(actor=csi, title="Scored", value=1, urgency=1, effort=5)
    initiative = services.initiative_update(
        initiative=initiative, actor=csi, value=5, urgency=5, effort=1
    )
    assert Initiative.objects.get(pk=initiative.pk).priority == Priority.P1


def test_csi_manager_overrides_priority_and_can_return_it_to_derived(csi):
    initiative = services.initiative_create(actor=csi, title="Scored", value=5, urgency=5, effort=1)
    services.initiative_set_priority(initiative=initiative, actor=csi, priority=Priority.P4)
    # the override survives a score change
    services.initiative_update(initiative=initiative, actor=csi, effort=2)
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.priority, row.priority_set_manually) == (Priority.P4, True)
    # None returns it to the priority the score gives
    services.initiative_set_priority(initiative=initiative, actor=csi, priority=None)
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.priority, row.priority_set_manually) == (Priority.P1, False)


def test_csi_manager_may_set_priority_through_update(csi):
    initiative = services.initiative_create(actor=csi, title="Scored", value=1, urgency=1, effort=5)
    services.initiative_update(initiative=initiative, actor=csi, priority=Priority.P1)
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.priority, row.priority_set_manually) == (Priority.P1, True)


def test_unknown_priority_is_invalid_input(csi, initiative_at, state_of):
    initiative = initiative_at(Step.PLAN)
    before = state_of(initiative)
    with pytest.raises(InvalidInput) as exc:
        services.initiative_set_priority(initiative=initiative, actor=csi, priority="P0")
    assert list(exc.value.errors) == ["priority"]
    assert state_of(initiative) == before


@pytest.mark.parametrize("step", [Step.VISION, Step.ACTION, Step.SUSTAIN, Step.CANCELLED])
def test_only_proposed_or_rejected_initiatives_are_deleted(step, csi, initiative_at):
    initiative = initiative_at(step)
    with pytest.raises(Conflict):
        services.initiative_delete(initiative=initiative, actor=csi)
    assert Initiative.objects.filter(pk=initiative.pk).exists()


def test_rejected_initiative_can_be_deleted(csi, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    rejected = services.initiative_transition(
        initiative=initiative, to=Step.REJECTED, actor=csi, reason="Duplicate."
    )
    services.initiative_delete(initiative=rejected, actor=csi)
    assert not Initiative.objects.filter(pk=initiative.pk).exists()


def test_review_is_written_only_in_step_six(team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    with pytest.raises(Conflict):
        services.review_create(initiative=initiative, actor=team_member, decision="achieved")
    assert Review.objects.count() == 0


def test_one_review_per_iteration(team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    first = services.review_create(
        initiative=initiative, actor=team_member, decision=Decision.ITERATE, notes="Again."
    )
    assert (first.iteration, first.reviewed_by, first.decision) == (
        1,
        team_member,
        Decision.ITERATE,
    )
    with pytest.raises(Conflict):
        services.review_create(initiative=initiative, actor=team_member, decision="iterate")
    assert Review.objects.filter(initiative=initiative).count() == 1


def test_review_with_unknown_decision_is_invalid_input(team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    with pytest.raises(InvalidInput) as exc:
        services.review_create(initiative=initiative, actor=team_member, decision="maybe")
    assert list(exc.value.errors) == ["decision"]
    assert Review.objects.count() == 0


def test_review_keeps_a_snapshot_of_the_kpis(team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    kpi = initiative.kpis.get()
    review = services.review_create(initiative=initiative, actor=team_member, decision="iterate")
    (snap,) = Review.objects.get(pk=review.pk).kpi_snapshot
    assert (snap["kpi"], snap["baseline_value"], snap["target_value"]) == (kpi.key, 10.0, 8.0)


def test_action_done_is_stamped_and_unstamped(team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    action = services.action_create(
        initiative=initiative, actor=team_member, title="Roster", status=ActionStatus.DONE
    )
    assert action.completed_at is not None and action.iteration == 1
    services.action_update(action=action, actor=team_member, status=ActionStatus.IN_PROGRESS)
    action.refresh_from_db()
    assert action.completed_at is None


@pytest.mark.parametrize("write", list(WRITES))
def test_every_service_write_records_history_by_the_actor(write, csi, team_member, initiative_at):
    # given: initiatives at the steps the writes need (set up before the mark)
    context = {
        "csi": csi,
        "team": team_member,
        "proposed": initiative_at(Step.PROPOSED),
        "plan": initiative_at(Step.PLAN),
        "review": initiative_at(Step.REVIEW),
        "sustain": initiative_at(Step.SUSTAIN),
        "goal": factories.GoalFactory(),
    }
    do, actor_key, models = WRITES[write]
    actor = context[actor_key]
    marks = _history_marks()
    # when
    do(context)
    # then: the write left history in the expected models, every row naming the actor
    rows = _history_since(marks)
    assert models <= {type(r).__name__ for r in rows}
    assert [(type(r).__name__, r.history_type, r.history_user) for r in rows] == [
        (type(r).__name__, r.history_type, actor) for r in rows
    ]


def test_history_shows_what_changed(team_member, csi):
    initiative = services.initiative_create(actor=csi, title="Vague title", accountable=team_member)
    services.initiative_update(initiative=initiative, actor=team_member, title="Clearer title")
    latest, previous = Initiative.history.filter(id=initiative.pk).order_by("-history_id")[:2]
    delta = latest.diff_against(previous)
    assert [(c.field, c.new) for c in delta.changes] == [("title", "Clearer title")]
    assert latest.history_user == team_member


def test_transition_history_record_carries_the_move_as_its_reason(csi, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    services.initiative_transition(initiative=initiative, to=Step.VISION, actor=csi)
    latest = Initiative.history.filter(id=initiative.pk).latest("history_id")
    assert (latest.step, latest.history_user, latest.history_change_reason) == (
        Step.VISION,
        csi,
        "proposed → vision",
    )


def test_force_step_helper_bypasses_only_in_tests(initiative_at):
    # guard for the suite itself: force_step must not write a log row or history
    initiative = initiative_at(Step.PROPOSED)
    history = Initiative.history.filter(id=initiative.pk).count()
    force_step(initiative, Step.PLAN)
    assert TransitionLog.objects.count() == 0
    assert Initiative.history.filter(id=initiative.pk).count() == history


def test_update_with_priority_and_bad_input_changes_nothing(csi, initiative_at, state_of):
    # the priority must not be saved on its own when the rest of the update is refused
    initiative = initiative_at(Step.PLAN)
    before = state_of(initiative)
    with pytest.raises(InvalidInput):
        services.initiative_update(
            initiative=initiative, actor=csi, priority=Priority.P4, title="x" * 201
        )
    assert state_of(initiative) == before


@pytest.mark.parametrize(
    "step, to, queries",
    [
        # lock, roles, the guard's reads once (not again when django-fsm checks them),
        # the save with its audit history, the log row and the event
        (Step.VISION, Step.BASELINE, 20),
        (Step.ACTION, Step.REVIEW, 19),
        (Step.TARGET, Step.PLAN, 19),
    ],
)
def test_a_move_asks_each_guard_once(
    initiative_at, team_member, django_assert_num_queries, step, to, queries
):
    initiative = initiative_at(step)
    with django_assert_num_queries(queries):
        services.initiative_transition(initiative=initiative, to=to, actor=team_member)
