"""My work (the home page), the register at /register/, days in step and stale there."""

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from improvement.choices import ActionStatus, KPIStatus, Step
from improvement.models import Initiative

from .. import factories
from ..conftest import force_step
from .conftest import text, url

pytestmark = pytest.mark.django_db


def age(initiative, days):
    then = timezone.now() - dt.timedelta(days=days)
    Initiative.objects.filter(pk=initiative.pk).update(
        last_activity_at=then, step_entered_at=then, created_at=then
    )
    initiative.refresh_from_db()
    return initiative


def test_anonymous_is_sent_to_sign_in_and_lands_on_my_work(client, team_member):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert django_settings.LOGIN_REDIRECT_URL == "improvement:my-work"
    assert url("my-work") == "/" and url("register") == "/register/"


def test_an_integration_account_gets_403(client_for, integration):
    assert client_for(integration).get("/").status_code == 403


@pytest.mark.parametrize(
    "query", ["step=plan", "search=vpn&ordering=title", "page=2", "q=x", "stale=true"]
)
def test_old_register_links_to_the_root_are_redirected(client_for, viewer, query):
    response = client_for(viewer).get(f"/?{query}")
    assert response.status_code == 302
    assert response["Location"] == f"/register/?{query}"


def test_my_work_lists_my_initiatives_by_role_actions_reviews_and_kpis(
    client_for, team_member, make_user, initiative_at
):
    # given initiatives where tina holds each RACI role, and one she has nothing to do with
    other = make_user("team", username="otto")
    owned = initiative_at(Step.PLAN, title="Owned by tina")
    consulted = force_step(factories.InitiativeFactory(title="Tina consulted"), Step.VISION)
    consulted.consulted.add(team_member)
    informed = force_step(factories.InitiativeFactory(title="Tina informed"), Step.TARGET)
    informed.informed.add(team_member)
    factories.InitiativeFactory(title="Not hers", accountable=other)
    ended = initiative_at(Step.CLOSED, title="Ended one")
    # her actions: overdue, due soon, later; done and others' actions are not listed
    today = timezone.localdate()
    for title, due in (("Late", -3), ("Soon", 2), ("Later", 30)):
        factories.ActionFactory(
            initiative=owned, owner=team_member, title=title, due_date=today + dt.timedelta(due)
        )
    factories.ActionFactory(
        initiative=owned, owner=team_member, title="Finished", status=ActionStatus.DONE
    )
    factories.ActionFactory(initiative=owned, owner=other, title="Otto's")
    # a review due: in step 6 without this iteration's review
    review = initiative_at(Step.REVIEW, title="Review me")
    # a KPI in trouble on an initiative she is informed of
    factories.KPIFactory(initiative=informed, name="Broken KPI", status=KPIStatus.REGRESSED)

    html = text(client_for(team_member).get("/"))
    roles = html.split('id="role-accountable"')[1]
    accountable, rest = roles.split('id="role-responsible"')
    assert owned.reference in accountable and review.reference in accountable
    assert ended.reference not in html
    assert (
        consulted.reference in rest.split('id="role-informed"')[0].split('id="role-consulted"')[1]
    )
    assert informed.reference in rest.split('id="role-informed"')[1]
    assert "Not hers" not in html
    actions = html.split('id="my-actions"')[1].split("</section>")[0]
    assert actions.index("Late") < actions.index("Soon") < actions.index("Later")
    assert "Finished" not in actions and "Otto's" not in actions
    reviews = html.split('id="reviews_due"')[1].split("</section>")[0]
    assert review.reference in reviews and owned.reference not in reviews
    assert "Broken KPI" in html.split('id="kpis_in_trouble"')[1]
    assert 'id="triage"' not in html  # not a CSI manager


def test_a_csi_manager_sees_the_triage_queue_oldest_first_and_stale_ones(client_for, csi):
    newer = age(factories.InitiativeFactory(title="Newer idea"), 2)
    older = age(factories.InitiativeFactory(title="Older idea"), 12)
    stale = age(force_step(factories.InitiativeFactory(title="Forgotten"), Step.PLAN), 45)
    html = text(client_for(csi).get("/"))
    triage = html.split('id="triage"')[1].split("</section>")[0]
    assert triage.index(older.reference) < triage.index(newer.reference)
    assert 'data-age="12"' in triage
    stale_list = html.split('id="stale"')[1].split("</section>")[0]
    assert stale.reference in stale_list and "no activity for 45 days" in stale_list
    assert newer.reference not in stale_list


def test_each_list_is_capped_with_a_link_to_all(client_for, csi):
    for _ in range(12):
        factories.InitiativeFactory()
    html = text(client_for(csi).get("/"))
    triage = html.split('id="triage"')[1].split("</section>")[0]
    assert triage.count("<li>") == 10
    assert 'href="/register/?step=proposed&ordering=created_at">All 12 →' in triage


@pytest.mark.parametrize("rows", [1, 12])
def test_my_work_runs_a_fixed_number_of_queries(client_for, csi, rows, django_assert_num_queries):
    for n in range(rows):
        i = age(force_step(factories.InitiativeFactory(accountable=csi), Step.ACTION), 40)
        i.responsible.add(csi)
        i.consulted.add(csi)
        i.informed.add(csi)
        factories.ActionFactory(initiative=i, owner=csi, due_date=timezone.localdate())
        factories.KPIFactory(initiative=i, status=KPIStatus.AT_RISK)
        factories.InitiativeFactory()  # for triage
    client = client_for(csi)
    # the session, the user, their roles 3; the counts 1; four role lists 4; the actions'
    # counts and list 2; reviews due 1; KPIs in trouble and their count 2; triage and
    # stale 2; the header's unread notifications 1
    with django_assert_num_queries(16):
        assert client.get("/").status_code == 200


# --- the register -----------------------------------------------------------------------


def test_the_register_shows_days_in_step_and_stale_and_sorts_by_days(client_for, viewer):
    fresh = age(force_step(factories.InitiativeFactory(title="Fresh"), Step.PLAN), 1)
    old = age(force_step(factories.InitiativeFactory(title="Old"), Step.PLAN), 40)
    client = client_for(viewer)
    html = text(client.get(url("register") + "?ordering=-days_in_step"))
    assert html.index(old.reference) < html.index(fresh.reference)
    assert "Days in step" in html and ">stale<" in html
    html = text(client.get(url("register") + "?ordering=days_in_step"))
    assert html.index(fresh.reference) < html.index(old.reference)
    stale_only = text(client.get(url("register") + "?stale=true"))
    assert old.reference in stale_only and fresh.reference not in stale_only


def test_the_register_lists_by_raci_role(client_for, viewer, team_member):
    mine = factories.InitiativeFactory()
    mine.consulted.add(team_member)
    other = factories.InitiativeFactory()
    html = text(client_for(viewer).get(url("register") + "?consulted=tina"))
    assert mine.reference in html and other.reference not in html
