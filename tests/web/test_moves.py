"""The moves of the initiative page: a reason for every move back, the step the page showed
carried by every move form (a stale page's move is refused and changes nothing), on hold
and resume, closing with the outcome the data supports, and who may (403 wording)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import KPIStatus, Outcome, Step
from improvement.models import Initiative, TransitionLog

from .. import factories
from ..conftest import force_step
from .conftest import HTMX, page, text, url

pytestmark = pytest.mark.django_db

CANCEL = {"to": "cancelled", "reason": "No budget this year", "lessons_learned": "Ask earlier."}


def snapshot_entry(name: str, status: str, progress: float | None) -> dict:
    """A KPI as a review's snapshot keeps it (selectors.kpi_snapshot)."""
    return {"kpi": name.lower(), "name": name, "unit": "h", "direction": "decrease",
            "baseline_value": 10.0, "target_value": 8.0, "current": 10 - 2 * (progress or 0),
            "progress": progress, "status": status}  # fmt: skip


def move(client, initiative, data, **extra):
    return client.post(url("initiative-move", initiative.reference), data, **extra)


def field_error(html: str, field_id: str) -> str:
    """The error message shown for the field `field_id`, checking that the field points at it."""
    assert re.search(rf'id="{field_id}"[^>]*aria-describedby="[^"]*{field_id}_error', html) or (
        re.search(rf'aria-describedby="[^"]*{field_id}_error[^"]*"[^>]*id="{field_id}"', html)
    ), f"{field_id} is not described by its error"
    found = re.search(rf'id="{field_id}_error"[^>]*>(.*?)</ul>', html, re.S)
    assert found, f"no error list for {field_id}"
    return found.group(1)


# --- a reason for every move back ------------------------------------------------------------


