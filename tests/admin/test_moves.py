"""The workflow panel and the transition page (improvement/admin/moves.py): the moves
shown with their reasons, made through the workflow service, and who may make them.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from improvement import permissions
from improvement.choices import Outcome, Step
from improvement.models import Initiative, TransitionLog

from .. import factories
from .support import change_url, move, texts, transition_url

pytestmark = pytest.mark.django_db


def test_change_form_shows_step_iteration_and_moves(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    response = csi_client.get(change_url(initiative))
    html = response.content.decode()
    assert 'data-step="proposed"' in html
    assert 'class="cir-iteration">1<' in html
    assert transition_url(initiative) in html
    assert 'data-to="vision"' in html and "Accept" in html
    workflow = response.context["workflow"]
    assert {m["t"].to for m in workflow["moves"]} == {"vision", "rejected", "cancelled", "on_hold"}


def test_transition_page_shows_the_guard_reasons_of_a_blocked_move(csi_client, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    response = csi_client.get(transition_url(initiative))
    assert response.status_code == 200
    html = response.content.decode()
    assert "The vision statement is missing." in html
    assert "The initiative is not linked to any organisational goal." in html
    assert "The expected value is not described." in html
    # the blocked move is shown, not offered as a form
    baseline = next(m for m in response.context["workflow"]["moves"] if m["t"].to == "baseline")
    assert not baseline["t"].allowed
    assert 'class="cir-move cir-allowed" data-to="baseline"' not in html


def test_posting_an_allowed_move_moves_and_logs_it(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    response = move(csi_client, initiative, "vision", comment="Worth doing")
    # then it redirects to the page (PRG), the step moved and the log row was written
    assert response.status_code == 302
    assert response["Location"] == transition_url(initiative)
    initiative.refresh_from_db()
    assert initiative.step == Step.VISION
    log = TransitionLog.objects.get(initiative=initiative)
    assert (log.from_step, log.to_step, log.actor, log.comment) == (
        "proposed",
        "vision",
        csi,
        "Worth doing",
    )
    assert any("Moved from 'Proposed' to '1 · What is the vision?'" in m for m in texts(response))


def test_a_move_posted_from_the_change_form_returns_to_it(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    response = move(csi_client, initiative, "vision", next="change")
    assert response["Location"] == change_url(initiative)


def test_posting_a_blocked_move_shows_every_reason_and_changes_nothing(csi_client, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    initiative.accountable = None
    Initiative.objects.filter(pk=initiative.pk).update(accountable=None)
    response = move(csi_client, initiative, "baseline")
    assert response.status_code == 302
    shown = texts(response)
    for reason in (
        "The vision statement is missing.",
        "The initiative is not linked to any organisational goal.",
        "No accountable owner is set.",
        "The expected value is not described.",
    ):
        assert reason in shown
    initiative.refresh_from_db()
    assert initiative.step == Step.VISION
    assert not TransitionLog.objects.exists()


@pytest.mark.parametrize(
    ("to", "fields", "missing"),
    [
        ("rejected", {}, "A reason is required."),
        ("cancelled", {"reason": "Superseded"}, "Lessons learned are required to cancel."),
    ],
)
def test_a_move_without_its_required_input_is_refused(
    csi_client, initiative_at, to, fields, missing
):
    initiative = initiative_at(Step.PROPOSED)
    response = move(csi_client, initiative, to, **fields)
    assert missing in texts(response)
    initiative.refresh_from_db()
    assert initiative.step == Step.PROPOSED


def test_reject_with_a_reason_records_it(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    move(csi_client, initiative, "rejected", reason="Duplicate of CIR-00007")
    initiative.refresh_from_db()
    assert initiative.step == Step.REJECTED
    assert initiative.closure_reason == "Duplicate of CIR-00007"
    assert TransitionLog.objects.get(initiative=initiative).comment == "Duplicate of CIR-00007"


def test_a_stale_button_is_a_conflict_that_says_what_changed(csi_client, initiative_at, state_of):
    initiative = initiative_at(Step.PROPOSED)
    page = csi_client.get(transition_url(initiative))
    assert 'name="from_step" value="proposed"' in page.content.decode()
    # given someone else accepts it meanwhile
    move(csi_client, initiative, "vision")
    before = state_of(initiative)
    # when the old page's "Reject" is pressed
    response = csi_client.post(
        transition_url(initiative), {"to": "rejected", "from_step": "proposed", "reason": "x"}
    )
    # then the service says where it is now and who moved it, and nothing changed
    shown = texts(response)[-1]
    assert shown.startswith("The initiative was moved by csi at ")
    assert "it is now in '1 · What is the vision?', not 'Proposed' as on your page" in shown
    assert state_of(initiative) == before


def test_a_stale_panel_is_refused_even_where_the_same_move_exists_now(
    csi_client, initiative_at, state_of
):
    # given a panel opened at step 5, and the initiative moved back to the plan meanwhile
    initiative = initiative_at(Step.ACTION)
    move(csi_client, initiative, "plan", reason="Re-plan: the vendor changed.")
    before = state_of(initiative)
    # when the old panel's "Cancel" (a move that exists from the plan too) is pressed
    response = csi_client.post(
        transition_url(initiative),
        {"to": "cancelled", "from_step": "action", "reason": "x", "lessons_learned": "y"},
    )
    # then nothing happens, and the message says so
    assert any("it is now in '4 · How do we get there?'" in m for m in texts(response))
    assert state_of(initiative) == before


def test_closed_initiative_offers_no_moves(csi_client, initiative_at):
    initiative = initiative_at(Step.CLOSED)
    response = csi_client.get(transition_url(initiative))
    assert response.context["workflow"]["moves"] == []
    assert "no further moves" in response.content.decode()


def test_view_only_staff_sees_the_moves_but_cannot_make_them(client, make_user, initiative_at):
    staff_viewer = make_user("viewer", is_staff=True)
    client.force_login(staff_viewer)
    initiative = initiative_at(Step.PROPOSED)
    page = client.get(transition_url(initiative))
    assert page.status_code == 200
    assert b"cir-allowed" not in page.content
    assert permissions.NEED_EDIT in page.content.decode()
    response = client.post(transition_url(initiative), {"to": "vision"})
    assert response.status_code == 403
    assert permissions.NEED_EDIT in response.content.decode()
    initiative.refresh_from_db()
    assert initiative.step == Step.PROPOSED
    assert not TransitionLog.objects.exists()


def test_non_csi_staff_with_admin_rights_cannot_accept(client, team_member, initiative_at):
    # given the initiative's accountable team member, with admin change rights
    team_member.is_staff = True
    team_member.save()
    team_member.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_initiative", "change_initiative"])
    )
    client.force_login(team_member)
    initiative = initiative_at(Step.PROPOSED)
    # then accepting is not offered, with the role that may; posting it is refused by the
    # service, naming the role
    page = client.get(transition_url(initiative))
    assert b"cir-allowed" not in page.content
    denial = "Only a CSI manager may accept, reject, cancel or close an initiative."
    assert f"Accept — {denial}" in page.content.decode()
    response = move(client, initiative, "vision")
    assert texts(response) == [denial]
    initiative.refresh_from_db()
    assert initiative.step == Step.PROPOSED
    assert not TransitionLog.objects.exists()


def test_non_staff_user_cannot_reach_the_admin(client, team_member, initiative_at):
    client.force_login(team_member)
    initiative = initiative_at(Step.PROPOSED)
    response = client.post(transition_url(initiative), {"to": "vision"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    initiative.refresh_from_db()
    assert initiative.step == Step.PROPOSED


def test_a_move_from_the_panel_costs_a_fixed_number_of_queries(
    csi_client, initiative_at, django_assert_num_queries
):
    # given an initiative ready to leave step 1, and the admin log's content type known
    initiative = initiative_at(Step.VISION)
    ContentType.objects.get_for_model(Initiative)
    data = {"to": "baseline", "from_step": "vision", "next": "change"}
    # when the move is posted from the workflow panel of the change form, then the admin
    # reads the session, the user, the initiative and the user's roles and writes its log
    # entry (5); the service locks, asks the guard once, moves, and writes the history,
    # the transition log and the event (19)
    with django_assert_num_queries(24):
        response = csi_client.post(transition_url(initiative), data)
    assert response["Location"] == change_url(initiative)
    initiative.refresh_from_db()
    assert initiative.step == Step.BASELINE


# --- the inputs a move requires -----------------------------------------------------------


def move_form(page, to: str) -> str:
    """The HTML of the panel's form for the move to `to`."""
    html = page.content.decode()
    start = html.index(f'data-to="{to}"')
    return html[start : html.index("</form>", start)]


