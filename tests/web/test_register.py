"""The register (filters, search, sorting, paging, htmx results), its CSV export, and
proposing an idea; the register's query count stays flat as it grows."""

import csv
import datetime as dt
import io
import re

import pytest

from improvement.choices import OPEN_STEPS, Step
from improvement.models import Initiative

from .. import factories
from ..conftest import force_step
from .conftest import HTMX, page, text, url

pytestmark = pytest.mark.django_db


# --- the register ------------------------------------------------------------------------


def test_register_lists_initiatives_with_their_columns(client_for, viewer, team_member):
    initiative = factories.InitiativeFactory(title="Quicker restores", accountable=team_member)
    html = client_for(viewer).get(url("register")).content.decode()
    assert initiative.reference in html
    assert "Quicker restores" in html
    assert "Proposed" in html  # step, in words
    assert 'data-status="none"' in html and "No KPIs" in html  # health: colour and text
    assert "P2" in html
    assert team_member.get_full_name() in html


def test_register_filters_by_step_and_searches(client_for, viewer):
    a = factories.InitiativeFactory(title="Swarming on incidents")
    b = factories.InitiativeFactory(title="Mailbox automation")
    force_step(b, Step.PLAN)
    client = client_for(viewer)
    html = client.get(url("register"), {"step": "plan"}).content.decode()
    assert b.reference in html and a.reference not in html
    html = client.get(url("register"), {"search": "swarm"}).content.decode()
    assert a.reference in html and b.reference not in html


def test_register_filters_by_owner_goal_service_health_source_priority(
    client_for, viewer, team_member
):
    goal = factories.GoalFactory(title="Restore faster")
    service = factories.ServiceFactory(name="Payroll")
    match = factories.InitiativeFactory(accountable=team_member, service=service, source="audit")
    match.goals.add(goal)
    other = factories.InitiativeFactory()
    client = client_for(viewer)
    for params in (
        {"accountable": "tina"},
        {"goal": goal.pk},
        {"service": "Payroll"},
        {"source": "audit"},
        {"health": "none", "accountable": "tina"},
        {"priority": match.priority, "accountable": "tina"},
    ):
        html = client.get(url("register"), params).content.decode()
        assert match.reference in html, params
        assert other.reference not in html, params


def test_register_sorts_by_column(client_for, viewer):
    low = factories.InitiativeFactory(title="Low", value=1, urgency=1, effort=5)
    high = factories.InitiativeFactory(title="High", value=5, urgency=5, effort=1)
    client = client_for(viewer)
    html = client.get(url("register")).content.decode()
    assert html.index(high.reference) < html.index(low.reference)  # score, highest first
    html = client.get(url("register"), {"ordering": "score"}).content.decode()
    assert html.index(low.reference) < html.index(high.reference)
    assert 'aria-sort="ascending"' in html


def test_register_pages(client_for, viewer):
    factories.InitiativeFactory.create_batch(30)
    client = client_for(viewer)
    first = client.get(url("register")).context["page"]
    assert len(first.object_list) == 25 and first.paginator.count == 30
    second = client.get(url("register"), {"page": 2}).context["page"]
    assert len(second.object_list) == 5
    assert not {i.pk for i in first.object_list} & {i.pk for i in second.object_list}


