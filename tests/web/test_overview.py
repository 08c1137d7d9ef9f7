"""The portfolio and the goals pages, with query counts that stay flat as they grow."""

import datetime as dt

import pytest
from django.utils import timezone

from improvement.choices import Step
from improvement.models import KPI, Goal, Initiative

from .. import factories
from ..conftest import force_step
from .conftest import url

pytestmark = pytest.mark.django_db


# --- portfolio and goals ----------------------------------------------------------------------


def test_portfolio_shows_attention_items(client_for, csi, initiative_at, team_member):
    initiative = initiative_at(Step.ACTION)
    KPI.objects.filter(initiative=initiative).update(status="regressed")
    factories.ActionFactory(
        initiative=initiative,
        title="Late task",
        owner=team_member,
        due_date=timezone.localdate() - dt.timedelta(days=5),
    )
    html = client_for(csi).get(url("portfolio")).content.decode()
    assert "Regressed" in html and initiative.reference in html
    assert "Late task" in html and "5 days late" in html
    assert "Value versus effort" in html and "Quick wins" in html


@pytest.mark.parametrize("rows", [5, 30])
def test_portfolio_query_count_is_flat(
    client_for, csi, initiative_at, rows, django_assert_num_queries
):
    goal = factories.GoalFactory()
    for _ in range(rows):
        i = initiative_at(Step.ACTION, complete=False)
        i.goals.add(goal)
        factories.KPIFactory(initiative=i, status="at_risk")
        factories.ActionFactory(initiative=i, due_date=dt.date(2020, 1, 1))
    client = client_for(csi)
    client.get(url("portfolio"))
    with django_assert_num_queries(11):
        assert client.get(url("portfolio")).status_code == 200


def test_goals_page_lists_goals_with_initiatives_and_health(client_for, viewer, initiative_at):
    goal = factories.GoalFactory(title="Delight customers")
    initiative = initiative_at(Step.PLAN, complete=False)
    initiative.goals.add(goal)
    Initiative.objects.filter(pk=initiative.pk).update(health="at_risk")
    html = client_for(viewer).get(url("goals")).content.decode()
    assert "Delight customers" in html and initiative.reference in html
    assert "At risk" in html


@pytest.mark.parametrize("rows", [5, 30])
def test_goals_query_count_is_flat(client_for, viewer, rows, django_assert_num_queries):
    for g in range(3):
        goal = factories.GoalFactory()
        for _ in range(rows):
            factories.InitiativeFactory().goals.add(goal)
    client = client_for(viewer)
    client.get(url("goals"))
    with django_assert_num_queries(5):
        assert client.get(url("goals")).status_code == 200


def test_csi_manager_adds_a_goal(client_for, csi):
    response = client_for(csi).post(url("goals"), {"title": "Change safely"})
    assert response.status_code == 302
    assert Goal.objects.filter(title="Change safely").exists()


def test_team_member_cannot_add_a_goal(client_for, team_member):
    assert client_for(team_member).post(url("goals"), {"title": "x"}).status_code == 403
    assert not Goal.objects.exists()


@pytest.mark.parametrize(
    ("step", "listed"),
    [(Step.ACTION, True), (Step.CLOSED, True), (Step.REJECTED, False), (Step.CANCELLED, False)],
)
def test_portfolio_watches_the_kpis_still_checked(client_for, csi, initiative_at, step, listed):
    initiative = force_step(initiative_at(Step.SUSTAIN), step)
    KPI.objects.filter(initiative=initiative).update(status="regressed", name="Watched KPI")
    html = client_for(csi).get(url("portfolio")).content.decode()
    assert ("Watched KPI" in html) == listed
