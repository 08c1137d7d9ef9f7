"""The register cannot be talked out of what the data says: every loophole of a verdict,
tried through the services the way an interface would, is closed — and says why."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from improvement import permissions, selectors, services, workflow
from improvement.choices import ActionStatus, Decision, Health, KPIStatus, Outcome, Step
from improvement.exceptions import Conflict, Forbidden, InvalidInput, TransitionBlocked
from improvement.models import KPI, Initiative, KPICheck, KPIRevision, Review

from ..conftest import force_step
from ..factories import GoalFactory, InitiativeFactory, ReviewFactory
from .conftest import at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]

TODAY = timezone.localdate()


def snapshot(*entries: tuple[str, str, float | None]) -> list[dict]:
    return [{"kpi": n.lower(), "name": n, "status": s, "progress": p} for n, s, p in entries]


# --- goalposts: baseline and target are locked after step 3 ---------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"target_value": 9.5},
        {"target_change_pct": -5},
        {"baseline_value": 12.0},
        {"target_date": TODAY + dt.timedelta(days=400)},
        {"direction": "increase", "target_value": 12.0},
        {"aggregation": "mean"},
        {"window_days": 7},
    ],
)
def test_a_kpi_definition_is_locked_once_the_initiative_left_step_three(kpi, team_member, change):
    # given a KPI of an initiative at step 5, checked on track
    services.measurement_record(
        kpi=kpi, actor=team_member, points=[{"value": 9, "measured_at": at(1)}]
    )
    kpi.refresh_from_db()
    before = KPI.objects.values().get(pk=kpi.pk)
    # when a team member moves the goalposts
    with pytest.raises(Conflict) as exc:
        services.kpi_update(kpi=kpi, actor=team_member, **change)
    # then it is refused, saying how to proceed, and nothing changed
    assert "locked since the initiative left step 3" in exc.value.message
    assert "re-baseline" in exc.value.message
    assert KPI.objects.values().get(pk=kpi.pk) == before
    assert not KPIRevision.objects.filter(kpi=kpi).exists()


def test_unlocked_fields_of_a_kpi_still_change_after_step_three(kpi, team_member):
    services.kpi_update(kpi=kpi, actor=team_member, name="MTTR (P2 and P3)", unit="hours")
    revision = KPIRevision.objects.get(kpi=kpi)
    assert revision.kind == KPIRevision.Kind.CHANGED
    assert revision.changes == {"name": ["Mean time to resolve", "MTTR (P2 and P3)"],
                                "unit": ["h", "hours"]}  # fmt: skip


def test_after_a_move_back_to_the_target_the_target_changes_with_a_revision(kpi, team_member):
    moved = services.initiative_transition(
        initiative=kpi.initiative, to=Step.TARGET, actor=team_member, comment="Too ambitious."
    )
    kpi = KPI.objects.get(pk=kpi.pk)
    assert kpi.initiative.step == moved.step == Step.TARGET
    services.kpi_update(kpi=kpi, actor=team_member, target_value=9.0)
    revision = KPIRevision.objects.get(kpi=kpi)
    assert (revision.by, revision.kind, revision.changes) == (
        team_member, KPIRevision.Kind.CHANGED, {"target_value": [8.0, 9.0]}
    )  # fmt: skip


def test_a_csi_manager_rebaselines_with_a_reason_and_the_earlier_checks_stay(kpi, csi, team_member):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9, "measured_at": at(1)}])
    checks_before = list(KPICheck.objects.filter(kpi=kpi).values())
    # a team member may not, and a CSI manager must say why
    with pytest.raises(Forbidden, match="Only a CSI manager"):
        services.kpi_rebaseline(kpi=kpi, actor=team_member, reason="x", target_value=8.5)
    with pytest.raises(InvalidInput) as exc:
        services.kpi_rebaseline(kpi=kpi, actor=csi, reason="  ", target_value=8.5)
    assert list(exc.value.errors) == ["reason"]
    services.kpi_rebaseline(
        kpi=kpi, actor=csi, reason="Scope grew to the EMEA desk.", target_value=8.5
    )
    revision = KPIRevision.objects.get(kpi=kpi)
    assert (revision.kind, revision.by, revision.reason, revision.changes) == (
        KPIRevision.Kind.REBASELINED, csi, "Scope grew to the EMEA desk.",
        {"target_value": [8.0, 8.5]},
    )  # fmt: skip
    # the checks made before the revision are kept as they were
    kept = KPICheck.objects.filter(pk__in=[c["id"] for c in checks_before])
    assert list(kept.values()) == checks_before


def test_defining_a_kpi_is_its_first_revision(initiative_at, team_member):
    kpi = services.kpi_create(
        initiative=initiative_at(Step.BASELINE), actor=team_member, key="fcr",
        name="First-contact resolution", direction="increase", baseline_value=58.0,
        baseline_date=TODAY,
    )  # fmt: skip
    revision = KPIRevision.objects.get(kpi=kpi)
    assert revision.kind == KPIRevision.Kind.DEFINED
    assert revision.changes["baseline_value"] == [None, 58.0]
    assert revision.changes["baseline_date"] == [None, TODAY.isoformat()]


def test_bad_input_is_a_400_before_the_lock_is_a_409(kpi, team_member):
    with pytest.raises(InvalidInput):
        services.kpi_update(kpi=kpi, actor=team_member, window_days=0)


# --- decisions and outcomes follow the data --------------------------------------------------


@pytest.mark.parametrize(
    "claim, entries, agrees",
    [
        (Decision.ACHIEVED, [("A", "achieved", 1.1)], True),
        (Decision.ACHIEVED, [("A", "achieved", 1.0), ("B", "on_track", 0.78)], False),
        (Decision.ACHIEVED, [], False),
        (Decision.IMPROVED, [("A", "on_track", 0.4), ("B", "at_risk", 0.0)], True),
        (Decision.IMPROVED, [("A", "achieved", 1.0), ("B", "regressed", -0.2)], False),
        (Decision.IMPROVED, [("A", "at_risk", 0.0), ("B", "no_data", None)], False),
        (Decision.IMPROVED, [("A", "reverted", 0.6)], False),
        (Decision.ITERATE, [("A", "regressed", -1.0)], True),
        (Decision.STOP, [("A", "regressed", -1.0)], True),
        (Outcome.SUCCESSFUL, [("A", "achieved", 1.0)], True),
        (Outcome.SUCCESSFUL, [("A", "on_track", 0.78)], False),
        (Outcome.PARTIALLY_SUCCESSFUL, [("A", "achieved", 1.0), ("B", "at_risk", 0.1)], True),
        (Outcome.PARTIALLY_SUCCESSFUL, [("A", "regressed", -0.1)], False),
        (Outcome.UNSUCCESSFUL, [("A", "achieved", 1.0)], True),
    ],
)
def test_what_a_decision_or_outcome_claims_is_checked_against_the_snapshot(claim, entries, agrees):
    conflicts = workflow.data_conflicts(claim, snapshot(*entries))
    assert (conflicts == []) is agrees


def test_the_outcome_proposed_is_the_one_the_data_supports():
    assert workflow.proposed_outcome(snapshot(("A", "achieved", 1.0))) == Outcome.SUCCESSFUL
    assert (
        workflow.proposed_outcome(snapshot(("A", "achieved", 1.0), ("B", "on_track", 0.78)))
        == Outcome.PARTIALLY_SUCCESSFUL
    )
    assert workflow.proposed_outcome(snapshot(("A", "regressed", -1))) == Outcome.UNSUCCESSFUL


def test_a_review_decision_that_contradicts_the_kpis_is_refused(kpi, team_member, state_of):
    # given a KPI only on track (78 %) at the review
    services.measurement_record(
        kpi=kpi, actor=team_member, points=[{"value": 8.44, "measured_at": at(1)}]
    )
    initiative = force_step(kpi.initiative, Step.REVIEW)
    before = state_of(initiative)
    # when the team decides "achieved"
    with pytest.raises(InvalidInput) as exc:
        services.review_create(initiative=initiative, actor=team_member, decision="achieved")
    # then it is refused, naming the KPI, and nothing is written
    assert (
        "KPI 'Mean time to resolve' is on track, 78 % of the way, not achieved."
        in (exc.value.errors["decision"])
    )
    assert state_of(initiative) == before
    assert not Review.objects.filter(initiative=initiative).exists()


def test_an_override_with_a_justification_is_kept_and_only_then(kpi, team_member):
    services.measurement_record(
        kpi=kpi, actor=team_member, points=[{"value": 8.44, "measured_at": at(1)}]
    )
    initiative = force_step(kpi.initiative, Step.REVIEW)
    review = services.review_create(
        initiative=initiative, actor=team_member, decision="achieved",
        decision_override="The last 22 % land with the release on Monday; sponsor agreed.",
    )  # fmt: skip
    assert Review.objects.get(pk=review.pk).decision_override.startswith("The last 22 %")


def test_an_agreeing_decision_keeps_no_override(kpi, team_member):
    initiative = force_step(kpi.initiative, Step.REVIEW)
    review = services.review_create(
        initiative=initiative, actor=team_member, decision="iterate", decision_override="n/a"
    )
    assert Review.objects.get(pk=review.pk).decision_override == ""


def test_closing_successful_needs_every_kpi_achieved_or_an_override(initiative_at, csi, state_of):
    initiative = initiative_at(Step.SUSTAIN)
    initiative.reviews.all().delete()
    ReviewFactory(initiative=initiative, iteration=1, decision="improved",
                  kpi_snapshot=snapshot(("MTTR", "on_track", 0.78)))  # fmt: skip
    before = state_of(initiative)
    with pytest.raises(TransitionBlocked) as exc:
        services.initiative_transition(
            initiative=initiative, to=Step.CLOSED, actor=csi, outcome=Outcome.SUCCESSFUL
        )
    assert exc.value.reasons[0] == "KPI 'MTTR' is on track, 78 % of the way, not achieved."
    assert "choose 'Partially successful'" in exc.value.reasons[-1]
    assert state_of(initiative) == before
    closed = services.initiative_transition(
        initiative=initiative, to=Step.CLOSED, actor=csi, outcome=Outcome.SUCCESSFUL,
        override="Audit finding closed; the KPI target was a stretch.",
    )  # fmt: skip
    row = Initiative.objects.get(pk=closed.pk)
    assert (row.outcome, row.outcome_override) == (
        Outcome.SUCCESSFUL, "Audit finding closed; the KPI target was a stretch."
    )  # fmt: skip


# --- stale views: a move or an edit from an out-of-date page -------------------------------


def test_a_move_from_a_page_showing_another_step_is_a_conflict(initiative_at, csi, state_of):
    initiative = initiative_at(Step.ACTION)
    before = state_of(initiative)
    with pytest.raises(Conflict) as exc:
        services.initiative_transition(
            initiative=initiative, to=Step.CANCELLED, actor=csi, from_step=Step.PLAN,
            reason="Stale.", lessons_learned="None.",
        )  # fmt: skip
    assert "it is now in '5 · Take action', not '4 · How do we get there?'" in exc.value.message
    assert state_of(initiative) == before


def test_an_edit_of_a_record_changed_since_it_was_opened_is_a_conflict(
    initiative_at, team_member, csi
):
    initiative = initiative_at(Step.VISION)
    vision = initiative.vision
    opened = services.record_version(vision)
    services.step_record_update(
        initiative=initiative, record="vision", actor=csi, version=opened,
        statement="Every password reset is self-service.",
    )  # fmt: skip
    with pytest.raises(Conflict) as exc:
        services.step_record_update(
            initiative=initiative, record="vision", actor=team_member, version=opened,
            statement="Fewer resets.",
        )  # fmt: skip
    assert "changed by csi" in exc.value.message
    assert "statement" in exc.value.message
    initiative.vision.refresh_from_db()
    assert initiative.vision.statement == "Every password reset is self-service."
    # from the current version the edit goes through
    services.step_record_update(
        initiative=initiative, record="vision", actor=team_member,
        version=services.record_version(initiative.vision), statement="Fewer resets.",
    )  # fmt: skip


# --- the same ticket twice -----------------------------------------------------------------


@pytest.mark.parametrize(
    "system, external_id", [("ServiceNow", "PRB0040012"), (" servicenow ", "prb0040012 ")]
)
def test_an_external_reference_matches_whatever_its_case_and_spaces(
    integration, system, external_id
):
    first, created = services.initiative_create_or_get(
        actor=integration, title="Failover", external_system="servicenow",
        external_id="PRB0040012",
    )  # fmt: skip
    again, created_again = services.initiative_create_or_get(
        actor=integration, title="Failover", external_system=system, external_id=external_id
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Initiative.objects.count() == 1


def test_the_database_refuses_the_same_reference_in_another_case():
    InitiativeFactory(external_system="servicenow", external_id="PRB1")
    with pytest.raises(IntegrityError), transaction.atomic():
        InitiativeFactory(external_system="SERVICENOW", external_id="prb1")


# --- the integration hands out no rights ----------------------------------------------------


def test_an_integration_suggests_owner_and_goals_which_apply_on_acceptance(
    integration, team_member, csi
):
    goal = GoalFactory()
    initiative = services.initiative_create(
        actor=integration, title="Disk space", accountable=team_member, goals=[goal]
    )
    row = Initiative.objects.get(pk=initiative.pk)
    # nothing takes effect before triage: no owner, no goals, no edit rights
    assert (row.accountable, list(row.goals.all())) == (None, [])
    assert (row.suggested_accountable, list(row.suggested_goals.all())) == (team_member, [goal])
    assert not permissions.may_edit(team_member, row)
    # the CSI manager's acceptance applies them
    services.initiative_transition(initiative=row, to=Step.VISION, actor=csi)
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.accountable, list(row.goals.all())) == (team_member, [goal])
    assert row.suggested_accountable is None and not row.suggested_goals.exists()


def test_an_integration_may_not_set_raci(integration, team_member):
    with pytest.raises(InvalidInput) as exc:
        services.initiative_create(actor=integration, title="x", responsible=[team_member])
    assert list(exc.value.errors) == ["responsible"]
    assert not Initiative.objects.exists()


def test_only_someone_who_may_edit_can_be_accountable(csi, viewer, initiative_at):
    with pytest.raises(InvalidInput) as exc:
        services.initiative_create(actor=csi, title="Orphan", accountable=viewer)
    assert "cannot be accountable" in exc.value.errors["accountable"][0]
    initiative = initiative_at(Step.VISION)
    with pytest.raises(InvalidInput):
        services.initiative_update(initiative=initiative, actor=csi, accountable=viewer)


# --- health of ended initiatives, and refusals that say who may ----------------------------


def test_a_cancelled_initiative_shows_no_health(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 11, "measured_at": at(1)}])
    assert Initiative.objects.get(pk=kpi.initiative_id).health == KPIStatus.REGRESSED
    services.initiative_transition(
        initiative=kpi.initiative, to=Step.CANCELLED, actor=csi, reason="No budget.",
        lessons_learned="Fund first.",
    )  # fmt: skip
    assert Initiative.objects.get(pk=kpi.initiative_id).health == Health.NONE
    services.kpis_check(kpi_ids=[kpi.pk])
    assert Initiative.objects.get(pk=kpi.initiative_id).health == Health.NONE


def test_a_closed_initiative_shows_a_revert(kpi, csi):
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 7.9, "measured_at": at(3)}])
    force_step(kpi.initiative, Step.CLOSED)
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9.5, "measured_at": at(1)}])
    assert Initiative.objects.get(pk=kpi.initiative_id).health == KPIStatus.REVERTED


@pytest.mark.parametrize(
    "call, needed",
    [
        (lambda i, u: services.initiative_update(initiative=i, actor=u, title="x"),
         "accountable owner (A) or a responsible person (R)"),
        (lambda i, u: services.initiative_transition(initiative=i, to="cancelled", actor=u,
                                                     reason="r", lessons_learned="l"),
         "Only a CSI manager may accept, reject, cancel or close"),
        (lambda i, u: services.initiative_transition(initiative=i, to="review", actor=u),
         "accountable owner (A) or a responsible person (R)"),
    ],
)  # fmt: skip
def test_every_refusal_names_the_role_or_raci_position_needed(initiative_at, viewer, call, needed):
    initiative = initiative_at(Step.ACTION)
    with pytest.raises(Forbidden) as exc:
        call(initiative, viewer)
    assert needed in exc.value.message


# --- on hold ----------------------------------------------------------------------------------


def test_on_hold_needs_a_reason_and_a_resume_date_not_in_the_past(initiative_at, team_member):
    initiative = initiative_at(Step.ACTION)
    with pytest.raises(TransitionBlocked) as exc:
        services.initiative_transition(initiative=initiative, to=Step.ON_HOLD, actor=team_member)
    assert exc.value.reasons == [
        "Say why it is put on hold (a reason is required).",
        "A resume-by date is required.",
    ]
    with pytest.raises(InvalidInput) as bad:
        services.initiative_transition(
            initiative=initiative, to=Step.ON_HOLD, actor=team_member, reason="Freeze.",
            resume_by=(TODAY - dt.timedelta(days=1)).isoformat(),
        )  # fmt: skip
    assert list(bad.value.errors) == ["resume_by"]


def test_on_hold_returns_to_the_step_it_left_and_keeps_measuring(kpi, team_member):
    initiative = kpi.initiative
    held = services.initiative_transition(
        initiative=initiative, to=Step.ON_HOLD, actor=team_member, comment="Change freeze.",
        resume_by=(TODAY + dt.timedelta(days=20)).isoformat(),
    )  # fmt: skip
    assert (held.step, held.held_from, held.hold_reason) == (
        Step.ON_HOLD, Step.ACTION, "Change freeze."
    )  # fmt: skip
    assert held.hold_until == TODAY + dt.timedelta(days=20)
    # KPIs keep being checked while on hold
    assert selectors.live_kpis().filter(pk=kpi.pk).exists()
    services.measurement_record(
        kpi=kpi, actor=team_member, points=[{"value": 9, "measured_at": at(1)}]
    )
    assert KPI.objects.get(pk=kpi.pk).status == KPIStatus.ON_TRACK
    # the only way on is back to where it was (or cancel)
    moves = [t.to for t in workflow.allowed_transitions(held, team_member)]
    assert moves == [Step.ACTION, Step.CANCELLED]
    # ten days on hold: shown, and not counted as age
    Initiative.objects.filter(pk=held.pk).update(
        held_since=timezone.now() - dt.timedelta(days=10),
        created_at=timezone.now() - dt.timedelta(days=30),
    )
    held = Initiative.objects.get(pk=held.pk)
    assert (held.on_hold_days, held.age_days) == (10, 20)
    resumed = services.initiative_transition(initiative=held, to=Step.ACTION, actor=team_member)
    assert (resumed.step, resumed.held_from, resumed.hold_days) == (Step.ACTION, "", 10)
    assert Initiative.objects.get(pk=held.pk).age_days == 20


def test_while_on_hold_the_kpi_definition_stays_locked_as_where_it_came_from(kpi, team_member):
    services.initiative_transition(
        initiative=kpi.initiative, to=Step.ON_HOLD, actor=team_member, reason="Freeze.",
        resume_by=timezone.localdate().isoformat(),  # today when it runs (TODAY is at import)
    )  # fmt: skip
    kpi = KPI.objects.get(pk=kpi.pk)
    with pytest.raises(Conflict):
        services.kpi_update(kpi=kpi, actor=team_member, target_value=9.5)


def test_a_done_action_of_an_earlier_iteration_does_not_open_the_review(initiative_at, csi):
    initiative = initiative_at(Step.ACTION)
    assert initiative.actions.filter(status=ActionStatus.DONE, iteration=1).exists()
    initiative = force_step(initiative, Step.ACTION, iteration=2)
    with pytest.raises(TransitionBlocked) as exc:
        services.initiative_transition(initiative=initiative, to=Step.REVIEW, actor=csi)
    assert exc.value.reasons == ["No action is done yet in iteration 2."]
