"""The loopholes API users found in the verdict, each tried over HTTP as the issue tells it.

Every attempt is refused in the one error shape (400 bad input, 403 naming who may, 409 a
workflow conflict) and changes nothing (the initiative's state is read again from the
database); beside each, the honest way through succeeds.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from improvement import choices, services
from improvement.api import views
from improvement.choices import Step
from improvement.models import KPI, Initiative, Plan, Review

from .. import factories
from ..conftest import force_step, initiative_state
from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)


def refused(response, status: int, code: str | None = None) -> dict:
    """The body of a refusal: `status`, the one error shape, a message in words."""
    assert response.status_code == status, response.content[:600]
    body = response.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def move(client, initiative: Initiative, **body):
    return client.post(f"/api/v1/initiatives/{initiative.pk}/transitions/", body, format="json")


def detail(client, initiative: Initiative) -> dict:
    response = client.get(f"/api/v1/initiatives/{initiative.pk}/")
    assert response.status_code == 200
    return response.json()


def on_track(initiative: Initiative) -> KPI:
    """Its one KPI, halfway in time from 10 h to 8 h and 75 % of the way there: on track,
    not achieved (the data a decision must agree with)."""
    kpi = initiative.kpis.get()
    today = timezone.localdate()
    KPI.objects.filter(pk=kpi.pk).update(
        baseline_date=today - dt.timedelta(days=100), target_date=today + dt.timedelta(days=100)
    )
    kpi.refresh_from_db()
    services.measurement_record(
        kpi=kpi,
        actor=factories.UserFactory(username="feeder", roles=["CSI manager"]),
        points=[{"value": 8.5, "measured_at": timezone.now() - dt.timedelta(hours=1)}],
    )
    assert services.kpi_check(kpi=kpi).status == choices.KPIStatus.ON_TRACK
    return kpi


# --- 1. each iteration does its own work ---------------------------------------------------


def test_iteration_2_cannot_skip_the_work_on_iteration_1s_finished_action(world: World):
    # given an initiative in review whose iteration 1 decided to iterate, now in its plan
    initiative, owner = world.in_review, world.client("owner")
    path = f"/api/v1/initiatives/{initiative.pk}/reviews/"
    assert owner.post(path, {"decision": "iterate"}, format="json").status_code == 201
    back = move(owner, initiative, to="plan", comment="Iteration 1 halved the drops; again.")
    assert back.status_code == 200, back.json()
    assert (back.json()["step"], back.json()["iteration"]) == ("plan", 2)
    before = initiative_state(initiative)
    # when its owner goes on to action on iteration 1's finished action
    response = move(owner, initiative, to="action")
    # then it is refused: iteration 2 has no action of its own
    body = refused(response, 409, "transition_blocked")
    assert body["errors"]["conditions"] == ["No action is planned in iteration 2."]
    assert initiative_state(initiative) == before
    # and from action, review is refused until an action of iteration 2 is done
    force_step(initiative, Step.ACTION)
    before = initiative_state(initiative)
    body = refused(move(owner, initiative, to="review"), 409, "transition_blocked")
    assert body["errors"]["conditions"] == ["No action is done yet in iteration 2."]
    assert initiative_state(initiative) == before
    # the honest way: a done action of iteration 2
    created = owner.post(
        f"/api/v1/initiatives/{initiative.pk}/actions/",
        {"title": "Pin the client version", "status": "done"},
        format="json",
    )
    assert created.json()["iteration"] == 2
    assert move(owner, initiative, to="review").json()["step"] == "review"


# --- 2. goalposts do not move silently -------------------------------------------------------


def test_team_member_cannot_move_a_locked_target_and_the_verdict_stays(world: World):
    # given a KPI defined and changed over the API while the target was open
    initiative, owner = world.initiative, world.client("owner")
    created = owner.post(
        "/api/v1/kpis/",
        {
            "initiative": initiative.pk,
            "key": "vpn-drops",
            "name": "VPN drops a day",
            "direction": "decrease",
            "baseline_value": 10,
            "baseline_date": "2026-01-01",
            "target_value": 8,
            "target_date": "2027-06-01",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    kpi_path = f"/api/v1/kpis/{created.json()['id']}/"
    assert created.json()["locked"] is False
    assert owner.patch(kpi_path, {"target_value": 7.5}, format="json").status_code == 200
    kpi = KPI.objects.get(key="vpn-drops")
    services.measurement_record(
        kpi=kpi,
        actor=world.users["csi"],
        points=[{"value": 8.2, "measured_at": "2026-11-30T09:00:00Z"}],
    )
    verdict = services.kpi_check(kpi=kpi).status
    # and the initiative is at step 5: its KPIs are locked
    force_step(initiative, Step.ACTION)
    assert owner.get(kpi_path).json()["locked"] is True
    before, revisions = initiative_state(initiative), kpi.revisions.count()
    # when a team member moves the target to what was measured
    response = owner.patch(kpi_path, {"target_value": 8.2, "unit": "drops"}, format="json")
    # then it is refused, saying how to proceed, and nothing changed: not the verdict either
    body = refused(response, 409, "conflict")
    assert body["errors"] == {"target_value": ["Locked since the initiative left step 3."]}
    assert "Move it back to '3 · Where do we want to be?'" in body["message"]
    assert "ask a CSI manager to re-baseline the KPI with a reason" in body["message"]
    assert initiative_state(initiative) == before
    assert kpi.revisions.count() == revisions
    assert owner.get(kpi_path).json()["status"] == verdict
    # what is not locked still changes
    assert owner.patch(kpi_path, {"unit": "drops"}, format="json").status_code == 200


@pytest.mark.parametrize(
    "role,body,status,field",
    [
        ("owner", {"reason": "Closer to what we see.", "target_value": 9}, 403, None),
        ("service_owner", {"reason": "Closer to what we see.", "target_value": 9}, 403, None),
        ("viewer", {"reason": "Closer to what we see.", "target_value": 9}, 403, None),
        ("csi", {"target_value": 9}, 400, "reason"),
        ("csi", {"reason": "   ", "target_value": 9}, 400, "reason"),
        ("csi", {"reason": "Worse side.", "target_value": 12}, 400, "target_value"),
        ("csi", {"reason": "Typo.", "key": "other"}, 400, "key"),
    ],
    ids=["owner", "service-owner", "viewer", "no-reason", "blank-reason", "wrong-side", "key"],
)
def test_rebaseline_is_a_csi_managers_with_a_reason(world: World, role, body, status, field):
    # given a locked KPI
    force_step(world.initiative, Step.ACTION)
    before = initiative_state(world.initiative)
    revisions = world.kpi.revisions.count()
    # when someone re-baselines it without being a CSI manager, or without a reason
    response = world.client(role).post(
        f"/api/v1/kpis/{world.kpi.pk}/rebaseline/", body, format="json"
    )
    # then it is refused, naming who may or the field, and nothing changed
    answer = refused(response, status)
    if status == 403:
        assert "CSI manager" in answer["message"]
    else:
        assert field in answer["errors"]
    assert initiative_state(world.initiative) == before
    assert world.kpi.revisions.count() == revisions


def test_csi_manager_rebaselines_with_a_reason_kept_in_the_revisions(world: World):
    # given a KPI defined over the API, then locked at step 5
    csi = world.client("csi")
    created = csi.post(
        "/api/v1/kpis/",
        {
            "initiative": world.initiative.pk,
            "key": "vpn-drops",
            "name": "VPN drops a day",
            "direction": "decrease",
            "baseline_value": 10,
            "baseline_date": "2026-01-01",
            "target_value": 8,
            "target_date": "2027-06-01",
        },
        format="json",
    )
    path = f"/api/v1/kpis/{created.json()['id']}/"
    force_step(world.initiative, Step.ACTION)
    # when a CSI manager re-baselines it with a reason
    response = csi.post(
        f"{path}rebaseline/",
        {"reason": "The vendor's SLA changed.", "target_value": 7, "target_date": "2027-09-30"},
        format="json",
    )
    # then the KPI changed, and its revisions say who, when, why and what, oldest first
    assert response.status_code == 200, response.json()
    assert (response.json()["target_value"], response.json()["target_date"]) == (
        7.0,
        "2027-09-30",
    )
    assert response.json()["locked"] is True
    revisions = world.client("viewer").get(f"{path}revisions/").json()
    assert revisions["count"] == 2
    defined, rebaselined = revisions["results"]
    assert (defined["kind"], defined["by"], defined["reason"]) == ("defined", "csi", "")
    assert defined["changes"]["target_value"] == [None, 8.0]
    assert rebaselined | {"id": 0, "at": ""} == {
        "id": 0,
        "at": "",
        "kind": "rebaselined",
        "by": "csi",
        "reason": "The vendor's SLA changed.",
        "changes": {"target_value": [8.0, 7.0], "target_date": ["2027-06-01", "2027-09-30"]},
    }
    assert defined["at"] <= rebaselined["at"]


def test_kpi_revisions_page_like_the_other_nested_lists(world: World):
    for value in (7.0, 7.5, 6.5):
        services.kpi_rebaseline(
            kpi=world.kpi, actor=world.users["csi"], reason="Again.", target_value=value
        )
    client = world.client("viewer")
    page = client.get(f"/api/v1/kpis/{world.kpi.pk}/revisions/?limit=2").json()
    assert page["count"] == 3
    assert [r["changes"]["target_value"][1] for r in page["results"]] == [7.0, 7.5]
    assert client.get(page["next"]).json()["results"][0]["changes"]["target_value"] == [7.5, 6.5]
    assert client.get("/api/v1/kpis/999999/revisions/").status_code == 404


# --- 3. decisions follow the data -----------------------------------------------------------


def test_review_cannot_claim_achieved_while_the_kpi_is_only_on_track(world: World):
    # given an initiative in review whose KPI is on track, 75 % of the way
    initiative, owner = world.in_review, world.client("owner")
    kpi = on_track(initiative)
    path = f"/api/v1/initiatives/{initiative.pk}/reviews/"
    before = initiative_state(initiative)
    # when its owner records "achieved"
    response = owner.post(path, {"decision": "achieved", "progress_check": "Done!"}, format="json")
    # then the decision is refused with the KPI that contradicts it, and nothing is recorded
    body = refused(response, 400, "invalid")
    assert body["errors"]["decision"][0] == (
        f"KPI '{kpi.name}' is on track, 75 % of the way, not achieved."
    )
    assert "justification" in body["message"]
    assert "decision_override" in body["errors"]  # the field that would carry it
    assert initiative_state(initiative) == before
    # the data supports "improved", with no override
    improved = owner.post(path, {"decision": "improved"}, format="json")
    assert improved.status_code == 201, improved.json()
    assert improved.json()["decision_override"] == ""


def test_review_records_achieved_against_the_data_as_an_override(world: World):
    initiative, owner = world.in_review, world.client("owner")
    on_track(initiative)
    why = "The survey lags a quarter; the CAB saw the incident figures."
    response = owner.post(
        f"/api/v1/initiatives/{initiative.pk}/reviews/",
        {"decision": "achieved", "decision_override": why},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["decision"], response.json()["decision_override"]) == ("achieved", why)
    listed = owner.get(f"/api/v1/initiatives/{initiative.pk}/reviews/").json()["results"]
    assert listed[0]["decision_override"] == why
    assert Review.objects.get(initiative=initiative).decision_override == why


def test_closing_successful_against_the_data_needs_an_override(world: World):
    # given an initiative in sustain whose last review saw its KPI only on track
    initiative, csi = world.in_review, world.client("csi")
    on_track(initiative)
    owner = world.client("owner")
    owner.post(
        f"/api/v1/initiatives/{initiative.pk}/reviews/", {"decision": "improved"}, format="json"
    )
    assert move(owner, initiative, to="sustain").status_code == 200
    assert detail(csi, initiative)["proposed_outcome"] == "partially_successful"
    before = initiative_state(initiative)
    # when a CSI manager closes it as successful
    response = move(csi, initiative, to="closed", outcome="successful")
    # then it is refused, proposing what the data supports, and nothing changed
    body = refused(response, 409, "transition_blocked")
    assert body["errors"]["conditions"][-1].startswith(
        "The outcome 'Successful' does not agree with the KPIs of the last review: choose "
        "'Partially successful'"
    )
    assert initiative_state(initiative) == before
    # with a justification it closes, and the override is shown
    why = "The contract penalties stopped: the business counts it a success."
    closed = move(csi, initiative, to="closed", outcome="successful", override=why)
    assert closed.status_code == 200, closed.json()
    shown = closed.json()
    assert (shown["step"], shown["outcome"], shown["outcome_override"]) == (
        "closed",
        "successful",
        why,
    )


def test_proposed_outcome_is_null_before_any_review(world: World):
    assert detail(world.client("viewer"), world.initiative)["proposed_outcome"] is None


# --- 4. every move back says why ------------------------------------------------------------


BACK_MOVES = [
    (Step.ACTION, "plan", "Say why it goes back (a reason is required)."),
    (Step.ACTION, "target", "Say why it goes back (a reason is required)."),
    (Step.REVIEW, "plan", "Say why it goes back (a reason is required)."),
]


@pytest.mark.parametrize("at,to,unmet", BACK_MOVES, ids=[f"{a}-{t}" for a, t, _ in BACK_MOVES])
def test_a_move_back_needs_a_reason(world: World, initiative_at, at, to, unmet):
    # given an initiative that may go back (in review: its iteration decided to iterate)
    initiative = initiative_at(at)
    if at == Step.REVIEW:
        factories.ReviewFactory(initiative=initiative, decision=choices.Decision.ITERATE)
    owner = world.client("owner")
    before = initiative_state(initiative)
    # when its owner moves it back without a word, or with blanks
    for body in ({}, {"comment": "  "}, {"reason": ""}):
        response = move(owner, initiative, to=to, **body)
        # then the move is refused and nothing changed
        assert refused(response, 409, "transition_blocked")["errors"]["conditions"] == [unmet]
        assert initiative_state(initiative) == before
    # a comment serves as the reason, and is kept in the log
    moved = move(owner, initiative, to=to, comment="The pilot showed the approach fails.")
    assert moved.status_code == 200, moved.json()
    log = owner.get(f"/api/v1/initiatives/{initiative.pk}/transitions/").json()["results"]
    assert log[-1]["comment"] == "The pilot showed the approach fails."


def test_a_reason_alone_is_kept_in_the_log(world: World, initiative_at):
    initiative = initiative_at(Step.ACTION)
    owner = world.client("owner")
    assert move(owner, initiative, to="plan", reason="Scope changed.").status_code == 200
    log = owner.get(f"/api/v1/initiatives/{initiative.pk}/transitions/").json()["results"]
    assert log[-1]["comment"] == "Scope changed."


# --- 5. a stale page does not act -----------------------------------------------------------


def test_a_move_from_a_stale_view_is_a_409_saying_what_changed(world: World):
    # given the owner's client saw the initiative in vision, and a CSI manager moved it since
    initiative, owner = world.initiative, world.client("owner")
    assert move(world.client("csi"), initiative, to="baseline").status_code == 200
    before = initiative_state(initiative)
    # when the owner makes the move it saw
    response = move(owner, initiative, to="baseline", **{"from": "vision"})
    # then it is refused, saying where it is and who moved it, and nothing changed
    body = refused(response, 409, "conflict")
    assert "by csi" in body["message"]
    assert "it is now in '2 · Where are we now?', not '1 · What is the vision?'" in body["message"]
    assert initiative_state(initiative) == before
    # from the step it is in, the move goes
    moved = move(owner, initiative, to="target", **{"from": "baseline"})
    assert moved.status_code == 200, moved.json()


@pytest.mark.parametrize("seen", ["nowhere", "", 5, None])
def test_a_move_from_an_unknown_step_is_a_400(world: World, seen):
    before = initiative_state(world.initiative)
    response = move(world.client("owner"), world.initiative, to="baseline", **{"from": seen})
    assert "from" in refused(response, 400, "invalid")["errors"]
    assert initiative_state(world.initiative) == before


def _etag(response) -> str:
    return response.headers["ETag"]


def test_a_step_record_answers_its_version_as_an_etag(world: World):
    client = world.client("owner")
    path = f"/api/v1/initiatives/{world.initiative.pk}/plan/"
    plan = Plan.objects.get(initiative=world.initiative)
    read = client.get(path)
    assert _etag(read) == f'"{services.record_version(plan)}"'
    written = client.put(
        path, {"risks": "Vendor delay"}, format="json", headers={"If-Match": _etag(read)}
    )
    assert written.status_code == 200, written.json()
    plan.refresh_from_db()
    assert _etag(written) == f'"{services.record_version(plan)}"' != _etag(read)
    assert _etag(client.get(path)) == _etag(written)


def test_a_write_from_a_stale_record_is_a_409_saying_who_changed_what(world: World):
    # given the owner read the plan, and a CSI manager changed it since
    owner, csi = world.client("owner"), world.client("csi")
    path = f"/api/v1/initiatives/{world.initiative.pk}/plan/"
    seen = _etag(owner.get(path))
    assert csi.put(path, {"approach": "Roll back first."}, format="json").status_code == 200
    before = initiative_state(world.initiative)
    # when the owner writes from what they read
    response = owner.put(
        path, {"approach": "Pilot first."}, format="json", headers={"If-Match": seen}
    )
    # then it is refused (409, not 412), naming who changed which field, and nothing changed
    body = refused(response, 409, "conflict")
    assert "changed by csi" in body["message"]
    assert "approach" in body["message"]
    assert initiative_state(world.initiative) == before
    assert owner.get(path).json()["approach"] == "Roll back first."
    # with the current ETag the write goes; without If-Match there is no check
    current = _etag(owner.get(path))
    ok = owner.put(path, {"approach": "Pilot first."}, format="json", headers={"If-Match": current})
    assert ok.status_code == 200, ok.json()
    assert owner.put(path, {"risks": "-"}, format="json").status_code == 200


def test_a_record_never_written_has_the_etag_new(world: World):
    owner = world.client("owner")
    path = f"/api/v1/initiatives/{world.proposed.pk}/plan/"
    assert _etag(owner.get(path)) == '"new"'
    first = owner.put(path, {"approach": "A"}, format="json", headers={"If-Match": '"new"'})
    assert first.status_code == 200, first.json()
    before = initiative_state(world.proposed)
    # a second writer who also saw it unwritten is refused
    second = owner.put(path, {"approach": "B"}, format="json", headers={"If-Match": 'W/"new"'})
    refused(second, 409, "conflict")
    assert initiative_state(world.proposed) == before


@pytest.mark.parametrize("header", ["2026-12-01T10:02:03+00:00", '"a", "b"', "W/", '"x'])
def test_a_malformed_if_match_is_a_400(world: World, header):
    path = f"/api/v1/initiatives/{world.initiative.pk}/plan/"
    before = initiative_state(world.initiative)
    response = world.client("owner").put(
        path, {"approach": "X"}, format="json", headers={"If-Match": header}
    )
    assert "If-Match" in refused(response, 400, "invalid")["errors"]
    assert initiative_state(world.initiative) == before


def test_if_match_star_writes_without_a_check(world: World):
    path = f"/api/v1/initiatives/{world.initiative.pk}/plan/"
    response = world.client("owner").put(
        path, {"approach": "X"}, format="json", headers={"If-Match": "*"}
    )
    assert response.status_code == 200


# --- 6. the same ticket twice ---------------------------------------------------------------

TICKET = {"title": "Recurring VPN drop-outs", "source": "problem", "external_id": "PRB0040012"}


def test_the_api_creates_through_the_idempotent_service(world: World):
    assert views.InitiativeViewSet.create_service is services.initiative_create_or_get


@pytest.mark.parametrize("again", ["ServiceNow", " SERVICENOW ", "servicenow"])
def test_the_same_ticket_in_another_spelling_answers_the_existing_one(world: World, again):
    client = world.client("integration")
    first = client.post(
        "/api/v1/initiatives/", TICKET | {"external_system": "servicenow"}, format="json"
    )
    assert first.status_code == 201
    events = initiative_state(Initiative.objects.get(pk=first.json()["id"]))
    response = client.post(
        "/api/v1/initiatives/",
        TICKET | {"external_system": again, "external_id": " prb0040012 ", "title": "Retry"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == first.json()["id"]
    assert response.json()["title"] == TICKET["title"]
    assert Initiative.objects.filter(external_id__iexact="PRB0040012").count() == 1
    assert initiative_state(Initiative.objects.get(pk=first.json()["id"])) == events


def test_a_priority_given_again_leaves_the_existing_initiative_as_it_is(world: World):
    csi = world.client("csi")
    body = TICKET | {"external_system": "servicenow", "priority": "P2"}
    first = csi.post("/api/v1/initiatives/", body, format="json")
    assert (first.status_code, first.json()["priority"]) == (201, "P2")
    again = csi.post("/api/v1/initiatives/", body | {"priority": "P1"}, format="json")
    assert (again.status_code, again.json()["priority"]) == (200, "P2")


# --- 7. the integration hands out no rights -------------------------------------------------


def test_an_integrations_owner_and_goals_are_suggestions_until_accepted(world: World):
    # when an ITSM integration raises a candidate naming an owner and goals
    response = world.client("integration").post(
        "/api/v1/initiatives/",
        TICKET | {"accountable": "tina", "goals": [world.goal.pk]},
        format="json",
    )
    # then nobody holds a right on it yet: they are shown as suggestions
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["accountable"], created["goals"]) == (None, [])
    assert (created["suggested_accountable"], created["suggested_goals"]) == (
        "tina",
        [world.goal.pk],
    )
    initiative = Initiative.objects.get(pk=created["id"])
    assert (
        world.client("owner")
        .patch(f"/api/v1/initiatives/{initiative.pk}/", {"title": "Mine now"}, format="json")
        .status_code
        == 403
    )
    # and a CSI manager's acceptance applies them
    accepted = move(world.client("csi"), initiative, to="vision")
    assert accepted.status_code == 200, accepted.json()
    shown = accepted.json()
    assert (shown["accountable"], shown["goals"]) == ("tina", [world.goal.pk])
    assert (shown["suggested_accountable"], shown["suggested_goals"]) == (None, [])


@pytest.mark.parametrize("field", ["responsible", "consulted", "informed"])
def test_an_integration_may_not_set_the_raci(world: World, field):
    response = world.client("integration").post(
        "/api/v1/initiatives/", TICKET | {field: ["tina"]}, format="json"
    )
    body = refused(response, 400, "invalid")
    assert field in body["errors"]
    assert "CSI manager" in body["message"]
    assert not Initiative.objects.filter(external_id="PRB0040012").exists()


@pytest.mark.parametrize("role", ["csi", "owner"])
def test_someone_who_cannot_edit_cannot_be_accountable(world: World, role):
    response = world.client(role).post(
        "/api/v1/initiatives/", TICKET | {"accountable": "victor"}, format="json"
    )
    body = refused(response, 400, "invalid")
    assert "victor" in body["errors"]["accountable"][0]
    assert not Initiative.objects.filter(external_id="PRB0040012").exists()
    before = initiative_state(world.initiative)
    patched = world.client(role).patch(
        f"/api/v1/initiatives/{world.initiative.pk}/", {"accountable": "victor"}, format="json"
    )
    assert "accountable" in refused(patched, 400, "invalid")["errors"]
    assert initiative_state(world.initiative) == before


# --- 8. ended initiatives keep no live health -----------------------------------------------


@pytest.mark.parametrize(
    "to,body",
    [
        ("cancelled", {"reason": "Superseded.", "lessons_learned": "Ask the vendor first."}),
        ("rejected", {"reason": "Duplicate."}),
    ],
)
def test_an_ended_initiative_has_no_health(world: World, initiative_at, to, body):
    initiative = initiative_at(Step.PROPOSED if to == "rejected" else Step.ACTION)
    # given its KPIs were checked and it shows their verdict
    for kpi in [factories.KPIFactory(initiative=initiative), *initiative.kpis.all()]:
        services.kpi_check(kpi=kpi)
    services.initiative_refresh_health(initiative=initiative)
    assert detail(world.client("csi"), initiative)["health"] != "none"
    moved = move(world.client("csi"), initiative, to=to, **body)
    assert moved.status_code == 200, moved.json()
    assert moved.json()["health"] == "none"


# --- 9. every refusal names who may ---------------------------------------------------------


REFUSALS = [
    # (who, method, path, body, the role or RACI position the refusal names)
    ("viewer", "PATCH", "/api/v1/initiatives/{i}/", {"title": "x"}, "accountable owner (A)"),
    ("outsider", "PATCH", "/api/v1/initiatives/{i}/", {"title": "x"}, "responsible person (R)"),
    (
        "integration",
        "POST",
        "/api/v1/initiatives/{i}/transitions/",
        {"to": "baseline"},
        "accountable owner (A)",
    ),
    ("outsider", "POST", "/api/v1/initiatives/{i}/transitions/", {"to": "baseline"}, "(R)"),
    ("owner", "POST", "/api/v1/initiatives/{p}/transitions/", {"to": "vision"}, "CSI manager"),
    ("owner", "DELETE", "/api/v1/initiatives/{p}/", None, "CSI manager"),
    ("owner", "POST", "/api/v1/goals/", {"title": "G"}, "CSI manager"),
    ("viewer", "POST", "/api/v1/initiatives/", {"title": "x"}, "Improvement team"),
    ("viewer", "POST", "/api/v1/kpis/{k}/measurements/", {"value": 1}, "ITSM integration"),
    ("outsider", "POST", "/api/v1/kpis/{k}/checks/", None, "ITSM integration"),
    ("outsider", "PATCH", "/api/v1/kpis/{k}/", {"unit": "h"}, "KPIs"),
    ("owner", "POST", "/api/v1/kpis/{k}/rebaseline/", {"reason": "r"}, "CSI manager"),
    ("service_owner", "GET", "/api/v1/webhooks/", None, "CSI manager"),
    ("norole", "GET", "/api/v1/initiatives/", None, "Viewer"),
    ("viewer", "PUT", "/api/v1/initiatives/{i}/plan/", {"approach": "x"}, "Improvement team"),
]


@pytest.mark.parametrize(
    "role,method,path,body,names", REFUSALS, ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in REFUSALS]
)
def test_every_refusal_names_the_role_or_raci_position(
    world: World, role, method, path, body, names
):
    import json

    ids = {"i": world.initiative.pk, "p": world.proposed.pk, "k": world.kpi.pk}
    before = [initiative_state(i) for i in (world.initiative, world.proposed)]
    response = world.client(role).generic(
        method,
        path.format(**ids),
        data=None if body is None else json.dumps(body),
        content_type="application/json",
    )
    message = refused(response, 403)["message"]
    assert message.startswith("Only "), message
    assert names in message, message
    assert message != "You do not have permission to do this."
    assert [initiative_state(i) for i in (world.initiative, world.proposed)] == before


# --- 10. on hold, and back ------------------------------------------------------------------


def test_on_hold_needs_a_reason_and_a_resume_by_date(world: World, initiative_at):
    initiative = initiative_at(Step.PLAN)
    owner = world.client("owner")
    before = initiative_state(initiative)
    body = refused(move(owner, initiative, to="on_hold"), 409, "transition_blocked")
    assert body["errors"]["conditions"] == [
        "Say why it is put on hold (a reason is required).",
        "A resume-by date is required.",
    ]
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    past = move(owner, initiative, to="on_hold", reason="Contract", resume_by=yesterday)
    assert "resume_by" in refused(past, 400, "invalid")["errors"]
    malformed = move(owner, initiative, to="on_hold", reason="Contract", resume_by="soon")
    assert "resume_by" in refused(malformed, 400, "invalid")["errors"]
    assert initiative_state(initiative) == before


def test_on_hold_shows_where_it_returns_and_resumes_there(world: World, initiative_at):
    # given an initiative in its plan, put on hold with a reason and a resume-by date
    initiative = initiative_at(Step.PLAN)
    owner = world.client("owner")
    resume_by = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    held = move(
        owner, initiative, to="on_hold", reason="Waiting for the contract.", resume_by=resume_by
    )
    assert held.status_code == 200, held.json()
    shown = held.json()
    assert {k: shown[k] for k in ("step", "held_from", "hold_reason", "hold_until")} == {
        "step": "on_hold",
        "held_from": "plan",
        "hold_reason": "Waiting for the contract.",
        "hold_until": resume_by,
    }
    assert (shown["on_hold_days"], shown["age_days"]) == (0, 0)
    moves = {t["to"]: t for t in shown["allowed_transitions"]}
    assert moves["plan"]["allowed"] is True
    assert "action" not in moves
    # then it cannot go on while on hold
    before = initiative_state(initiative)
    refused(move(owner, initiative, to="action"), 409, "transition_blocked")
    assert initiative_state(initiative) == before
    # and resuming takes it back to the step it left
    resumed = move(owner, initiative, to="plan", **{"from": "on_hold"})
    assert resumed.status_code == 200, resumed.json()
    assert (resumed.json()["step"], resumed.json()["held_from"]) == ("plan", "")


def test_age_leaves_out_the_days_on_hold(world: World, initiative_at):
    initiative = initiative_at(Step.PLAN)
    Initiative.objects.filter(pk=initiative.pk).update(
        created_at=timezone.now() - dt.timedelta(days=40),
        hold_days=10,
    )
    shown = detail(world.client("viewer"), initiative)
    assert (shown["age_days"], shown["on_hold_days"]) == (30, 10)


def test_an_integration_cannot_suggest_an_owner_who_cannot_edit(world: World):
    response = world.client("integration").post(
        "/api/v1/initiatives/", TICKET | {"accountable": "victor"}, format="json"
    )
    assert "accountable" in refused(response, 400, "invalid")["errors"]
    assert not Initiative.objects.filter(external_id="PRB0040012").exists()
