"""Step records are saved from the version the page showed: an edit of a record changed
since is refused, says who changed which fields when, shows the record as it is now beside
what was typed, and saves nothing."""

import pytest

from improvement import services
from improvement.choices import Step
from improvement.models import Plan

from .conftest import HTMX, after_redirect, page, text, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def planning(initiative_at):
    return initiative_at(Step.PLAN)


def version_on_the_page(html: str, record: str) -> str:
    field = html.split(f'id="id_{record}_version"')[0].rsplit("<input", 1)[1]
    return field.split('value="')[1].split('"')[0]


def test_the_record_form_carries_the_version_it_shows(client_for, team_member, planning):
    html = text(client_for(team_member).get(page(planning)))
    assert version_on_the_page(html, "plan") == services.record_version(planning.plan)
    assert 'type="hidden" name="version"' in html


def test_a_stale_edit_is_refused_and_saves_nothing(
    client_for, team_member, make_user, planning, state_of
):
    # given the owner opened the page, and a colleague then changed the plan's approach
    client = client_for(team_member)
    seen = version_on_the_page(text(client.get(page(planning))), "plan")
    colleague = make_user("team", username="raj", first_name="Raj", last_name="Patel")
    planning.responsible.add(colleague)
    services.step_record_update(
        initiative=planning, record="plan", actor=colleague, approach="Automate first"
    )
    before = state_of(planning)
    # when the owner saves their edit made from the old page
    data = {"version": seen, "approach": "Swarm first", "risks": "Summer leave"}
    response = client.post(url("record-update", planning.reference, "plan"), data, **HTMX)
    # then it is refused and nothing is saved, not even the field nobody else changed
    assert response.status_code == 409
    assert state_of(planning) == before
    assert Plan.objects.get(initiative=planning).risks == ""
    html = text(response)
    assert html.lstrip().startswith('<section id="step-plan"')
    alert = html.split('id="conflict-plan"')[1].split("Below is the plan")[0]
    assert "changed by raj at" in alert and "(approach" in alert
    # the colleague's plan is shown with its new version, and what the owner typed beside it
    assert "Automate first</textarea>" in html
    assert version_on_the_page(html, "plan") == services.record_version(
        Plan.objects.get(initiative=planning)
    )
    unsaved = alert.split("What you typed (not saved)")[1]
    assert "Swarm first" in unsaved and "Summer leave" in unsaved


def test_a_stale_edit_without_htmx_shows_the_page_with_the_section_open(
    client_for, team_member, planning
):
    client = client_for(team_member)
    seen = services.record_version(planning.plan)
    services.step_record_update(
        initiative=planning, record="plan", actor=team_member, approach="Changed in a tab"
    )
    response = client.post(
        url("record-update", planning.reference, "plan"), {"version": seen, "approach": "Mine"}
    )
    assert response["Location"] == page(planning) + "#step-plan"
    html = text(after_redirect(client, response))
    assert "<html" in html and 'id="conflict-plan"' in html and "Mine" in html
    assert Plan.objects.get(initiative=planning).approach == "Changed in a tab"


def test_an_edit_from_the_current_version_saves(client_for, team_member, planning):
    client = client_for(team_member)
    seen = version_on_the_page(text(client.get(page(planning))), "plan")
    response = client.post(
        url("record-update", planning.reference, "plan"), {"version": seen, "approach": "Mine"}
    )
    assert response.status_code == 302
    assert Plan.objects.get(initiative=planning).approach == "Mine"


def test_the_first_save_of_a_record_nobody_wrote_yet(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    response = client_for(team_member).post(
        url("record-update", initiative.reference, "baseline"),
        {"version": "", "assessment": "Nine hours on average"},
    )
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert initiative.baseline.assessment == "Nine hours on average"
