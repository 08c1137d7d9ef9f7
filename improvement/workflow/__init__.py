"""The sev

One package, three modules: guards.py (the guards and the predicates every interface
asks), machine.py (the moves and the transitions), queries.py (the moves from here, the
steps done, the diagram's edges). Everything public is importable from here.
"""

from .guards import (
    CANCELLABLE,
    DECISION_TARGETS,
    DELETABLE,
    Guard,
    action_reasons,
    baseline_reasons,
    current_review,
    data_conflicts,
    deletion_blockers,
    kpi_definition_locked,
    last_review_snapshot,
    may_record_review,
    no_reasons,
    plan_reasons,
    proposed_outcome,
    review_blockers,
    review_reasons_for,
    sustain_reasons,
    target_reasons,
    vision_reasons,
    working_step,
)
from .machine import (
    ACCEPT,
    BACK_REASON,
    CANCEL,
    CLOSE,
    HOLD,
    HOLD_REASON,
    ITERATE,
    LESSONS,
    OUTCOME,
    REASON,
    REJECT,
    REPLAN,
    RESUME,
    RESUME_BY,
    RETARGET,
    REVISIT_BASELINE,
    REVISIT_TARGET,
    TO_ACTION,
    TO_BASELINE,
    TO_PLAN,
    TO_REVIEW,
    TO_SUSTAIN,
    TO_TARGET,
    InitiativeWorkflow,
    Move,
    Requirement,
)
from .queries import (
    AllowedTransition,
    all_edges,
    allowed_transitions,
    find_transition,
    offered_move,
    step_progress,
    steps_done,
    target_of,
    transitions_from,
    unmet_conditions,
)

__all__ = [
    "ACCEPT", "BACK_REASON", "CANCEL", "CANCELLABLE", "CLOSE", "DECISION_TARGETS", "DELETABLE",
    "HOLD", "HOLD_REASON", "ITERATE", "LESSONS", "OUTCOME", "REASON", "REJECT", "REPLAN",
    "RESUME", "RESUME_BY", "RETARGET", "REVISIT_BASELINE", "REVISIT_TARGET", "TO_ACTION",
    "TO_BASELINE", "TO_PLAN", "TO_REVIEW", "TO_SUSTAIN", "TO_TARGET", "AllowedTransition",
    "Guard", "InitiativeWorkflow", "Move", "Requirement", "action_reasons", "all_edges",
    "allowed_transitions", "baseline_reasons", "current_review", "data_conflicts",
    "deletion_blockers", "find_transition", "kpi_definition_locked", "last_review_snapshot",
    "may_record_review", "no_reasons", "offered_move", "plan_reasons", "proposed_outcome",
    "review_blockers", "review_reasons_for", "step_progress", "steps_done",
    "sustain_reasons", "target_of", "target_reasons", "transitions_from", "unmet_conditions",
    "vision_reasons", "working_step",
]  # fmt: skip
