"""The initiative admin (improvement/admin/initiatives.py): its list, its form written
through the services, deletion, history, bulk triage, and the whole walk from proposed to
closed.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from improvement.choices import STATUS_COLOURS, Step
from improvement.models import KPI, Event, Initiative, Measurement, TransitionLog

from .. import factories
from .support import (
    add_row,
    admin_url,
    change_url,
    form_data,
    form_errors,
    move,
    save_initiative,
    steps_logged,
    texts,
    transition_url,
)

pytestmark = pytest.mark.django_db


def test_initiative_changelist_queries_do_not_grow_with_rows(
    csi_client, django_assert_max_num_queries
):
    # given initiatives with an owner, a service and a practice each
    def make(n):
        for _ in range(n):
            factories.InitiativeFactory(
                accountable=factories.UserFactory(),
                service=factories.ServiceFactory(),
                practice=factories.PracticeFactory(),
            )

    make(3)
    url = admin_url(Initiative, "changelist")
    with django_assert_max_num_queries(14):
        assert csi_client.get(url).status_code == 200
    # when there are many more, then the page still costs the same
    make(30)
    with django_assert_max_num_queries(14):
        response = csi_client.get(url)
    assert len(response.context["cl"].result_list) == 33


def test_initiative_changelist_shows_health_in_its_colour(csi_client, initiative_at):
    initiative = initiative_at(Step.PLAN)
    Initiative.objects.filter(pk=initiative.pk).update(health="at_risk")
    response = csi_client.get(admin_url(Initiative, "changelist"))
    assert STATUS_COLOURS["at_risk"] in response.content.decode()
    assert "At risk" in response.content.decode()


def test_adding_an_initiative_goes_through_the_service(csi_client, csi):
    # given the add form
    page = csi_client.get(admin_url(Initiative, "add"))
    assert page.status_code == 200
    data = form_data(page)
    data.update(title="Cut repeat outages of online banking", source="problem")
    # when it is posted
    response = csi_client.post(admin_url(Initiative, "add"), data)
    # then the service assigned a reference, the actor and the history user
    assert response.status_code == 302, form_errors(response)
    initiative = Initiative.objects.get(title="Cut repeat outages of online banking")
    assert initiative.reference.startswith("CIR-")
    assert initiative.step == Step.PROPOSED
    assert initiative.created_by == csi
    assert initiative.history.earliest().history_user == csi
    assert Event.objects.filter(type="initiative.created").count() == 1


def test_step_and_reference_are_read_only_on_the_change_form(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    page = csi_client.get(change_url(initiative))
    form = page.context["adminform"].form
    for name in ("step", "reference", "score", "health", "iteration", "closed_at"):
        assert name not in form.fields
    # a forged step in the post changes nothing
    save_initiative(
        csi_client,
        initiative,
        fields={"step": "closed", "reference": "CIR-99999", "title": "Renamed"},
    )
    initiative.refresh_from_db()
    assert initiative.step == Step.PROPOSED
    assert initiative.reference != "CIR-99999"
    assert initiative.title == "Renamed"
    assert not TransitionLog.objects.filter(initiative=initiative).exists()


def test_editing_the_priority_on_the_form_marks_it_set_by_hand(csi_client, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    save_initiative(csi_client, initiative, fields={"priority": "P1"})
    initiative.refresh_from_db()
    assert (initiative.priority, initiative.priority_set_manually) == ("P1", True)


def test_a_service_error_on_save_is_shown_and_nothing_is_saved(csi_client, initiative_at):
    # given a KPI whose target lies on the worse side of its baseline
    initiative = initiative_at(Step.BASELINE, complete=False)
    page = csi_client.get(change_url(initiative))
    data = form_data(page)
    add_row(
        data,
        "kpis",
        key="mttr",
        name="MTTR",
        direction="decrease",
        aggregation="latest",
        baseline_value="10",
        baseline_date="2026-01-01",
        target_value="12",
        target_date="2026-06-01",
    )
    response = csi_client.post(change_url(initiative), data)
    # then the form says so and no KPI exists
    assert response.status_code == 200
    assert "better side" in str(form_errors(response))
    assert not initiative.kpis.exists()


def test_history_view_shows_who_changed_and_cannot_revert(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.PROPOSED)
    move(csi_client, initiative, "vision")
    history = csi_client.get(admin_url(Initiative, "history", initiative.pk))
    assert history.status_code == 200
    assert csi.username in history.content.decode()
    version = initiative.history.earliest()
    url = reverse(
        "admin:improvement_initiative_simple_history", args=[initiative.pk, version.history_id]
    )
    assert csi_client.post(url, {"title": "old"}).status_code == 403


def test_only_proposed_or_rejected_initiatives_can_be_deleted(csi_client, initiative_at):
    live = initiative_at(Step.PLAN)
    assert csi_client.get(admin_url(Initiative, "delete", live.pk)).status_code == 403
    proposed = initiative_at(Step.PROPOSED)
    response = csi_client.post(admin_url(Initiative, "delete", proposed.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Initiative.objects.filter(pk=proposed.pk).exists()
    assert Initiative.objects.filter(pk=live.pk).exists()


def test_a_refused_deletion_says_why(csi_client, initiative_at):
    live = initiative_at(Step.PLAN)
    response = csi_client.get(admin_url(Initiative, "delete", live.pk))
    assert response.status_code == 403
    assert "Only proposed or rejected initiatives can be deleted" in response.content.decode()
    assert "Cancel it instead." in response.content.decode()


def bulk(client, action: str, initiatives, **fields):
    return client.post(
        admin_url(Initiative, "changelist"),
        {"action": action, "_selected_action": [str(i.pk) for i in initiatives], **fields},
    )


def test_bulk_accept_moves_the_proposed_and_reports_the_rest(csi_client, initiative_at):
    first, second = initiative_at(Step.PROPOSED), initiative_at(Step.PROPOSED)
    already = initiative_at(Step.PLAN)
    response = bulk(csi_client, "accept_selected", [first, second, already])
    assert response.status_code == 302
    for initiative in (first, second):
        initiative.refresh_from_db()
        assert initiative.step == Step.VISION
        assert steps_logged(initiative) == [("proposed", "vision")]
    already.refresh_from_db()
    assert already.step == Step.PLAN
    shown = texts(response)
    assert any(m.startswith("2 accepted") for m in shown)
    assert any(
        m.startswith(f"{already.reference} was not accepted")
        and "There is no move from '4 · How do we get there?'" in m
        for m in shown
    )


def test_bulk_reject_asks_for_a_reason_first(csi_client, initiative_at):
    first, second = initiative_at(Step.PROPOSED), initiative_at(Step.PROPOSED)
    # when the action is chosen, an intermediate page asks for the reason
    page = bulk(csi_client, "reject_selected", [first, second])
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    # and without one, nothing happens
    page = bulk(csi_client, "reject_selected", [first, second], apply="yes", reason="")
    assert page.status_code == 200 and page.context["form"].errors
    assert Initiative.objects.filter(step=Step.REJECTED).count() == 0
    # with one, both are rejected with it
    response = bulk(
        csi_client, "reject_selected", [first, second], apply="yes", reason="Out of scope"
    )
    assert response.status_code == 302
    for initiative in (first, second):
        initiative.refresh_from_db()
        assert initiative.step == Step.REJECTED
        assert initiative.closure_reason == "Out of scope"
    assert any(m.startswith("2 rejected") for m in texts(response))


def test_set_priority_in_bulk_and_back_to_derived(csi_client, initiative_at):
    first, second = initiative_at(Step.PROPOSED), initiative_at(Step.PLAN)
    page = bulk(csi_client, "set_priority", [first, second])
    assert page.status_code == 200
    response = bulk(csi_client, "set_priority", [first, second], apply="yes", priority="P1")
    assert response.status_code == 302
    for initiative in (first, second):
        initiative.refresh_from_db()
        assert (initiative.priority, initiative.priority_set_manually) == ("P1", True)
    # "derived from the score" hands it back: (4 + 3) / 2 = 3.5 → P2
    bulk(csi_client, "set_priority", [first], apply="yes", priority="")
    first.refresh_from_db()
    assert (first.priority, first.priority_set_manually) == ("P2", False)


def test_bulk_actions_report_per_initiative_refusals(client, team_member, initiative_at):
    # given a non-CSI user with admin change rights
    team_member.is_staff = True
    team_member.save()
    team_member.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_initiative", "change_initiative"])
    )
    client.force_login(team_member)
    initiative = initiative_at(Step.PROPOSED)
    response = bulk(client, "set_priority", [initiative], apply="yes", priority="P1")
    assert f"{initiative.reference}: Only a CSI manager sets priorities." in texts(response)
    response = bulk(client, "accept_selected", [initiative])
    assert (
        f"{initiative.reference} was not accepted: "
        "Only a CSI manager may accept, reject, cancel or close an initiative."
    ) in texts(response)
    initiative.refresh_from_db()
    assert (initiative.step, initiative.priority_set_manually) == (Step.PROPOSED, False)


def test_full_walk_from_proposed_to_closed_in_the_admin(csi_client, csi, make_user):
    """Judged by (issue 2): proposed → closed in the admin, with one review → plan iteration
    and one back move, and the guard reasons shown while a record is missing. Every move
    back says why, and the decisions and the outcome follow the KPI's data."""
    owner = make_user("team", username="olivia")
    goal = factories.GoalFactory(title="Resilient banking")

    # intake: registered in the add form, accepted on the transition page
    page = csi_client.get(admin_url(Initiative, "add"))
    data = form_data(page) | {"title": "Cut repeat outage downtime by 40 %", "source": "problem"}
    assert csi_client.post(admin_url(Initiative, "add"), data).status_code == 302
    initiative = Initiative.objects.get(title__startswith="Cut repeat outage")
    move(csi_client, initiative, "vision")

    # step 1: blocked while the vision is missing, with the reasons on the page
    page = csi_client.get(transition_url(initiative))
    assert "The vision statement is missing." in page.content.decode()
    assert "No accountable owner is set." in page.content.decode()
    response = move(csi_client, initiative, "baseline")
    assert "The vision statement is missing." in texts(response)
    save_initiative(
        csi_client,
        initiative,
        fields={"goals": [str(goal.pk)], "accountable": str(owner.pk)},
        rows={
            "vision": [{"statement": "Banking stays up.", "expected_value": "Fewer lost payments."}]
        },
    )
    move(csi_client, initiative, "baseline")

    # steps 2 and 3: a KPI with its baseline and target
    save_initiative(
        csi_client,
        initiative,
        rows={
            "kpis": [
                {
                    "key": "outage-downtime",
                    "name": "Outage downtime",
                    "unit": "min",
                    "direction": "decrease",
                    "aggregation": "sum",
                    "baseline_value": "600",
                    "baseline_date": "2026-01-01",
                    "target_value": "360",
                    "target_date": "2026-07-01",
                }
            ]
        },
    )
    move(csi_client, initiative, "target")
    move(csi_client, initiative, "plan")

    # step 4: the plan and one action
    save_initiative(
        csi_client,
        initiative,
        rows={
            "plan": [{"approach": "Problem management on the top 5 causes."}],
            "actions": [{"title": "Fix the load balancer failover", "status": "planned"}],
        },
    )
    move(csi_client, initiative, "action")

    # a back move: the plan was wrong (the comment serves as its reason)
    move(csi_client, initiative, "plan", comment="Re-plan: add a second action")
    save_initiative(
        csi_client, initiative, rows={"actions": [{"title": "Chaos drills", "status": "planned"}]}
    )
    move(csi_client, initiative, "action")

    # step 5 → 6 needs a done action
    response = move(csi_client, initiative, "review")
    assert "No action is done yet." in texts(response)
    save_initiative(csi_client, initiative, fields={"actions-0-status": "done"})
    move(csi_client, initiative, "review")

    # step 6, iteration 1: the review decides to iterate → plan, iteration 2
    response = move(csi_client, initiative, "plan")
    assert "There is no review of iteration 1 yet." in texts(response)
    save_initiative(
        csi_client, initiative, rows={"reviews": [{"decision": "iterate", "notes": "Halfway."}]}
    )
    response = move(csi_client, initiative, "plan")
    assert "Say why it goes back (a reason is required)." in texts(response)
    move(csi_client, initiative, "plan", reason="Halfway: a second round of drills.")
    initiative.refresh_from_db()
    assert (initiative.step, initiative.iteration) == (Step.PLAN, 2)

    # iteration 2: act, measure the downtime and check the KPI (achieved), review, sustain
    save_initiative(
        csi_client, initiative, rows={"actions": [{"title": "Drill round 2", "status": "done"}]}
    )
    move(csi_client, initiative, "action")
    move(csi_client, initiative, "review")
    kpi = initiative.kpis.get()
    page = csi_client.get(admin_url(Measurement, "add"))
    data = form_data(page) | {
        "kpi": str(kpi.pk),
        "value": "300",
        "measured_at_0": (timezone.localdate() - dt.timedelta(days=1)).isoformat(),
        "measured_at_1": "09:00:00",
        "source": "admin",
    }
    assert csi_client.post(admin_url(Measurement, "add"), data).status_code == 302
    csi_client.post(
        admin_url(KPI, "changelist"), {"action": "check_now", "_selected_action": [kpi.pk]}
    )
    save_initiative(csi_client, initiative, rows={"reviews": [{"decision": "achieved"}]})
    move(csi_client, initiative, "sustain")

    # step 7: the close form proposes the outcome the KPIs support
    page = csi_client.get(transition_url(initiative))
    assert page.context["workflow"]["proposed_outcome"] == "successful"
    response = move(csi_client, initiative, "closed", outcome="successful")
    assert "Lessons learned are not recorded." in texts(response)
    save_initiative(
        csi_client,
        initiative,
        rows={
            "sustain": [
                {"embedding": "Runbook KB0042; monthly drills.", "lessons_learned": "Drill often."}
            ]
        },
    )
    response = move(csi_client, initiative, "closed", outcome="successful", comment="Done")
    assert response.status_code == 302

    # then it is closed, after two iterations, with every move logged by the CSI manager
    initiative.refresh_from_db()
    assert initiative.step == Step.CLOSED
    assert initiative.iteration == 2
    assert initiative.outcome == "successful"
    assert initiative.closed_at is not None
    assert steps_logged(initiative) == [
        ("proposed", "vision"),
        ("vision", "baseline"),
        ("baseline", "target"),
        ("target", "plan"),
        ("plan", "action"),
        ("action", "plan"),
        ("plan", "action"),
        ("action", "review"),
        ("review", "plan"),
        ("plan", "action"),
        ("action", "review"),
        ("review", "sustain"),
        ("sustain", "closed"),
    ]
    assert set(TransitionLog.objects.values_list("actor", flat=True)) == {csi.pk}
    assert list(initiative.reviews.values_list("iteration", "decision")) == [
        (1, "iterate"),
        (2, "achieved"),
    ]
    assert initiative.actions.count() == 3
    assert initiative.outcome_override == ""
    assert initiative.vision.updated_by == csi
    # and the audit history names who made the changes
    assert set(initiative.history.values_list("history_user", flat=True)) == {csi.pk}
    page = csi_client.get(change_url(initiative))
    assert 'data-step="closed"' in page.content.decode()


