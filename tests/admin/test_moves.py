"""The workflow panel and the transition page (improvement/admin/moves.py): the moves
shown with their reasons, made through the workflow service, and who may make them.
"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from improvement.choices import Step
from improvement.models import Initiative, TransitionLog

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
    assert {m["t"].to for m in workflow["moves"]} == {"vision", "rejected", "cancelled"}


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


def test_a_stale_button_is_a_conflict_and_changes_nothing(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    page = csi_client.get(transition_url(initiative))
    assert page.status_code == 200
    # given someone else accepts it meanwhile
    move(csi_client, initiative, "vision")
    # when the old page's "Reject" is pressed
    response = csi_client.post(
        transition_url(initiative), {"to": "rejected", "from_step": "proposed", "reason": "x"}
    )
    assert any("moved by someone else" in m for m in texts(response))
    initiative.refresh_from_db()
    assert initiative.step == Step.VISION
    assert TransitionLog.objects.filter(initiative=initiative).count() == 1


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
    response = client.post(transition_url(initiative), {"to": "vision"})
    assert response.status_code == 403
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
    # then accepting is not offered, and posting it is refused by the service
    page = client.get(transition_url(initiative))
    assert b"cir-allowed" not in page.content
    assert "you do not have permission to make them" in page.content.decode()
    response = move(client, initiative, "vision")
    assert "You do not have permission to make this move." in texts(response)
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
