"""The seven-step state machine (SPEC §2), declared once with django-fsm-2.

Each transition names its sources, target, guard and permission. A guard is a pure
function of the initiative that returns the unmet conditions in the user's words (empty
list: it may move). `services.initiative_transition` is the only caller of the transition
methods; it locks the row, checks, moves and writes the log in one transaction.

The state diagram in docs/ is drawn from this module (`manage.py workflow_diagram`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django_fsm import RETURN_VALUE, transition

from . import permissions
from .choices import (
    HOLDABLE_STEPS,
    KPI_DEFINITION_OPEN_STEPS,
    SEVEN_STEPS,
    ActionStatus,
    Decision,
    KPIStatus,
    Outcome,
    Step,
)

if TYPE_CHECKING:
    from .models import Initiative

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
    conflicts = data_conflicts(outcome, last_review_snapshot(initiative))
    if not conflicts:
        return []
    label = Outcome(outcome).label if outcome in Outcome.values else outcome
    return [
        *conflicts,
        f"The outcome '{label}' does not agree with the KPIs of the last review: choose "
        f"'{Outcome(proposed_outcome(last_review_snapshot(initiative))).label}', or give a "
        "justification to record it as an override.",
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


@dataclass(frozen=True)
class Requirement:
    """An input the actor must give with a move (a reason, lessons learned, an outcome)."""

    name: str
    message: str


REASON = Requirement("reason", "A reason is required.")
BACK_REASON = Requirement("reason", "Say why it goes back (a reason is required).")
LESSONS = Requirement("lessons_learned", "Lessons learned are required to cancel.")
OUTCOME = Requirement("outcome", "An outcome is required to close.")
HOLD_REASON = Requirement("reason", "Say why it is put on hold (a reason is required).")
RESUME_BY = Requirement("resume_by", "A resume-by date is required.")


@dataclass(frozen=True)
class Move:
    """What the UI and API need to know about a transition besides its source and target."""

    label: str
    guard: Guard = no_reasons
    requires: tuple[Requirement, ...] = field(default_factory=tuple)
    back: bool = False
    #: conditions on the inputs given with the move (an outcome that agrees with the data)
    check: Callable[[Initiative, dict], list[str]] | None = None
    #: how the interfaces show it: "danger" ends it unfinished, "primary" completes it
    tone: str = ""


def _custom(move: Move) -> dict:
    return {"move": move}


ACCEPT = Move("Accept")
REJECT = Move("Reject", requires=(REASON,), tone="danger")
TO_BASELINE = Move("Move to 2 · Where are we now?", vision_reasons)
TO_TARGET = Move("Move to 3 · Where do we want to be?", baseline_reasons)
TO_PLAN = Move("Move to 4 · How do we get there?", target_reasons)
TO_ACTION = Move("Start 5 · Take action", plan_reasons)
TO_REVIEW = Move("Move to 6 · Did we get there?", action_reasons)
REPLAN = Move("Back to the plan", requires=(BACK_REASON,), back=True)
RETARGET = Move("Back to the target", requires=(BACK_REASON,), back=True)
ITERATE = Move(
    "Next iteration: back to the plan",
    review_reasons_for(Step.PLAN),
    requires=(BACK_REASON,),
    back=True,
)
REVISIT_TARGET = Move(
    "Revisit the target", review_reasons_for(Step.TARGET), requires=(BACK_REASON,), back=True
)
REVISIT_BASELINE = Move(
    "Revisit the baseline", review_reasons_for(Step.BASELINE), requires=(BACK_REASON,), back=True
)
TO_SUSTAIN = Move("Move to 7 · Keep the momentum going", review_reasons_for(Step.SUSTAIN))
CLOSE = Move("Close", sustain_reasons, requires=(OUTCOME,), check=_outcome_reasons, tone="primary")
CANCEL = Move("Cancel", requires=(REASON, LESSONS), tone="danger")
HOLD = Move("Put on hold", requires=(HOLD_REASON, RESUME_BY))
RESUME = Move("Resume")


class InitiativeWorkflow:
    """Transition methods of Initiative. Call them only through services.initiative_transition.

    Each method receives the inputs its Move requires as keyword arguments.
    """

    # intake (CSI manager)
    @transition(
        field="step",
        source=Step.PROPOSED,
        target=Step.VISION,
        permission=permissions.may_decide_intake,
        custom=_custom(ACCEPT),
    )
    def accept(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.PROPOSED,
        target=Step.REJECTED,
        permission=permissions.may_decide_intake,
        custom=_custom(REJECT),
    )
    def reject(self, *, reason: str = "", **inputs) -> None:
        self.closure_reason = reason
        self.closed_at = timezone.now()

    # forward through the seven steps
    @transition(
        field="step",
        source=Step.VISION,
        target=Step.BASELINE,
        conditions=[_ok(TO_BASELINE.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_BASELINE),
    )
    def to_baseline(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.BASELINE,
        target=Step.TARGET,
        conditions=[_ok(TO_TARGET.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_TARGET),
    )
    def to_target(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.TARGET,
        target=Step.PLAN,
        conditions=[_ok(TO_PLAN.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_PLAN),
    )
    def to_plan(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.PLAN,
        target=Step.ACTION,
        conditions=[_ok(TO_ACTION.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_ACTION),
    )
    def to_action(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.ACTION,
        target=Step.REVIEW,
        conditions=[_ok(TO_REVIEW.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_REVIEW),
    )
    def to_review(self, **inputs) -> None:
        pass

    # back moves during action
    @transition(
        field="step",
        source=Step.ACTION,
        target=Step.PLAN,
        permission=permissions.may_move,
        custom=_custom(REPLAN),
    )
    def replan(self, **inputs) -> None:
        pass

    @transition(
        field="step",
        source=Step.ACTION,
        target=Step.TARGET,
        permission=permissions.may_move,
        custom=_custom(RETARGET),
    )
    def retarget(self, **inputs) -> None:
        pass

    # the review's decision picks the next state; going back starts the next iteration
    @transition(
        field="step",
        source=Step.REVIEW,
        target=Step.PLAN,
        conditions=[_ok(ITERATE.guard)],
        permission=permissions.may_move,
        custom=_custom(ITERATE),
    )
    def iterate(self, **inputs) -> None:
        self.iteration += 1

    @transition(
        field="step",
        source=Step.REVIEW,
        target=Step.TARGET,
        conditions=[_ok(REVISIT_TARGET.guard)],
        permission=permissions.may_move,
        custom=_custom(REVISIT_TARGET),
    )
    def revisit_target(self, **inputs) -> None:
        self.iteration += 1

    @transition(
        field="step",
        source=Step.REVIEW,
        target=Step.BASELINE,
        conditions=[_ok(REVISIT_BASELINE.guard)],
        permission=permissions.may_move,
        custom=_custom(REVISIT_BASELINE),
    )
    def revisit_baseline(self, **inputs) -> None:
        self.iteration += 1

    @transition(
        field="step",
        source=Step.REVIEW,
        target=Step.SUSTAIN,
        conditions=[_ok(TO_SUSTAIN.guard)],
        permission=permissions.may_move,
        custom=_custom(TO_SUSTAIN),
    )
    def to_sustain(self, **inputs) -> None:
        pass

    # endings (CSI manager)
    @transition(
        field="step",
        source=Step.SUSTAIN,
        target=Step.CLOSED,
        conditions=[_ok(CLOSE.guard)],
        permission=permissions.may_end,
        custom=_custom(CLOSE),
    )
    def close(self, *, outcome: str = "", override: str = "", **inputs) -> None:
        self.outcome = outcome
        self.outcome_override = override or ""
        self.closed_at = timezone.now()

    @transition(
        field="step",
        source=CANCELLABLE,
        target=Step.CANCELLED,
        permission=permissions.may_end,
        custom=_custom(CANCEL),
    )
    def cancel(self, *, reason: str = "", **inputs) -> None:
        self.closure_reason = reason
        self.closed_at = timezone.now()

    # a pause from any live step, back to the step it left
    @transition(
        field="step",
        source=list(HOLDABLE_STEPS),
        target=Step.ON_HOLD,
        permission=permissions.may_move,
        custom=_custom(HOLD),
    )
    def hold(self, *, reason: str = "", resume_by=None, **inputs) -> None:
        self.held_from = self.step
        self.hold_reason = reason
        self.hold_until = resume_by
        self.held_since = timezone.now()

    @transition(
        field="step",
        source=Step.ON_HOLD,
        target=RETURN_VALUE(*HOLDABLE_STEPS),
        permission=permissions.may_move,
        custom=_custom(RESUME),
    )
    def resume(self, **inputs) -> str:
        back_to = self.held_from
        if self.held_since is not None:
            self.hold_days += (timezone.now() - self.held_since).days
        self.held_from, self.hold_reason, self.hold_until, self.held_since = "", "", None, None
        return back_to


@dataclass(frozen=True)
class AllowedTransition:
    """One possible next state for a user: whether it is allowed now, and why not."""

    to: str
    label: str
    method: str
    allowed: bool
    permitted: bool
    reasons: list[str]
    requires: tuple[str, ...]
    back: bool
    tone: str = ""

    def as_dict(self) -> dict:
        return {
            "to": str(self.to),
            "label": self.label,
            "allowed": self.allowed,
            "permitted": self.permitted,
            "reasons": list(self.reasons),
            "requires": list(self.requires),
            "back": self.back,
        }


def target_of(t, initiative: Initiative) -> str:
    """Where transition `t` leads this initiative (resuming: the step it was held from)."""
    return t.target if isinstance(t.target, str) else initiative.held_from


def transitions_from(initiative: Initiative) -> list:
    """django-fsm Transition objects leaving the initiative's current step.

    Ordered for display: forward moves first, then back moves, then hold, reject and cancel.
    """
    found = [t for t in initiative.get_all_step_transitions() if t.source == initiative.step]
    last = (Step.ON_HOLD, Step.REJECTED, Step.CANCELLED)

    def order(t) -> tuple:
        target = target_of(t, initiative)
        return (last.index(target) + 1 if target in last else 0, t.custom["move"].back)

    return sorted(found, key=order)


def find_transition(initiative: Initiative, to: str):
    """The transition from the initiative's current step to `to`, or None."""
    for t in transitions_from(initiative):
        if target_of(t, initiative) == to:
            return t
    return None


