"""The moves and the state machine: each transition declared once with django-fsm-2, with
its sources, target, guard, permission and the inputs it requires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils import timezone
from django_fsm import RETURN_VALUE, transition

from .. import permissions
from ..choices import (
    HOLDABLE_STEPS,
    Step,
)

if TYPE_CHECKING:
    from ..models import Initiative

from .guards import (
    CANCELLABLE,
    Guard,
    _ok,
    _outcome_reasons,
    action_reasons,
    baseline_reasons,
    no_reasons,
    plan_reasons,
    review_reasons_for,
    sustain_reasons,
    target_reasons,
    vision_reasons,
)


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
