"""Reviews follow the data: a decision the KPIs do not support is refused with each KPI in
words and the input kept, or recorded as an override with its justification, shown as one
wherever the decision appears. Each iteration does its own work; earlier ones are history."""

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import ActionStatus, KPIStatus, Step
from improvement.models import Initiative, Review

from .. import factories
from .conftest import HTMX, page, text, url

pytestmark = pytest.mark.django_db

REVIEW = {"decision": "achieved", "progress_check": "Down to 9.2 h.", "value_check": "Yes"}


@pytest.fixture
def reviewing(initiative_at):
    """An initiative in step 6 whose one KPI is on track, not achieved."""
    initiative = initiative_at(Step.REVIEW)
    initiative.kpis.update(name="MTTR", status=KPIStatus.ON_TRACK)
    return initiative


def test_a_decision_against_the_data_is_refused_with_each_kpi(client_for, team_member, reviewing):
    response = client_for(team_member).post(
        url("review-create", reviewing.reference), REVIEW, **HTMX
    )
    assert response.status_code == 422
    html = text(response)
    errors = html.split('id="id_review_decision_error"')[1].split("</ul>")[0]
    assert "KPI 'MTTR' is on track, not achieved." in errors
    assert "give a justification for an override below" in errors
    assert "decision_override" not in errors  # the API's field name is not the page's words
    # the input is kept, the field group points at its error, and nothing is saved
    assert 'value="achieved" required aria-invalid="true" id="id_review_decision_0" checked' in html
    assert "Down to 9.2 h.</textarea>" in html
    assert 'aria-describedby="id_review_decision_error"' in html
    assert not Review.objects.filter(initiative=reviewing).exists()


def test_a_justified_override_is_recorded_and_shown_as_one(client_for, team_member, reviewing):
    client = client_for(team_member)
    why = "The last incidents were all caused by the supplier, whose fix is due."
    response = client.post(
        url("review-create", reviewing.reference), REVIEW | {"decision_override": why}
    )
    assert response.status_code == 302
    review = Review.objects.get(initiative=reviewing)
    assert (review.decision, review.decision_override) == ("achieved", why)
    html = text(client.get(page(reviewing)))
    section = html.split('id="review-1"')[1].split("</article>")[0]
    assert '<span class="tag tag--override">override</span>' in section
    assert f"Justification: {why}" in section
    assert "(an override): the matching move" in html  # the hint under the reviews


def test_a_decision_that_agrees_with_the_data_is_no_override(client_for, team_member, reviewing):
    client = client_for(team_member)
    data = REVIEW | {"decision": "iterate", "decision_override": "Not needed"}
    assert client.post(url("review-create", reviewing.reference), data).status_code == 302
    assert Review.objects.get(initiative=reviewing).decision_override == ""
    assert "tag--override" not in text(client.get(page(reviewing)))


def test_the_review_section_asks_the_workflow_not_the_step(client_for, viewer, initiative_at):
    html = text(client_for(viewer).get(page(initiative_at(Step.REVIEW))))
    assert "No review of iteration 1 yet." in html
    html = text(client_for(viewer).get(page(initiative_at(Step.PLAN))))
    assert "Reviews are written in step 6, one per iteration." in html


def test_earlier_iterations_are_history(client_for, team_member, reviewing):
    # given iteration 1 reviewed "iterate" with an override-free decision, then sent back
    client = client_for(team_member)
    client.post(url("review-create", reviewing.reference), REVIEW | {"decision": "iterate"})
    reason = "Swarming helped; try automation next."
    response = client.post(
        url("initiative-move", reviewing.reference),
        {"to": "plan", "from": "review", "reason": reason},
    )
    assert response.status_code == 302
    initiative = Initiative.objects.get(pk=reviewing.pk)
    assert (initiative.step, initiative.iteration) == (Step.PLAN, 2)
    factories.ActionFactory(initiative=initiative, title="Automate the restart", iteration=2)
    # then the page shows iteration 1 as history, with its review, actions and the way back
    html = text(client.get(page(initiative)))
    history = html.split('id="iterations"')[1].split("</section>")[0]
    assert "Iteration 1" in history and "reviewed" in history
    assert "Iterate: plan the next round" in history
    first = initiative.actions.get(iteration=1)
    assert first.title in history and ActionStatus(first.status).label in history
    assert f"“{reason}”" in history
    # step 5 holds this iteration's actions; the earlier ones are listed apart
    actions = html.split('id="step-action"')[1].split("</section>")[0]
    assert "1 action in iteration 2" in actions
    current = actions.split('class="earlier-actions"')[0]
    assert "Automate the restart" in current and first.title not in current
    assert "Actions of earlier iterations (1)" in actions
    # the stepper: step 4 current in iteration 2, steps 5–7 to do again
    stepper = html.split('class="stepper"')[1].split("</nav>")[0]
    assert stepper.count('class="is-done"') == 3
    assert "current · iteration 2" in stepper


def test_an_override_shows_in_the_iteration_history(client_for, team_member, reviewing):
    services.review_create(
        initiative=reviewing, actor=team_member, decision="revisit_target",
        decision_override="",
    )  # fmt: skip
    services.initiative_transition(
        initiative=reviewing, to=Step.TARGET, actor=team_member, reason="Target too soft"
    )
    initiative = Initiative.objects.get(pk=reviewing.pk)
    Review.objects.filter(initiative=initiative).update(
        decision="achieved", decision_override="The board accepted it."
    )
    html = text(client_for(team_member).get(page(initiative)))
    history = html.split('id="iterations"')[1].split("</section>")[0]
    assert '<span class="tag tag--override">override</span>' in history
    assert "Override justification:</span> The board accepted it." in history


def test_the_hint_of_the_decided_move_shows_in_step_6_only(client_for, csi, reviewing):
    services.review_create(
        initiative=reviewing, actor=csi, decision="achieved", decision_override="Board's call"
    )
    client = client_for(csi)
    assert "the matching move, “Move to 7" in text(client.get(page(reviewing)))
    held = services.initiative_transition(initiative=reviewing, to=Step.SUSTAIN, actor=csi)
    services.initiative_transition(
        initiative=held,
        to=Step.ON_HOLD,
        actor=csi,
        reason="Audit",
        resume_by=timezone.localdate(),
    )
    # on hold from step 7, "Resume" leads to step 7 too, but it is not the review's move
    assert "the matching move" not in text(client.get(page(reviewing)))