def test_bulk_cancel_asks_for_a_reason_and_lessons_learned(csi_client, initiative_at):
    first, second = initiative_at(Step.PROPOSED), initiative_at(Step.PLAN)
    page = bulk(csi_client, "cancel_selected", [first, second])
    assert set(page.context["form"].fields) == {"reason", "lessons_learned"}
    page = bulk(csi_client, "cancel_selected", [first, second], apply="yes", reason="Merged.")
    assert page.status_code == 200 and "lessons_learned" in page.context["form"].errors
    response = bulk(
        csi_client,
        "cancel_selected",
        [first, second],
        apply="yes",
        reason="Merged into CIR-00007.",
        lessons_learned="Check for duplicates at intake.",
    )
    assert response.status_code == 302
    for initiative in (first, second):
        initiative.refresh_from_db()
        assert (initiative.step, initiative.closure_reason) == (
            Step.CANCELLED,
            "Merged into CIR-00007.",
        )
    assert any(m.startswith("2 cancelled") for m in texts(response))


# --- on hold, age, overrides and suggestions --------------------------------------------------


def test_on_hold_info_and_age_are_shown_read_only(csi_client, initiative_at):
    # given an initiative put on hold from the plan through the panel
    initiative = initiative_at(Step.PLAN)
    resume_by = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
    move(csi_client, initiative, "on_hold", reason="Waiting for budget.", resume_by=resume_by)
    page = csi_client.get(change_url(initiative))
    form = page.context["adminform"].form
    for name in ("held_from", "hold_reason", "hold_until", "held_since", "outcome_override"):
        assert name not in form.fields
    fieldsets = dict(page.context["adminform"].fieldsets)
    assert "collapse" not in fieldsets["On hold"].get("classes", ())
    html = page.content.decode()
    assert "Waiting for budget." in html
    assert "Days on hold (all holds)" in html
    assert "Age (days, time on hold not counted)" in html