def test_register_htmx_answers_with_the_results_only(client_for, viewer, proposed):
    response = client_for(viewer).get(
        url("register"), {"search": "payroll"}, HTTP_HX_TARGET="register-results", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="register-results"')
    assert "<html" not in html
    assert proposed.reference in html


@pytest.mark.parametrize("rows", [5, 30])
def test_register_query_count_is_flat(
    client_for, viewer, team_member, django_assert_num_queries, rows
):
    goal = factories.GoalFactory()
    service = factories.ServiceFactory()
    for _ in range(rows):
        i = factories.InitiativeFactory(accountable=team_member, service=service)
        i.goals.add(goal)
    client = client_for(viewer)
    client.get(url("register"))  # warm the session
    # session, user, roles, count, page, goals, filter options (services, goals, owners),
    # the header's unread notifications
    with django_assert_num_queries(10):
        response = client.get(url("register"), {"per_page": 50})
    assert response.status_code == 200


# --- CSV export ---------------------------------------------------------------------------


def test_export_is_the_filtered_register_as_csv(client_for, viewer, team_member):
    goal = factories.GoalFactory(title="Delight customers")
    wanted = factories.InitiativeFactory(title="Password reset", accountable=team_member)
    wanted.goals.add(goal)
    other = factories.InitiativeFactory(title="Other thing")
    force_step(other, Step.PLAN)
    response = client_for(viewer).get(url("register-export"), {"step": "proposed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:8] == [
        "reference",
        "title",
        "step",
        "health",
        "priority",
        "score",
        "value",
        "effort",
    ]
    assert [r[0] for r in rows[1:]] == [wanted.reference]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["owner"] == "tina" and row["goals"] == "Delight customers"


def test_export_exports_every_row_not_one_page(client_for, viewer):
    factories.InitiativeFactory.create_batch(30)
    response = client_for(viewer).get(url("register-export"))
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 31


def test_export_defuses_spreadsheet_formulas(client_for, viewer):
    factories.InitiativeFactory(title='=HYPERLINK("http://evil")')
    body = b"".join(client_for(viewer).get(url("register-export")).streaming_content).decode()
    assert "'=HYPERLINK" in body


# --- proposing ----------------------------------------------------------------------------


def test_team_member_proposes_an_idea(client_for, team_member):
    service = factories.ServiceFactory(name="E-mail")
    response = client_for(team_member).post(
        url("propose"),
        {
            "title": "Automate mailbox provisioning",
            "description": "Takes two days today.",
            "source": "staff_suggestion",
            "service": service.pk,
            "value": 4,
            "urgency": 3,
            "effort": 2,
            "accountable_me": "on",
        },
    )
    initiative = Initiative.objects.get(title="Automate mailbox provisioning")
    assert response.status_code == 302
    assert response["Location"] == page(initiative)
    assert initiative.step == Step.PROPOSED
    assert initiative.created_by == team_member and initiative.accountable == team_member
    assert initiative.reference.startswith("CIR-")


def test_propose_shows_errors_next_to_the_field(client_for, team_member):
    response = client_for(team_member).post(
        url("propose"), {"title": "", "source": "other", "value": 3, "urgency": 3, "effort": 3}
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Initiative.objects.exists()


def test_viewer_cannot_propose_by_forged_post(client_for, viewer):
    response = client_for(viewer).post(
        url("propose"), {"title": "x", "source": "other", "value": 3, "urgency": 3, "effort": 3}
    )
    assert response.status_code == 403
    assert not Initiative.objects.exists()


# --- paging links -------------------------------------------------------------------------


def _links(html: str, rel: str) -> list[str]:
    return re.findall(rf'<a class="btn btn--sm" href="([^"]*)" rel="{rel}"', html)


def test_register_next_link_opens_the_next_page(client_for, viewer):
    factories.InitiativeFactory.create_batch(60)
    client = client_for(viewer)
    html = client.get(url("register"), {"search": "", "ordering": "reference"}).content.decode()
    (href,) = _links(html, "next")
    assert href.startswith("?") and not href.startswith("??")
    second = client.get(url("register") + href.replace("&amp;", "&"))
    assert second.context["page"].number == 2
    assert second.context["current_ordering"] == "reference"  # the other parameters stay
    (back,) = _links(second.content.decode(), "prev")
    assert client.get(url("register") + back.replace("&amp;", "&")).context["page"].number == 1


def test_register_per_page_links_change_the_page_size(client_for, viewer):
    factories.InitiativeFactory.create_batch(60)
    client = client_for(viewer)
    html = client.get(url("register"), {"page": 2}).content.decode()
    hrefs = dict(
        (size, href.replace("&amp;", "&"))
        for href, size in re.findall(r'<a href="([^"]*)">(\d+)</a>', html)
    )
    assert set(hrefs) == {"50", "100"}
    response = client.get(url("register") + hrefs["50"])
    page = response.context["page"]
    assert (page.number, len(page.object_list)) == (1, 50)  # back to page 1, 50 a page


@pytest.mark.parametrize("ordering", ["due_date", "-due_date"])
def test_register_lists_blank_due_dates_last(client_for, viewer, ordering):
    today = dt.date(2026, 5, 1)
    blank = factories.InitiativeFactory(title="No date", due_date=None)
    soon = factories.InitiativeFactory(title="Soon", due_date=today)
    later = factories.InitiativeFactory(title="Later", due_date=today + dt.timedelta(days=30))
    page = client_for(viewer).get(url("register"), {"ordering": ordering}).context["page"]
    dated = [soon, later] if ordering == "due_date" else [later, soon]
    assert list(page.object_list) == [*dated, blank]


# --- open only, unless asked ---------------------------------------------------------------


@pytest.fixture
def every_end(db):
    """One initiative in each open state and one in each final state."""
    made = {}
    for step in Step:
        made[step] = force_step(factories.InitiativeFactory(title=f"In {step}"), step)
    return made


def test_register_lists_open_initiatives_by_default(client_for, viewer, every_end):
    response = client_for(viewer).get(url("register"))
    listed = set(response.context["page"].object_list)
    assert listed == {i for step, i in every_end.items() if step in OPEN_STEPS}
    html = text(response)
    assert f"{len(OPEN_STEPS)} open initiatives" in html
    assert 'name="scope" value="all"' in html  # the visible way to include the rest


def test_register_includes_closed_and_cancelled_when_asked(client_for, viewer, every_end):
    response = client_for(viewer).get(url("register"), {"scope": "all"})
    assert set(response.context["page"].object_list) == set(every_end.values())
    assert 'name="scope" value="all" checked' in text(response)


@pytest.mark.parametrize("step", [Step.CLOSED, Step.CANCELLED, Step.REJECTED])
def test_register_shows_a_final_step_chosen_in_the_filters(client_for, viewer, every_end, step):
    # the step filter says which steps: the open-only default gives way to it
    response = client_for(viewer).get(url("register"), {"step": step, "search": ""})
    assert list(response.context["page"].object_list) == [every_end[step]]


def test_export_follows_the_open_only_default(client_for, viewer, every_end):
    body = b"".join(client_for(viewer).get(url("register-export")).streaming_content).decode()
    assert len(body.strip().splitlines()) == 1 + len(OPEN_STEPS)