def test_every_back_move_asks_for_a_reason(csi_client, initiative_at):
    initiative = initiative_at(Step.ACTION)
    page = csi_client.get(transition_url(initiative))
    for to in ("plan", "target"):
        form = move_form(page, to)
        assert f'<textarea name="reason" id="id_{to}_reason" rows="2" required>' in form


def test_a_back_move_without_a_reason_is_refused(csi_client, initiative_at, state_of):
    initiative = initiative_at(Step.ACTION)
    before = state_of(initiative)
    response = move(csi_client, initiative, "plan")
    assert "Say why it goes back (a reason is required)." in texts(response)
    assert state_of(initiative) == before
    # with one, it goes back and the reason is kept in the log
    move(csi_client, initiative, "plan", reason="The vendor changed the API.")
    initiative.refresh_from_db()
    assert initiative.step == Step.PLAN
    assert TransitionLog.objects.get(initiative=initiative).comment == "The vendor changed the API."


def test_hold_and_resume_from_the_panel(csi_client, initiative_at, state_of):
    initiative = initiative_at(Step.PLAN)
    resume_by = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    # the hold form asks for a reason and a resume-by date
    form = move_form(csi_client.get(transition_url(initiative)), "on_hold")
    assert '<textarea name="reason" id="id_on_hold_reason"' in form
    assert '<input type="date" name="resume_by" id="id_on_hold_resume_by" required>' in form
    # without the date it is refused
    before = state_of(initiative)
    response = move(csi_client, initiative, "on_hold", reason="Waiting for the contract.")
    assert "A resume-by date is required." in texts(response)
    assert state_of(initiative) == before
    # with both it is on hold, from the plan
    move(csi_client, initiative, "on_hold", reason="Waiting for the contract.", resume_by=resume_by)
    initiative.refresh_from_db()
    assert (initiative.step, initiative.held_from, initiative.hold_until.isoformat()) == (
        Step.ON_HOLD,
        Step.PLAN,
        resume_by,
    )
    page = csi_client.get(change_url(initiative))
    html = page.content.decode()
    assert "from <strong>4 · How do we get there?</strong>" in html
    assert f"to resume by <strong>{resume_by}</strong>: Waiting for the contract." in html
    # and resuming returns it to the step it left
    assert 'data-to="plan"' in html and "Resume" in html
    move(csi_client, initiative, "plan")
    initiative.refresh_from_db()
    assert (initiative.step, initiative.held_from) == (Step.PLAN, "")