def test_the_records_of_the_step_it_was_held_from_stay_open(csi_client, initiative_at):
    initiative = initiative_at(Step.PLAN)
    move(
        csi_client,
        initiative,
        "on_hold",
        reason="Waiting for budget.",
        resume_by=(timezone.localdate() + dt.timedelta(days=14)).isoformat(),
    )
    page = csi_client.get(change_url(initiative))
    folded = {
        i.formset.model.__name__: "collapse" in (i.opts.classes or ())
        for i in page.context["inline_admin_formsets"]
    }
    assert not folded["Plan"] and not folded["Action"]
    assert folded["Vision"] and folded["Review"]


def test_initiatives_on_hold_are_found_by_the_step_filter(csi_client, initiative_at):
    held = initiative_at(Step.ON_HOLD, held_from=Step.PLAN)
    initiative_at(Step.PLAN)
    url = admin_url(Initiative, "changelist")
    listing = csi_client.get(url)
    step_filter = next(f for f in listing.context["cl"].filter_specs if f.title == "step")
    assert "On hold" in [c["display"] for c in step_filter.choices(listing.context["cl"])]
    response = csi_client.get(url, {"step__exact": "on_hold"})
    assert list(response.context["cl"].result_list) == [held]


def test_suggestions_of_the_itsm_tool_are_shown_and_applied_on_acceptance(
    csi_client, integration, team_member
):
    from improvement import services

    goal = factories.GoalFactory(title="Resilient banking")
    initiative = services.initiative_create(
        actor=integration, title="Repeat outages", accountable=team_member, goals=[goal]
    )
    page = csi_client.get(change_url(initiative))
    form = page.context["adminform"].form
    assert "suggested_accountable" not in form.fields and "suggested_goals" not in form.fields
    fieldsets = dict(page.context["adminform"].fieldsets)
    assert "collapse" not in fieldsets["Suggested by the ITSM tool"].get("classes", ())
    html = page.content.decode()
    assert "Accepting the initiative applies them" in html
    assert "Resilient banking" in html
    # accepting on the panel applies them
    move(csi_client, initiative, "vision")
    initiative.refresh_from_db()
    assert initiative.accountable == team_member
    assert list(initiative.goals.all()) == [goal]
    assert initiative.suggested_accountable is None