def unmet_conditions(initiative: Initiative, t, inputs: dict | None = None) -> list[str]:
    """Every unmet condition of transition `t`, including the inputs it requires."""
    move: Move = t.custom["move"]
    reasons = list(move.guard(initiative))
    # the move that may follow reuses this answer once (see _ok)
    initiative.__dict__.setdefault("_guard_answers", {})[(move.guard, initiative.step)] = reasons
    reasons = list(reasons)
    if inputs is not None:
        for req in move.requires:
            if _blank(inputs.get(req.name)):
                reasons.append(req.message)
        if move.check is not None:
            reasons.extend(move.check(initiative, inputs))
    return reasons


def allowed_transitions(initiative: Initiative, user) -> list[AllowedTransition]:
    """Each next state with whether `user` may take it now and its unmet conditions.

    A move the user has no permission for is listed with permitted=False so that the
    UI can leave it out; the API shows it, with the reason.
    """
    result = []
    for t in transitions_from(initiative):
        move: Move = t.custom["move"]
        permitted = t.has_perm(initiative, user)
        reasons = list(move.guard(initiative))
        if not permitted:
            reasons.insert(0, permissions.move_denial(t.permission, initiative, user))
        result.append(
            AllowedTransition(
                to=str(target_of(t, initiative)),
                label=move.label,
                method=t.name,
                allowed=permitted and not reasons,
                permitted=permitted,
                reasons=reasons,
                requires=tuple(r.name for r in move.requires),
                back=move.back,
                tone=move.tone,
            )
        )
    return result


