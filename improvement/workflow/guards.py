"""The guards of the seven steps and the predicates every interface asks of the workflow.

A guard is a pure function of the initiative that returns the unmet conditions in the
user's words (empty list: it may move).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist

from ..choices import (
    KPI_DEFINITION_OPEN_STEPS,
    ActionStatus,
    Decision,
    KPIStatus,
    Outcome,
    Step,
)

if TYPE_CHECKING:
    from ..models import Initiative

Guard = Callable[["Initiative"], list[str]]

#: the step a review's decision leads to
DECISION_TARGETS: dict[str, str] = {
    Decision.ACHIEVED: Step.SUSTAIN,
    Decision.IMPROVED: Step.SUSTAIN,
    Decision.ITERATE: Step.PLAN,
    Decision.REVISIT_TARGET: Step.TARGET,
    Decision.REVISIT_BASELINE: Step.BASELINE,
    Decision.STOP: Step.CANCELLED,
}

#: every state from which an initiative may be cancelled
CANCELLABLE = [
    Step.PROPOSED,
    Step.VISION,
    Step.BASELINE,
    Step.TARGET,
    Step.PLAN,
    Step.ACTION,
    Step.REVIEW,
    Step.SUSTAIN,
    Step.ON_HOLD,
]


def _record(initiative: Initiative, name: str):
    """The one-to-one step record `name` of the initiative, or None if not written yet."""
    try:
        return getattr(initiative, name)
    except ObjectDoesNotExist:
        return None


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- guards: pure functions returning the unmet conditions --------------------------------


def vision_reasons(initiative: Initiative) -> list[str]:
    """Step 1 is complete: statement, ≥ 1 goal, an accountable owner, the expected value."""
    vision = _record(initiative, "vision")
    reasons = []
    if vision is None or _blank(vision.statement):
        reasons.append("The vision statement is missing.")
    if not initiative.goals.exists():
        reasons.append("The initiative is not linked to any organisational goal.")
    if initiative.accountable_id is None:
        reasons.append("No accountable owner is set.")
    if vision is None or _blank(vision.expected_value):
        reasons.append("The expected value is not described.")
    return reasons


def baseline_reasons(initiative: Initiative) -> list[str]:
    """Step 2 is complete: every KPI has a baseline value and date, or (no KPIs) a narrative."""
    kpis = list(initiative.kpis.all())
    reasons = []
    if not kpis:
        baseline = _record(initiative, "baseline")
        if baseline is None or _blank(baseline.assessment):
            reasons.append(
                "Describe where we are now (the baseline assessment) or add a KPI with a baseline."
            )
    for kpi in kpis:
        if kpi.baseline_value is None:
            reasons.append(f"KPI '{kpi.name}' has no baseline value.")
        if kpi.baseline_date is None:
            reasons.append(f"KPI '{kpi.name}' has no baseline date.")
    return reasons


def target_reasons(initiative: Initiative) -> list[str]:
    """Step 3 is complete: ≥ 1 KPI, each with baseline and target, target date after baseline."""
    kpis = list(initiative.kpis.all())
    if not kpis:
        return ["Add at least one KPI with a baseline and a target."]
    reasons = []
    for kpi in kpis:
        if kpi.baseline_value is None:
            reasons.append(f"KPI '{kpi.name}' has no baseline value.")
        if kpi.target_value is None:
            reasons.append(f"KPI '{kpi.name}' has no target value.")
        if kpi.target_date is None:
            reasons.append(f"KPI '{kpi.name}' has no target date.")
        elif kpi.baseline_date and kpi.target_date <= kpi.baseline_date:
            reasons.append(f"KPI '{kpi.name}' has a target date that is not after its baseline.")
    return reasons


def _this_iteration(initiative: Initiative, text: str) -> str:
    """`text`, naming the iteration once there is more than one."""
    return f"{text} in iteration {initiative.iteration}" if initiative.iteration > 1 else text


def plan_reasons(initiative: Initiative) -> list[str]:
    """Step 4 is complete: an approach and at least one action planned in this iteration
    (an earlier iteration's actions do not plan this one)."""
    plan = _record(initiative, "plan")
    reasons = []
    if plan is None or _blank(plan.approach):
        reasons.append("The plan has no approach.")
    planned = initiative.actions.filter(iteration=initiative.iteration).exclude(
        status=ActionStatus.DROPPED
    )
    if not planned.exists():
        reasons.append(_this_iteration(initiative, "No action is planned") + ".")
    return reasons


def action_reasons(initiative: Initiative) -> list[str]:
    """Step 5 may move to review once an action of this iteration is done."""
    done = initiative.actions.filter(iteration=initiative.iteration, status=ActionStatus.DONE)
    if not done.exists():
        return [_this_iteration(initiative, "No action is done yet") + "."]
    return []


def review_reasons_for(target: str) -> Guard:
    """Step 6: this iteration's review exists and its decision leads to `target`."""

    def reasons(initiative: Initiative) -> list[str]:
        review = current_review(initiative)
        if review is None:
            return [f"There is no review of iteration {initiative.iteration} yet."]
        leads_to = DECISION_TARGETS[review.decision]
        if leads_to != target:
            return [
                f"The review decided '{review.get_decision_display()}', which leads to "
                f"'{Step(leads_to).label}', not '{Step(target).label}'."
            ]
        return []

    reasons.__name__ = f"review_decides_{target}"
    return reasons


def sustain_reasons(initiative: Initiative) -> list[str]:
    """Step 7 is complete: lessons learned and embedding measures are recorded."""
    sustain = _record(initiative, "sustain")
    reasons = []
    if sustain is None or _blank(sustain.lessons_learned):
        reasons.append("Lessons learned are not recorded.")
    if sustain is None or _blank(sustain.embedding):
        reasons.append("Embedding measures (knowledge, training, controls) are not recorded.")
    return reasons


# --- predicates every interface asks ------------------------------------------------------


def working_step(initiative: Initiative) -> str:
    """The step the initiative works in: its step, or the one it left while on hold."""
    return initiative.held_from if initiative.step == Step.ON_HOLD else initiative.step


def kpi_definition_locked(initiative: Initiative) -> bool:
    """Whether its KPIs' baselines and targets are locked: once it has left step 3, they
    change only after a move back to the target or the baseline, or by a CSI manager's
    re-baseline with a reason (services.kpis)."""
    step = working_step(initiative)
    return step not in KPI_DEFINITION_OPEN_STEPS


def _progressed(entry: dict) -> bool:
    progress = entry.get("progress")
    return entry.get("status") == KPIStatus.ACHIEVED or (progress is not None and progress > 0)


def _worse(entry: dict) -> bool:
    return entry.get("status") in (KPIStatus.REGRESSED, KPIStatus.REVERTED)


def _kpi_words(entry: dict) -> str:
    status = KPIStatus(entry["status"]).label.lower() if entry.get("status") else "unchecked"
    progress = entry.get("progress")
    share = f", {progress * 100:.0f} % of the way" if progress is not None else ""
    return f"KPI '{entry.get('name') or entry.get('kpi')}' is {status}{share}"


def data_conflicts(claim: str, snapshot: list[dict]) -> list[str]:
    """What in a KPI snapshot contradicts a review decision or a closing outcome.

    `achieved` and `successful` need every KPI achieved; `improved` and
    `partially_successful` need none regressed (or reverted) and at least one that
    progressed. The other decisions and outcomes claim no result, so nothing contradicts
    them. Empty: the claim agrees with the data.
    """
    if claim in (Decision.ACHIEVED, Outcome.SUCCESSFUL):
        if not snapshot:
            return ["There are no KPIs to show that the targets were achieved."]
        return [
            _kpi_words(e) + ", not achieved." for e in snapshot if e.get("status") != "achieved"
        ]
    if claim in (Decision.IMPROVED, Outcome.PARTIALLY_SUCCESSFUL):
        reasons = [_kpi_words(e) + "." for e in snapshot if _worse(e)]
        if not any(_progressed(e) for e in snapshot):
            reasons.append("No KPI moved towards its target.")
        return reasons
    return []


def proposed_outcome(snapshot: list[dict]) -> str:
    """The closing outcome the data supports: successful when every KPI was achieved,
    partially successful when none got worse and one progressed, else unsuccessful."""
    if not data_conflicts(Outcome.SUCCESSFUL, snapshot):
        return Outcome.SUCCESSFUL
    if not data_conflicts(Outcome.PARTIALLY_SUCCESSFUL, snapshot):
        return Outcome.PARTIALLY_SUCCESSFUL
    return Outcome.UNSUCCESSFUL


def last_review_snapshot(initiative: Initiative) -> list[dict]:
    """The KPI snapshot of its latest review (what a closing outcome must agree with)."""
    review = initiative.reviews.order_by("-iteration").first()
    return list(review.kpi_snapshot or []) if review is not None else []


def _outcome_reasons(initiative: Initiative, inputs: dict) -> list[str]:
    """Closing: the outcome agrees with the last review's KPIs, or an override says why."""
    outcome = inputs.get("outcome")
    if _blank(outcome) or not _blank(inputs.get("override")):
        return []
    snapshot = last_review_snapshot(initiative)
    conflicts = data_conflicts(outcome, snapshot)
    if not conflicts:
        return []
    label = Outcome(outcome).label if outcome in Outcome.values else outcome
    return [
        *conflicts,
        f"The outcome '{label}' does not agree with the KPIs of the last review: choose "
        f"'{Outcome(proposed_outcome(snapshot)).label}', or give a justification to record "
        "it as an override.",
    ]


def current_review(initiative: Initiative):
    """This iteration's review, from the prefetched reviews when the caller loaded them."""
    cache = getattr(initiative, "_prefetched_objects_cache", {})
    if "reviews" in cache:
        return next((r for r in cache["reviews"] if r.iteration == initiative.iteration), None)
    return initiative.reviews.filter(iteration=initiative.iteration).first()


def review_blockers(initiative: Initiative) -> list[str]:
    """Why a review cannot be recorded now (empty: it can). One review per iteration, in
    step 6."""
    if initiative.step != Step.REVIEW:
        return [
            f"A review is written in step 6; this initiative is in '{Step(initiative.step).label}'."
        ]
    if current_review(initiative) is not None:
        return [f"Iteration {initiative.iteration} already has a review."]
    return []


def may_record_review(initiative: Initiative) -> bool:
    """Whether this iteration's review may be recorded now (see review_blockers)."""
    return not review_blockers(initiative)


#: the states from which an initiative may be deleted (later, only cancelled)
DELETABLE = (Step.PROPOSED, Step.REJECTED)


def deletion_blockers(initiative: Initiative) -> list[str]:
    """Why the initiative cannot be deleted (empty: it can). Only what never got going."""
    if initiative.step not in DELETABLE:
        return [
            f"Only proposed or rejected initiatives can be deleted; this one is "
            f"'{Step(initiative.step).label}'. Cancel it instead."
        ]
    return []


def no_reasons(initiative: Initiative) -> list[str]:
    """No condition to meet (back moves, intake decisions)."""
    return []


def _ok(guard: Guard) -> Callable[[Initiative], bool]:
    """Adapts a reasons-guard to django-fsm's boolean condition.

    django-fsm checks the conditions again when the transition method runs; the answer
    unmet_conditions just gave for this instance and step is used once instead of asking
    the guard (and the database) a second time in the same move.
    """

    def condition(initiative: Initiative) -> bool:
        answers = initiative.__dict__.get("_guard_answers", {})
        key = (guard, initiative.step)
        if key in answers:
            return not answers.pop(key)
        return not guard(initiative)

    condition.__name__ = guard.__name__
    return condition