def sustained_with_a_review(initiative_at, *entries):
    """An initiative at step 7 whose last review took `entries` (name, status, progress)."""
    initiative = initiative_at(Step.SUSTAIN)
    snapshot = [{"kpi": n.lower(), "name": n, "status": s, "progress": p} for n, s, p in entries]
    factories.ReviewFactory(
        initiative=initiative, iteration=1, decision="improved", kpi_snapshot=snapshot
    )
    return initiative


def test_the_close_form_proposes_the_outcome_the_kpis_support(csi_client, initiative_at):
    initiative = sustained_with_a_review(initiative_at, ("MTTR", "on_track", 0.78))
    page = csi_client.get(transition_url(initiative))
    assert page.context["workflow"]["proposed_outcome"] == Outcome.PARTIALLY_SUCCESSFUL
    form = move_form(page, "closed")
    assert '<option value="partially_successful" selected>' in form
    assert "The KPIs of the last review support: <strong>Partially successful</strong>" in form
    # with an optional justification for an outcome the data does not support
    assert '<textarea name="override" id="id_closed_override" rows="2">' in form
    # the proposed outcome closes it, with no override
    move(csi_client, initiative, "closed", outcome="partially_successful")
    initiative.refresh_from_db()
    assert (initiative.step, initiative.outcome, initiative.outcome_override) == (
        Step.CLOSED,
        Outcome.PARTIALLY_SUCCESSFUL,
        "",
    )


def test_closing_against_the_data_needs_an_override(csi_client, initiative_at, state_of):
    initiative = sustained_with_a_review(initiative_at, ("MTTR", "on_track", 0.78))
    before = state_of(initiative)
    response = move(csi_client, initiative, "closed", outcome="successful")
    shown = texts(response)
    assert "KPI 'MTTR' is on track, 78 % of the way, not achieved." in shown
    assert any("choose 'Partially successful'" in m for m in shown)
    assert state_of(initiative) == before
    # with a justification it closes, and the override is kept and shown
    move(
        csi_client,
        initiative,
        "closed",
        outcome="successful",
        override="The audit finding is closed; the KPI target was a stretch.",
    )
    initiative.refresh_from_db()
    assert (initiative.outcome, initiative.outcome_override) == (
        Outcome.SUCCESSFUL,
        "The audit finding is closed; the KPI target was a stretch.",
    )
    page = csi_client.get(change_url(initiative))
    assert "(override: The audit finding is closed" in page.content.decode()