def test_every_move_back_asks_for_a_reason_in_its_form(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    html = client_for(team_member).get(page(initiative)).content.decode()
    for to in ("plan", "target"):
        form = html.split(f'id="move-{to}"')[1].split("</details>")[0]
        assert f'<label for="id_move_{to}_reason">Reason' in form
        assert 'name="reason"' in form and "required" in form
        assert f'name="from" value="{Step.ACTION}"' in form
        assert 'name="comment"' not in form  # the reason is what the log keeps


def test_a_move_back_without_a_reason_is_refused_on_its_field(
    client_for, team_member, initiative_at, state_of
):
    initiative = initiative_at(Step.ACTION)
    before = state_of(initiative)
    response = move(client_for(team_member), initiative, {"to": "plan", "from": "action"}, **HTMX)
    assert response.status_code == 409
    html = text(response)
    assert "Say why it goes back (a reason is required)." in field_error(
        html, "id_move_plan_reason"
    )
    assert 'id="move-plan" open' in html
    assert state_of(initiative) == before


def test_a_move_back_keeps_its_reason_in_the_log(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    client = client_for(team_member)
    reason = "The supplier cannot deliver the runbook tool."
    response = move(client, initiative, {"to": "plan", "from": "action", "reason": reason})
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert initiative.step == Step.PLAN
    assert TransitionLog.objects.get(initiative=initiative).comment == reason
    log = client.get(page(initiative)).content.decode().split('id="log"')[1]
    assert f"“{reason}”" in log.split("</section>")[0]


# --- a stale page's move changes nothing -------------------------------------------------------


@pytest.fixture
def moved_on(initiative_at, team_member):
    """An initiative shown in step 5 on a CSI manager's page, then moved to step 6 by its
    owner: the page is stale."""
    initiative = initiative_at(Step.ACTION)
    services.initiative_transition(initiative=initiative, to=Step.REVIEW, actor=team_member)
    return Initiative.objects.get(pk=initiative.pk)


def test_a_stale_pages_cancel_does_not_cancel(client_for, csi, moved_on, state_of):
    before = state_of(moved_on)
    # the CSI manager confirms "Cancel" from the page that still shows step 5
    response = move(client_for(csi), moved_on, CANCEL | {"from": "action"}, **HTMX)
    assert response.status_code == 409
    assert state_of(moved_on) == before
    # the answer is the initiative as it is now, saying what changed
    html = text(response)
    assert html.lstrip().startswith('<div id="initiative"')
    alert = html.split('role="alert">')[1].split("</p>")[0]
    assert "moved by tina" in alert and "it is now in '6 · Did we get there?'" in alert
    assert f'name="from" value="{Step.REVIEW}"' in html  # its forms show the step now


def test_a_stale_move_without_htmx_goes_back_to_the_page_with_the_message(
    client_for, csi, moved_on, state_of
):
    before = state_of(moved_on)
    client = client_for(csi)
    response = move(client, moved_on, CANCEL | {"from": "action"})
    assert response.status_code == 302
    assert response["Location"] == page(moved_on) + "#moves"
    assert state_of(moved_on) == before
    html = text(client.get(response["Location"]))
    assert "message--error" in html and "it is now in '6 · Did we get there?'" in html


def test_a_move_no_longer_offered_from_a_stale_page_is_a_conflict(
    client_for, team_member, moved_on, state_of
):
    # "Back to the target" was offered in step 5; from step 6 there is no such move
    before = state_of(moved_on)
    response = move(
        client_for(team_member),
        moved_on,
        {"to": "target", "from": "action", "reason": "Wrong target"},
        **HTMX,
    )
    assert response.status_code == 409
    assert "it is now in '6 · Did we get there?'" in text(response)
    assert state_of(moved_on) == before


def test_a_move_from_the_page_as_it_is_goes_through(client_for, csi, moved_on):
    response = move(client_for(csi), moved_on, CANCEL | {"from": "review"})
    assert response.status_code == 302
    moved_on.refresh_from_db()
    assert moved_on.step == Step.CANCELLED


# --- on hold and resume ------------------------------------------------------------------------


def test_put_on_hold_then_resume(client_for, team_member, initiative_at):
    # given an initiative in step 4
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    html = client.get(page(initiative)).content.decode()
    form = html.split('id="move-on_hold"')[1].split("</details>")[0]
    today = timezone.localdate()
    assert 'type="date" name="resume_by"' in form and f'min="{today.isoformat()}"' in form
    assert 'name="reason"' in form
    # when its owner puts it on hold with a reason and a resume-by date
    resume_by = today + dt.timedelta(days=14)
    response = move(
        client,
        initiative,
        {
            "to": "on_hold",
            "from": "plan",
            "reason": "Waiting for the new contract",
            "resume_by": resume_by.isoformat(),
        },
    )
    assert response.status_code == 302
    # then the page says so: from which step, why, until when; the stepper keeps step 4
    html = client.get(page(initiative)).content.decode()
    banner = html.split('id="hold-banner"')[1].split("</div>")[0]
    assert "from 4 · How do we get there?" in banner
    assert "Reason: Waiting for the new contract" in banner
    assert f'Resume by <time datetime="{resume_by.isoformat()}' in banner
    assert "0 days on hold" in banner and "overdue" not in banner
    stepper = html.split('class="stepper"')[1].split("</nav>")[0]
    assert 'class="is-current" aria-current="step"' in stepper and "on hold" in stepper
    assert 'name="to" value="plan"' in html  # Resume is offered, back to step 4
    # when it resumes, it is back in step 4 and the banner is gone
    response = move(client, initiative, {"to": "plan", "from": "on_hold"})
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert initiative.step == Step.PLAN
    assert 'id="hold-banner"' not in client.get(page(initiative)).content.decode()


def test_hold_needs_a_resume_by_date_not_in_the_past(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    data = {"to": "on_hold", "from": "plan", "reason": "Waiting"}
    response = move(client, initiative, data, **HTMX)
    assert response.status_code == 409
    html = text(response)
    assert "A resume-by date is required." in field_error(html, "id_move_on_hold_resume_by")
    assert "Waiting</textarea>" in html  # what was typed is kept
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = move(client, initiative, data | {"resume_by": yesterday.isoformat()}, **HTMX)
    assert response.status_code == 422
    html = text(response)
    assert "Give today or a later date." in field_error(html, "id_move_on_hold_resume_by")
    initiative.refresh_from_db()
    assert initiative.step == Step.PLAN


def test_an_overdue_hold_is_shown_in_red_and_age_leaves_out_the_hold(
    client_for, viewer, initiative_at
):
    initiative = initiative_at(Step.PLAN)
    now = timezone.now()
    Initiative.objects.filter(pk=initiative.pk).update(created_at=now - dt.timedelta(days=30))
    force_step(
        initiative,
        Step.ON_HOLD,
        held_from=Step.PLAN,
        hold_reason="Supplier",
        held_since=now - dt.timedelta(days=10),
        hold_until=timezone.localdate() - dt.timedelta(days=3),
        hold_days=5,
    )
    html = client_for(viewer).get(page(initiative)).content.decode()
    banner = html.split('id="hold-banner"')[1].split("</div>")[0]
    assert "15 days on hold" in banner
    assert 'class="tag tag--danger" id="hold-overdue">overdue 3 days' in banner
    age = html.split('id="age">')[1].split("</dd>")[0]
    assert age.startswith("15 days") and "+ 15 on hold" in age


# --- closing: the outcome the data supports ------------------------------------------------------


@pytest.fixture
def sustaining(initiative_at, team_member):
    """An initiative in step 7 whose review saw one KPI on track, none achieved."""
    initiative = initiative_at(Step.SUSTAIN)
    snapshot = [snapshot_entry("MTTR", KPIStatus.ON_TRACK, 0.6)]
    factories.ReviewFactory(
        initiative=initiative, decision="improved", kpi_snapshot=snapshot, reviewed_by=team_member
    )
    return initiative


def test_close_proposes_the_outcome_the_data_supports(client_for, csi, sustaining):
    html = client_for(csi).get(page(sustaining)).content.decode()
    form = html.split('id="move-closed"')[1].split("</details>")[0]
    assert '<option value="partially_successful" selected>' in form
    assert "The KPIs of the last review support “Partially successful”." in form
    assert '<label for="id_move_closed_override">Override justification</label>' in form


def test_an_outcome_against_the_data_needs_a_justification(client_for, csi, sustaining):
    client = client_for(csi)
    data = {"to": "closed", "from": "sustain", "outcome": Outcome.SUCCESSFUL}
    response = move(client, sustaining, data, **HTMX)
    assert response.status_code == 409
    html = text(response)
    errors = field_error(html, "id_move_closed_outcome")
    assert "KPI 'MTTR' is on track, 60 % of the way, not achieved." in errors
    assert '<option value="successful" selected>' in html  # the choice is kept
    sustaining.refresh_from_db()
    assert sustaining.step == Step.SUSTAIN
    # with a justification it closes, and the banner shows the override
    why = "The survey shows the users count it a success."
    response = move(client, sustaining, data | {"override": why})
    assert response.status_code == 302
    sustaining.refresh_from_db()
    assert (sustaining.step, sustaining.outcome_override) == (Step.CLOSED, why)
    html = client.get(page(sustaining)).content.decode()
    banner = html.split('<p class="banner banner--done">')[1].split("</p>")[0]
    assert "<strong>Successful</strong>" in banner and "override" in banner and why in banner


def test_a_closing_that_agrees_with_the_data_shows_no_override(client_for, csi, sustaining):
    client = client_for(csi)
    data = {"to": "closed", "from": "sustain", "outcome": Outcome.PARTIALLY_SUCCESSFUL}
    assert move(client, sustaining, data).status_code == 302
    html = client.get(page(sustaining)).content.decode()
    assert "Partially successful" in html and "tag--override" not in html


# --- health of an ended initiative ---------------------------------------------------------------


@pytest.mark.parametrize("to", [Step.CANCELLED, Step.REJECTED])
def test_an_initiative_ended_unfinished_shows_no_live_health(client_for, csi, initiative_at, to):
    initiative = force_step(initiative_at(Step.PLAN), to, health="none")
    html = client_for(csi).get(page(initiative)).content.decode()
    health = html.split("<dt>Health</dt>")[1].split("</dd>")[0]
    assert "Not checked since it ended" in health and "badge--status" not in health
    assert 'id="kpis-not-checked"' in html


def test_a_closed_initiative_shows_its_watched_kpis_health(client_for, csi, initiative_at):
    initiative = force_step(initiative_at(Step.SUSTAIN), Step.CLOSED, health="reverted")
    html = client_for(csi).get(page(initiative)).content.decode()
    health = html.split("<dt>Health</dt>")[1].split("</dd>")[0]
    assert 'data-status="reverted"' in health
    assert 'id="kpis-not-checked"' not in html


# --- who may: every 403 names the role or RACI position ------------------------------------------


NEED_CSI_MOVE = "Only a CSI manager may accept, reject, cancel or close an initiative."
NEED_EDITORS = "its accountable owner (A) or a responsible person (R)"


@pytest.mark.parametrize(
    ("who", "step", "data", "words"),
    [
        ("viewer", Step.VISION, {"to": "baseline"}, NEED_EDITORS),
        ("team", Step.PROPOSED, {"to": "vision"}, NEED_CSI_MOVE),
        ("team", Step.ACTION, CANCEL, NEED_CSI_MOVE),
        ("other_team", Step.ACTION, {"to": "review"}, NEED_EDITORS),
    ],
)
def test_a_refused_move_names_who_may(
    client_for, make_user, team_member, initiative_at, who, step, data, words
):
    user = {
        "viewer": lambda: make_user("viewer"),
        "team": lambda: team_member,
        "other_team": lambda: make_user("team"),
    }[who]()
    initiative = initiative_at(step)
    response = move(client_for(user), initiative, data | {"from": step})
    assert response.status_code == 403
    reason = text(response).split('id="forbidden-reason"')[1].split("</p>")[0]
    assert words in reason


def test_a_move_that_does_not_exist_says_what_can_be_done(client_for, csi, initiative_at):
    # a CSI manager may make every move: a skipped step is refused with the moves from here,
    # not a 403 telling them to ask a CSI manager
    initiative = initiative_at(Step.VISION)
    client = client_for(csi)
    response = move(client, initiative, {"to": "target", "from": "vision"}, **HTMX)
    assert response.status_code == 409
    alert = text(response).split('role="alert">')[1].split("</p>")[0]
    assert "That move is not possible from “1 · What is the vision?”" in alert
    assert "The moves from here are: Move to 2 · Where are we now?" in alert
    assert "ask a CSI manager" not in text(response).lower()
    response = move(client, initiative, {"to": "closed", "from": "vision"})
    assert response["Location"] == page(initiative) + "#moves"
    assert "That move is not possible from" in text(client.get(response["Location"]))
    initiative.refresh_from_db()
    assert initiative.step == Step.VISION


def test_a_proposal_tells_its_proposer_it_awaits_triage(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    html = text(client_for(team_member).get(page(initiative)))
    note = html.split('id="moves-note">')[1].split("</p>")[0]
    assert "awaits triage: a CSI manager accepts it" in note
    assert "No move is open to you" not in html


def test_a_blocked_moves_reasons_link_to_where_they_are_fixed(
    client_for, team_member, initiative_at
):
    # given a plan without actions: the action section is open on the form to add one
    initiative = initiative_at(Step.PLAN, complete=False)
    factories.PlanFactory(initiative=initiative)
    html = text(client_for(team_member).get(page(initiative)))
    blocked = html.split('id="blocked-action"')[1].split("</div>")[0]
    assert '<a href="#add-action">No action is planned.</a>' in blocked
    assert re.search(r'<section id="step-action"[^>]*>\s*<details open>', html)
    assert '<details class="add-form" id="add-action" open>' in html
    # and a skip link leads to the moves, which take the focus
    assert '<a class="skip-link skip-link--moves" href="#moves">' in html
    assert 'id="moves" class="card moves" tabindex="-1"' in html
