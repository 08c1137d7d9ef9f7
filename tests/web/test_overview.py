"""The portfolio and the goals pages, with query counts that stay flat as they grow."""

import datetime as dt
import html as htmllib
import re

import pytest
from django.utils import timezone

from improvement.choices import OPEN_STEPS, Step
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
    # 17 (running counts, top-N lists), 5 for the PDCA counts and the benefit sums
    # (tests/web/test_reports.py), 1 for the header's unread notifications
    with django_assert_num_queries(23):
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
    with django_assert_num_queries(8):  # with the header's unread notifications
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


# --- every count opens the list it counts ---------------------------------------------------


@pytest.fixture
def mixed_register(initiative_at, team_member):
    """Open, closed, cancelled and rejected initiatives across goals and healths, some with
    an achieved KPI, one open initiative without a goal: what made counts and lists differ."""
    serve, other = factories.GoalFactory(title="Serve"), factories.GoalFactory(title="Other")
    plan = [
        (Step.PLAN, "on_track", [serve]),
        (Step.ACTION, "at_risk", [serve, other]),
        (Step.VISION, "none", []),
        (Step.CLOSED, "on_track", [serve]),
        (Step.CLOSED, "achieved", [serve]),
        (Step.CANCELLED, "on_track", [other]),
        (Step.REJECTED, "none", [serve]),
        (Step.SUSTAIN, "achieved", [other]),
        (Step.ON_HOLD, "regressed", [serve]),
    ]
    for step, health, goals in plan:
        i = force_step(factories.InitiativeFactory(), step, health=health)
        i.goals.add(*goals)
        if health in ("achieved", "regressed"):
            factories.KPIFactory(initiative=i, status=health)
        if step == Step.PLAN:
            factories.ActionFactory(initiative=i, due_date=dt.date(2020, 1, 1))
    Goal.objects.create(title="Retired", active=False)
    return plan


def count_links(html: str) -> list[tuple[str, int]]:
    """Every link of a page that shows a count: (href, count)."""
    found = re.findall(r'<a [^>]*href="([^"]*)"[^>]*data-count="(\d+)"', html)
    return [(htmllib.unescape(href), int(n)) for href, n in found]


def rows_of(client, base: str, href: str, html: str) -> int:
    if href.startswith("#"):  # a list on the same page
        section = html[html.index(f'id="{href[1:]}"') :]
        section = section[: section.index("</section>")]
        body = section[section.index("<tbody>") :] if "<tbody>" in section else ""
        return body.count("<tr>")
    response = client.get(href if href.startswith("/") else base + href)
    return response.context["page"].paginator.count


@pytest.mark.parametrize("name", ["portfolio", "goals"])
def test_every_count_opens_a_list_of_that_many(client_for, csi, mixed_register, name):
    client = client_for(csi)
    html = client.get(url(name)).content.decode()
    links = count_links(html)
    assert len(links) >= (16 if name == "portfolio" else 8)
    for href, count in links:
        assert rows_of(client, url(name), href, html) == count, (href, count)


def test_portfolio_counts_open_initiatives_and_links_the_register(client_for, csi, mixed_register):
    html = client_for(csi).get(url("portfolio")).content.decode()
    opened = sum(1 for step, _, _ in mixed_register if step in OPEN_STEPS)
    assert (url("register"), opened) in count_links(html)
