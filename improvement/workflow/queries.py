"""What the interfaces ask of the state machine: the moves from here and why others are
blocked, the move a user may make, the steps done, the diagram's edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import permissions
from ..choices import (
    SEVEN_STEPS,
    Step,
)

if TYPE_CHECKING:
    from ..models import Initiative

from .guards import _blank, working_step
from .machine import Move


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
    from ..models import Initiative

    edges = [
        (str(t.source), str(target), t.custom["move"])
        for t in Initiative().get_all_step_transitions()
        for target in ([t.target] if isinstance(t.target, str) else t.target.allowed_states)
    ]
    return sorted(edges, key=lambda e: (Step.values.index(e[0]), Step.values.index(e[1])))
