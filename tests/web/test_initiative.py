"""The initiative page and its writes through the services: moves, step records,
actions, KPIs, measurements, reviews and details; htmx partial answers; read-only for
viewers; the history and the stepper; a query count that stays flat."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import ActionStatus, KPIStatus, Step
from improvement.models import KPI, Action, Initiative, Measurement, Review, TransitionLog

from .. import factories
from ..conftest import force_step
from .conftest import HTMX, after_redirect, page, url

pytestmark = pytest.mark.django_db


# --- moves ---------------------------------------------------------------------------------


def test_csi_manager_accepts_a_proposal(client_for, csi, proposed):
    response = client_for(csi).post(
        url("initiative-move", proposed.reference), {"to": "vision", "comment": "Good idea"}
    )
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.step == Step.VISION
    log = TransitionLog.objects.get(initiative=proposed)
    assert (log.actor, log.comment) == (csi, "Good idea")


def test_only_offered_moves_are_shown(client_for, team_member, csi, proposed):
    html = client_for(team_member).get(page(proposed)).content.decode()
    assert 'value="vision"' not in html  # accepting is for CSI managers
    html = client_for(csi).get(page(proposed)).content.decode()
    assert 'name="to" value="vision"' in html
    assert "Reject" in html


@pytest.mark.parametrize("to", ["vision", "rejected", "closed", "nonsense", ""])
def test_forged_move_is_403(client_for, team_member, proposed, to):
    proposed.accountable = team_member
    proposed.save()
    response = client_for(team_member).post(url("initiative-move", proposed.reference), {"to": to})
    assert response.status_code == 403
    proposed.refresh_from_db()
    assert proposed.step == Step.PROPOSED


def test_viewer_move_is_403(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.VISION)
    response = client_for(viewer).post(
        url("initiative-move", initiative.reference), {"to": "baseline"}
    )
    assert response.status_code == 403


def test_blocked_move_is_shown_with_its_reasons(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    client = client_for(team_member)
    html = client.get(page(initiative)).content.decode()
    assert 'id="blocked-baseline"' in html
    assert "The vision statement is missing." in html
    assert "The initiative is not linked to any organisational goal." in html
    # a POST of the blocked move goes back to the page, which says why; nothing moves
    response = client.post(url("initiative-move", initiative.reference), {"to": "baseline"})
    assert response["Location"] == page(initiative) + "#moves"
    shown = after_redirect(client, response).content.decode()
    assert "It can’t move yet:" in shown and "The vision statement is missing." in shown
    # shown once: the page read again is the page as it is
    assert "It can’t move yet:" not in client.get(page(initiative)).content.decode()
    initiative.refresh_from_db()
    assert initiative.step == Step.VISION


def test_reject_needs_a_reason(client_for, csi, proposed):
    client = client_for(csi)
    response = client.post(url("initiative-move", proposed.reference), {"to": "rejected"})
    assert "A reason is required." in after_redirect(client, response).content.decode()
    response = client.post(
        url("initiative-move", proposed.reference),
        {"to": "rejected", "reason": "Duplicate of CIR-00001"},
    )
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.step == Step.REJECTED and proposed.closure_reason == "Duplicate of CIR-00001"


def test_htmx_move_answers_with_the_initiative_fragment(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.VISION)
    response = client_for(team_member).post(
        url("initiative-move", initiative.reference), {"to": "baseline"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="initiative"')
    assert "<html" not in html
    assert "moved to" in html


def test_review_then_move_to_sustain(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    # its KPIs reached their targets: the decision "achieved" agrees with the data
    initiative.kpis.update(status=KPIStatus.ACHIEVED)
    client = client_for(team_member)
    response = client.post(
        url("review-create", initiative.reference),
        {"decision": "achieved", "progress_check": "Met.", "value_check": "Yes"},
    )
    assert response.status_code == 302
    review = Review.objects.get(initiative=initiative)
    assert review.kpi_snapshot and review.reviewed_by == team_member
    html = client.get(page(initiative)).content.decode()
    assert 'name="to" value="sustain"' in html
    assert "KPIs at the review" in html
    client.post(url("initiative-move", initiative.reference), {"to": "sustain"})
    initiative.refresh_from_db()
    assert initiative.step == Step.SUSTAIN


def test_review_outside_step_6_is_an_error_on_the_form(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    response = client.post(url("review-create", initiative.reference), {"decision": "achieved"})
    assert "A review is written in step 6" in after_redirect(client, response).content.decode()


# --- step records, actions, KPIs, measurements ---------------------------------------------


def test_team_member_saves_the_vision(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    goal = factories.GoalFactory(title="Restore faster")
    response = client_for(team_member).post(
        url("record-update", initiative.reference, "vision"),
        {
            "statement": "Payroll back within the hour",
            "goals": [goal.pk],
            "expected_value": "No late salaries",
            "stakeholders": "",
            "authority": "",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#step-vision")
    initiative.refresh_from_db()
    assert initiative.vision.statement == "Payroll back within the hour"
    assert list(initiative.goals.all()) == [goal]


def test_htmx_record_save_returns_the_section_and_refreshes_moves(
    client_for, team_member, initiative_at
):
    initiative = initiative_at(Step.VISION, complete=False)
    goal = factories.GoalFactory()
    response = client_for(team_member).post(
        url("record-update", initiative.reference, "vision"),
        {"statement": "S", "goals": [goal.pk], "expected_value": "V"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="step-vision"')
    assert (
        'id="moves" class="card moves" tabindex="-1" aria-labelledby="moves-heading" '
        'hx-swap-oob="true"' in html
    )
    assert "saved." in html
    # the vision is complete now, so the move to step 2 is offered
    assert 'name="to" value="baseline"' in html
    # and the Details panel, refreshed out of band, lists the goal it serves
    details = html.split('<section id="details"')[1].split("</section>")[0]
    assert 'hx-swap-oob="true"' in details
    assert f'<span class="chip">{goal.title}</span>' in details.split("<dt>Goals</dt>")[1]


def test_record_error_is_shown_next_to_the_field(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.BASELINE, complete=False)
    response = client_for(team_member).post(
        url("record-update", initiative.reference, "baseline"),
        {"assessment": "x", "assessed_on": "not a date"},
        **HTMX,
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()


@pytest.mark.parametrize("record", ["vision", "plan", "sustain"])
def test_viewer_cannot_save_a_record(client_for, viewer, initiative_at, record):
    initiative = initiative_at(Step.PLAN)
    response = client_for(viewer).post(url("record-update", initiative.reference, record), {})
    assert response.status_code == 403


def test_unknown_record_is_404(client_for, csi, initiative_at):
    initiative = initiative_at(Step.PLAN)
    assert (
        client_for(csi).post(url("record-update", initiative.reference, "x"), {}).status_code == 404
    )


def test_get_on_a_write_url_is_not_allowed(client_for, csi, initiative_at):
    initiative = initiative_at(Step.PLAN)
    assert client_for(csi).get(url("initiative-move", initiative.reference)).status_code == 405


def test_add_an_action_in_place(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN, complete=False)
    due = timezone.localdate() + dt.timedelta(days=7)
    response = client_for(team_member).post(
        url("action-create", initiative.reference),
        {
            "title": "Write the runbook",
            "owner": team_member.pk,
            "due_date": due.isoformat(),
            "status": "planned",
            "notes": "",
        },
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="step-action"')
    assert "Write the runbook" in html
    action = Action.objects.get(initiative=initiative)
    assert (action.owner, action.due_date) == (team_member, due)


def test_action_without_title_is_an_error(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN, complete=False)
    client = client_for(team_member)
    response = client.post(
        url("action-create", initiative.reference),
        {"title": "", "status": "planned", "notes": "n1"},
    )
    html = after_redirect(client, response).content.decode()
    assert 'id="id_newaction_title_error"' in html and "n1</textarea>" in html
    assert not Action.objects.filter(initiative=initiative).exists()


def test_mark_an_action_done(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    action = factories.ActionFactory(initiative=initiative, owner=team_member, notes="keep")
    response = client_for(team_member).post(
        url("action-update", initiative.reference, action.pk), {"quick_status": "done"}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == ActionStatus.DONE and action.completed_at and action.notes == "keep"


def test_overdue_action_is_marked(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    factories.ActionFactory(
        initiative=initiative,
        title="Late one",
        due_date=timezone.localdate() - dt.timedelta(days=3),
    )
    html = client_for(viewer).get(page(initiative)).content.decode()
    assert "action--overdue" in html and "overdue 3 days" in html


def test_action_of_another_initiative_is_404(client_for, csi, initiative_at):
    mine, theirs = initiative_at(Step.ACTION), initiative_at(Step.ACTION)
    action = factories.ActionFactory(initiative=theirs)
    response = client_for(csi).post(
        url("action-update", mine.reference, action.pk), {"quick_status": "done"}
    )
    assert response.status_code == 404


def test_add_a_kpi_with_a_target_on_the_wrong_side(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.TARGET, complete=False)
    data = {
        "name": "Mean time to resolve",
        "key": "mttr",
        "unit": "h",
        "kind": "process",
        "direction": "decrease",
        "aggregation": "latest",
        "window_days": 30,
        "baseline_value": 9,
        "baseline_date": "2026-01-01",
        "target_value": 12,
        "target_date": "2026-07-01",
        "tolerance": 0.05,
    }
    client = client_for(team_member)
    response = client.post(url("kpi-create", initiative.reference), data, **HTMX)
    assert response.status_code == 422
    assert "The target must be below the baseline" in response.content.decode()
    data["target_value"] = 6
    response = client.post(url("kpi-create", initiative.reference), data, **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="kpis"')
    assert KPI.objects.get(key="mttr").target_value == 6


def test_kpi_target_as_a_change_in_percent(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.TARGET, complete=False)
    client_for(team_member).post(
        url("kpi-create", initiative.reference),
        {
            "name": "MTTR",
            "key": "mttr2",
            "kind": "process",
            "direction": "decrease",
            "aggregation": "latest",
            "window_days": 30,
            "baseline_value": 10,
            "baseline_date": "2026-01-01",
            "target_change_pct": -15,
            "target_date": "2026-07-01",
            "tolerance": 0.05,
        },
    )
    assert KPI.objects.get(key="mttr2").target_value == pytest.approx(8.5)


def test_a_target_given_as_a_change_shows_as_given_when_edited(
    client_for, team_member, initiative_at
):
    # given a KPI whose target was set as −15 % of a 6.5 h baseline (5.5249999999999995 h)
    initiative = initiative_at(Step.TARGET, complete=False)
    kpi = services.kpi_create(
        initiative=initiative, actor=team_member, key="mttr", name="MTTR", direction="decrease",
        unit="h", baseline_value=6.5, baseline_date=dt.date(2026, 1, 1), target_change_pct=-15,
        target_date=dt.date(2026, 7, 1),
    )  # fmt: skip
    assert kpi.target_value == 6.5 * 0.85 != 5.525
    client = client_for(team_member)
    edit = url("kpi-update", initiative.reference, kpi.pk)
    html = client.get(edit, **HTMX).content.decode()  # the form, as the card opens it
    # the edit form shows the change in percent, and numbers without float noise
    assert input_value(html, f"id_kpi{kpi.pk}_target_change_pct") == "-15"
    assert input_value(html, f"id_kpi{kpi.pk}_target_value") == "5.525"
    assert input_value(html, f"id_kpi{kpi.pk}_baseline_value") == "6.5"
    revisions = kpi.revisions.count()

    # when the form is saved as shown: nothing changes, no revision
    data = {
        "name": "MTTR", "unit": "h", "kind": "process", "direction": "decrease",
        "aggregation": "latest", "window_days": "30", "baseline_value": "6.5",
        "baseline_date": "2026-01-01", "target_value": "5.525", "target_change_pct": "-15",
        "target_date": "2026-07-01", "tolerance": "0.05",
    }  # fmt: skip
    response = client.post(url("kpi-update", initiative.reference, kpi.pk), data)
    assert response.status_code == 302
    kpi.refresh_from_db()
    assert kpi.target_value == 6.5 * 0.85 and kpi.revisions.count() == revisions

    # a new baseline with the change kept: the target follows it (−15 % of 10 h)
    response = client.post(
        url("kpi-update", initiative.reference, kpi.pk), data | {"baseline_value": "10"}
    )
    kpi.refresh_from_db()
    assert kpi.target_value == pytest.approx(8.5)
    # a new target value typed over the one shown: it wins over the change shown
    data |= {"baseline_value": "10", "target_value": "7", "target_change_pct": "-15"}
    client.post(url("kpi-update", initiative.reference, kpi.pk), data)
    kpi.refresh_from_db()
    assert kpi.target_value == 7
    html = client.get(edit, **HTMX).content.decode()
    assert input_value(html, f"id_kpi{kpi.pk}_target_change_pct") == "-30"


def input_value(html: str, input_id: str) -> str | None:
    """The value attribute of the input with the id `input_id` (None without one)."""
    tag = re.search(rf'<input [^>]*id="{input_id}"[^>]*>', html).group(0)
    value = re.search(r' value="([^"]*)"', tag)
    return value.group(1) if value else None


def test_edit_a_kpi_baseline(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.BASELINE, complete=False)
    kpi = factories.KPIFactory(initiative=initiative, baseline_value=None, target_value=None)
    response = client_for(team_member).post(
        url("kpi-update", initiative.reference, kpi.pk),
        {
            "name": kpi.name,
            "unit": "h",
            "kind": "process",
            "direction": "decrease",
            "aggregation": "latest",
            "window_days": 30,
            "baseline_value": 9.5,
            "baseline_date": "2026-01-01",
            "tolerance": 0.05,
        },
    )
    assert response.status_code == 302
    kpi.refresh_from_db()
    assert kpi.baseline_value == 9.5


def test_delete_a_kpi_once_the_box_is_ticked(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    kpi = factories.KPIFactory(initiative=initiative, name="Wrong KPI")
    Measurement.objects.create(kpi=kpi, value=1.0, measured_at=timezone.now())
    client = client_for(team_member)
    # without the box ticked: nothing happens, the card says why
    response = client.post(url("kpi-delete", initiative.reference, kpi.pk), {}, **HTMX)
    assert response.status_code == 422
    assert "Tick the box to confirm the deletion." in response.content.decode()
    assert KPI.objects.filter(pk=kpi.pk).exists()
    # with it: gone, and the KPI section says so
    response = client.post(url("kpi-delete", initiative.reference, kpi.pk), {"confirm": "yes"},
                           **HTMX)  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert "KPI “Wrong KPI” deleted, with its measurements and checks." in html
    assert not KPI.objects.filter(pk=kpi.pk).exists()
    assert f"kpis/{kpi.pk}/delete/" not in html


def test_delete_a_kpi_without_javascript_redirects_to_the_page(client_for, team_member,
                                                                initiative_at):  # fmt: skip
    initiative = initiative_at(Step.ACTION, complete=False)
    kpi = factories.KPIFactory(initiative=initiative)
    response = client_for(team_member).post(
        url("kpi-delete", initiative.reference, kpi.pk), {"confirm": "yes"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#kpis")
    assert not KPI.objects.filter(pk=kpi.pk).exists()


def test_only_editors_see_and_may_use_kpi_deletion(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    kpi = factories.KPIFactory(initiative=initiative)
    client = client_for(viewer)
    page = client.get(url("initiative", initiative.reference)).content.decode()
    assert f"kpis/{kpi.pk}/delete/" not in page
    response = client.post(url("kpi-delete", initiative.reference, kpi.pk), {"confirm": "yes"})
    assert response.status_code == 403
    assert KPI.objects.filter(pk=kpi.pk).exists()


def test_record_a_measurement_and_see_the_verdict(
    client_for, team_member, initiative_at, django_capture_on_commit_callbacks
):
    initiative = initiative_at(Step.ACTION, complete=False)
    today = timezone.localdate()
    kpi = factories.KPIFactory(
        initiative=initiative,
        name="MTTR",
        baseline_value=10,
        target_value=8,
        baseline_date=today - dt.timedelta(days=30),
        target_date=today + dt.timedelta(days=30),
    )
    client = client_for(team_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("measurement-create", initiative.reference, kpi.pk),
            {
                "value": "7.5",
                "measured_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                "source": "manual",
            },
            **HTMX,
        )
    assert response.status_code == 200
    assert Measurement.objects.filter(kpi=kpi, value=7.5).exists()
    html = client.get(page(initiative)).content.decode()
    kpi.refresh_from_db()
    assert kpi.status == "achieved"
    assert 'data-status="achieved"' in html
    assert "<svg" in html and "chart-target" in html and "chart-baseline" in html
    assert "chart-expected" in html and "chart-measurements" in html
    assert "Verdict: Achieved." in html  # the text alternative


def test_measurement_with_a_bad_value_is_an_error(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    kpi = factories.KPIFactory(initiative=initiative)
    client = client_for(team_member)
    response = client.post(
        url("measurement-create", initiative.reference, kpi.pk),
        {"value": "lots", "measured_at": "2026-01-05T10:00"},
    )
    assert response["Location"] == page(initiative) + "#kpis"
    html = after_redirect(client, response).content.decode()
    assert f'id="id_m{kpi.pk}_value_error"' in html and 'value="lots"' in html
    assert not Measurement.objects.exists()


def test_measurement_in_the_future_is_refused_by_the_service(
    client_for, team_member, initiative_at
):
    initiative = initiative_at(Step.ACTION, complete=False)
    kpi = factories.KPIFactory(initiative=initiative)
    later = (timezone.localtime() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    client = client_for(team_member)
    response = client.post(
        url("measurement-create", initiative.reference, kpi.pk),
        {"value": "3", "measured_at": later},
    )
    assert "The time is in the future." in after_redirect(client, response).content.decode()


def test_viewer_cannot_record_a_measurement(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.ACTION)
    kpi = initiative.kpis.first()
    response = client_for(viewer).post(
        url("measurement-create", initiative.reference, kpi.pk),
        {"value": "1", "measured_at": "2026-01-05T10:00"},
    )
    assert response.status_code == 403


def test_csi_manager_sets_owner_and_priority(client_for, csi, proposed, team_member):
    response = client_for(csi).post(
        url("initiative-details", proposed.reference),
        {
            "title": proposed.title,
            "source": "problem",
            "value": 4,
            "urgency": 3,
            "effort": 2,
            "accountable": team_member.pk,
            "responsible": [team_member.pk],
            "priority": "P1",
        },
    )
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.accountable == team_member and proposed.priority == "P1"
    assert proposed.priority_set_manually


def test_team_member_cannot_edit_someone_elses_initiative(client_for, make_user, proposed):
    other = make_user("team")
    response = client_for(other).post(
        url("initiative-details", proposed.reference), {"title": "Mine now"}
    )
    assert response.status_code == 403


# --- read-only for viewers, and the history ------------------------------------------------


def test_viewer_sees_no_edit_controls(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    html = client_for(viewer).get(page(initiative)).content.decode()
    # a viewer may follow the initiative (the watchers panel): nothing else is offered
    html = re.sub(r'<section id="watchers".*?</section>', "", html, flags=re.S)
    assert "hx-post" not in html
    assert html.count('method="post"') == 1  # sign out only
    assert "Record a measurement" not in html and "Add an action" not in html
    assert 'id="read-only-note"' in html


def test_history_shows_who_changed_what(client_for, viewer, team_member, initiative_at):
    initiative = initiative_at(Step.VISION, complete=False)
    services.step_record_update(
        initiative=initiative, record="vision", actor=team_member, statement="First words"
    )
    services.step_record_update(
        initiative=initiative, record="vision", actor=team_member, statement="Better words"
    )
    html = client_for(viewer).get(page(initiative)).content.decode()
    history = html.split('id="history"')[1]
    assert "Vision</strong> changed by" in history
    assert "First words" in history and "Better words" in history
    assert team_member.get_full_name() in history


def test_stepper_shows_current_and_done_steps(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    html = client_for(viewer).get(page(initiative)).content.decode()
    stepper = html.split('class="stepper"')[1].split("</nav>")[0]
    assert stepper.count('class="is-done"') == 3
    assert 'class="is-current" aria-current="step"' in stepper


@pytest.mark.parametrize(
    ("step", "banner"),
    [
        (Step.CLOSED, '<p class="banner banner--done">Closed'),
        (Step.REJECTED, '<p class="banner banner--ended">Rejected'),
        (Step.CANCELLED, '<p class="banner banner--ended">Cancelled'),
    ],
)
def test_an_ended_initiative_says_how_it_ended(client_for, csi, initiative_at, step, banner):
    initiative = force_step(initiative_at(Step.SUSTAIN), step, closure_reason="Superseded")
    html = client_for(csi).get(page(initiative)).content.decode()
    assert banner in html
    assert ("Superseded" in html) == (step != Step.CLOSED)
    assert "This initiative has ended; there are no more moves." in html


def test_an_open_initiative_shows_no_ending(client_for, csi, initiative_at):
    html = client_for(csi).get(page(initiative_at(Step.SUSTAIN))).content.decode()
    assert "banner--" not in html and "has ended" not in html


@pytest.mark.parametrize("kpis", [1, 4])
def test_initiative_page_query_count_is_flat(
    client_for, team_member, initiative_at, kpis, django_assert_num_queries
):
    initiative = initiative_at(Step.ACTION)
    for n in range(kpis - 1):
        factories.KPIFactory(initiative=initiative)
        factories.ActionFactory(initiative=initiative, owner=team_member, title=f"more {n}")
    for kpi in initiative.kpis.all():
        Measurement.objects.create(kpi=kpi, value=9, measured_at=timezone.now())
    client = client_for(team_member)
    client.get(page(initiative))
    # 35: the KPIs' revisions are one prefetch, however many KPIs and revisions; 40 with
    # the hygiene panel's duplicates 1, the comment thread 1 (its mentions: + 1 with
    # comments, pinned in tests/web/test_comments.py), the benefits section 1, the
    # header's unread count 1 and the watchers panel 1
    with django_assert_num_queries(40):
        assert client.get(page(initiative)).status_code == 200


def test_edit_the_itsm_record_an_initiative_came_from(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    other = initiative_at(Step.ACTION)
    Initiative.objects.filter(pk=other.pk).update(external_system="jira", external_id="OPS-7")
    client = client_for(team_member)
    form = {
        "title": initiative.title, "source": initiative.source, "value": 3, "urgency": 3,
        "effort": 3, "accountable": team_member.pk, "responsible": [team_member.pk],
        "external_system": "servicenow", "external_id": "PRB0041337",
        "external_url": "https://example.service-now.com/problem.do?sys_id=1",
    }  # fmt: skip
    response = client.post(url("initiative-details", initiative.reference), form)
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert (initiative.external_system, initiative.external_id) == ("servicenow", "PRB0041337")
    page = client.get(url("initiative", initiative.reference)).content.decode()
    assert 'href="https://example.service-now.com/problem.do?sys_id=1"' in page
    # the same record twice in the register is refused, with the reason, and nothing changes
    response = client.post(
        url("initiative-details", initiative.reference),
        form | {"external_system": "jira", "external_id": "OPS-7"},
    )
    assert "already comes from this record" in after_redirect(client, response).content.decode()
    initiative.refresh_from_db()
    assert initiative.external_id == "PRB0041337"