def offered_move(initiative: Initiative, user, to: str) -> Move | None:
    """The move to `to` if there is one from here and `user` may make it (its guard is
    not asked: the service asks it once, when the move is made); else None."""
    t = find_transition(initiative, to)
    if t is None or not t.has_perm(initiative, user):
        return None
    return t.custom["move"]


def steps_done(initiative: Initiative) -> set[str]:
    """The seven steps the initiative has completed: every step it has left forward (from
    its transition log, prefetched or not), every step before the one it is in (or was
    in, when on hold), and all seven once closed."""
    order = list(SEVEN_STEPS)
    done: set[str] = set()
    for log in initiative.transitions.all():
        if log.from_step not in order:
            continue  # accepted, resumed: no step of the seven was left
        forward = log.to_step in order and order.index(log.to_step) > order.index(log.from_step)
        if forward or log.to_step == Step.CLOSED:
            done.add(log.from_step)
    step = working_step(initiative)
    if step in order:
        done |= set(order[: order.index(step)])
    elif step == Step.CLOSED:
        done |= set(order)
    return done


def _ended_in(initiative: Initiative) -> str:
    """The step a rejected or cancelled initiative ended in (its last move's source)."""
    ending = [log for log in initiative.transitions.all() if log.to_step == initiative.step]
    if not ending:
        return ""
    last = max(ending, key=lambda log: (log.at, log.pk))
    return last.from_step


def step_progress(initiative: Initiative) -> list[tuple[str, str]]:
    """Each of the seven steps with "done", "current" or "todo": where it stands now (on
    hold: the step it left is current; closed: all seven done; rejected or cancelled: the
    step it ended in is current, the steps before it done)."""
    step = working_step(initiative)
    if step in (Step.REJECTED, Step.CANCELLED):
        step = _ended_in(initiative)
    position = (
        len(SEVEN_STEPS)
        if step == Step.CLOSED
        else (SEVEN_STEPS.index(step) if step in SEVEN_STEPS else -1)
    )
    return [
        (str(s), "current" if i == position else ("done" if i < position else "todo"))
        for i, s in enumerate(SEVEN_STEPS)
    ]


def all_edges() -> list[tuple[str, str, Move]]:
    """(source, target, move) of every declared transition: the diagram's edges."""
    from .models import Initiative

    edges = [
        (str(t.source), str(target), t.custom["move"])
        for t in Initiative().get_all_step_transitions()
        for target in ([t.target] if isinstance(t.target, str) else t.target.allowed_states)
    ]
    return sorted(edges, key=lambda e: (Step.values.index(e[0]), Step.values.index(e[1])))
