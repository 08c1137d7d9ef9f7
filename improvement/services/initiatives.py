"""Writes on initiatives, their step records, actions, reviews, KPI definitions and goals."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import F
from django.db.models.deletion import Collector
from django.utils import timezone
from django_fsm import ConcurrentTransition

from .. import permissions, workflow
from ..choices import EventType, Outcome, Priority, Step
from ..exceptions import Conflict, Forbidden, InvalidInput, TransitionBlocked
from ..models import (
    Action,
    Baseline,
    Counter,
    Initiative,
    Plan,
    Review,
    Sustain,
    Target,
    TransitionLog,
    Vision,
)
from ..workflow import find_transition, unmet_conditions
from .common import apply_fields, event_emit, require, save_validated

User = get_user_model()

INITIATIVE_FIELDS = (
    "title",
    "description",
    "source",
    "external_system",
    "external_id",
    "external_url",
    "service",
    "practice",
    "value",
    "effort",
    "urgency",
    "due_date",
    "accountable",
)
RACI_FIELDS = ("responsible", "consulted", "informed")
RECORDS = {
    "vision": (Vision, ("statement", "stakeholders", "expected_value", "authority")),
    "baseline": (Baseline, ("assessment", "method", "assessed_on")),
    "target": (Target, ("objectives", "csfs")),
    "plan": (Plan, ("approach", "hypotheses", "checkpoints", "risks")),
    "sustain": (Sustain, ("embedding", "lessons_learned", "monitor_until")),
}
ACTION_FIELDS = ("title", "owner", "due_date", "status", "notes")


def priority_for_score(score: float) -> str:
    """The default priority of a score (value + urgency) / effort, which runs 0.4–10."""
    if score >= 5:
        return Priority.P1
    if score >= 2.5:
        return Priority.P2
    if score >= 1.2:
        return Priority.P3
    return Priority.P4


def _derive_priority(initiative: Initiative) -> None:
    if not initiative.priority_set_manually and initiative.effort:
        try:
            score = (int(initiative.value) + int(initiative.urgency)) / int(initiative.effort)
        except (TypeError, ValueError, ZeroDivisionError):
            return  # full_clean reports the bad numbers
        initiative.priority = priority_for_score(score)


def _next_reference() -> str:
    """CIR-00042: drawn from a locked counter row, so never duplicated nor reused."""
    Counter.objects.get_or_create(name="initiative")
    Counter.objects.filter(name="initiative").update(value=F("value") + 1)
    value = Counter.objects.values_list("value", flat=True).get(name="initiative")
    return f"CIR-{value:05d}"


#: the 1–5 range check constraints' messages, and the field each one is about
_RANGE_MESSAGES = {
    c.violation_error_message: c.name.removeprefix("improvement_initiative_").removesuffix(
        "_1_to_5"
    )
    for c in Initiative._meta.constraints
    if c.name.endswith("_1_to_5")
}


def _save_initiative(initiative: Initiative, *, actor) -> None:
    """save_validated, with a value/effort/urgency outside 1–5 reported on its own field.

    full_clean reports check constraints as non-field errors; a client needs the field.
    """
    try:
        save_validated(initiative, actor=actor)
    except InvalidInput as exc:
        general = exc.errors.get("non_field_errors", []) if isinstance(exc.errors, dict) else []
        if not any(m in _RANGE_MESSAGES for m in general):
            raise
        errors = {k: v for k, v in exc.errors.items() if k != "non_field_errors"}
        for message in general:
            errors.setdefault(_RANGE_MESSAGES.get(message, "non_field_errors"), []).append(message)
        raise InvalidInput(exc.message, errors=errors) from exc


def _set_m2m(initiative: Initiative, data: dict) -> None:
    if "goals" in data and data["goals"] is not None:
        initiative.goals.set(data["goals"])
    for name in RACI_FIELDS:
        if name in data and data[name] is not None:
            getattr(initiative, name).set(data[name])


def _initiative_payload(initiative: Initiative) -> dict:
    return {
        "id": initiative.pk,
        "reference": initiative.reference,
        "title": initiative.title,
        "step": initiative.step,
        "iteration": initiative.iteration,
        "health": initiative.health,
        "priority": initiative.priority,
    }


def initiative_create(*, actor, title: str, **data) -> Initiative:
    """Register a new initiative in `proposed`, with a fresh reference.

    `data` may hold the fields of INITIATIVE_FIELDS, `goals`, and the RACI lists.
    """
    require(permissions.may_propose(actor), "You do not have permission to propose initiatives.")
    m2m = {k: data.pop(k) for k in ("goals", *RACI_FIELDS) if k in data}
    initiative = Initiative(title=title, created_by=actor)
    apply_fields(initiative, data, INITIATIVE_FIELDS)
    _derive_priority(initiative)
    with transaction.atomic():
        initiative.reference = _next_reference()
        _save_initiative(initiative, actor=actor)
        _set_m2m(initiative, m2m)
        event_emit(type=EventType.INITIATIVE_CREATED, payload=_initiative_payload(initiative))
    return initiative


def initiative_create_or_get(*, actor, title: str, **data) -> tuple[Initiative, bool]:
    """Create, or return the existing initiative with the same external system and id.

    ITSM tools retry; the same problem record must never register twice.
    """
    system, external_id = data.get("external_system") or "", data.get("external_id") or ""
    if system and external_id:
        existing = Initiative.objects.filter(
            external_system=system, external_id=external_id
        ).first()
        if existing is not None:
            require(permissions.may_view(actor), "You do not have permission to read it.")
            return existing, False
    try:
        return initiative_create(actor=actor, title=title, **data), True
    except InvalidInput:
        # a concurrent create of the same external id won the race: answer with it
        existing = (
            Initiative.objects.filter(external_system=system, external_id=external_id).first()
            if system and external_id
            else None
        )
        if existing is None:
            raise
        return existing, False


def initiative_update(*, initiative: Initiative, actor, **data) -> Initiative:
    """Change the register fields, goals and RACI of an initiative (not its step)."""
    require(permissions.may_edit(actor, initiative), "You may not edit this initiative.")
    m2m = {k: data.pop(k) for k in ("goals", *RACI_FIELDS) if k in data}
    # one transaction: a priority change must not be saved when the rest is refused
    with transaction.atomic():
        if "priority" in data:
            priority = data.pop("priority")
            initiative_set_priority(initiative=initiative, actor=actor, priority=priority)
        apply_fields(initiative, data, INITIATIVE_FIELDS)
        _derive_priority(initiative)
        _save_initiative(initiative, actor=actor)
        _set_m2m(initiative, m2m)
    return initiative


def initiative_set_priority(*, initiative: Initiative, actor, priority: str | None) -> Initiative:
    """A CSI manager sets the priority; None returns it to the one derived from the score."""
    require(permissions.may_manage(actor), "Only a CSI manager sets priorities.")
    if priority in (None, ""):
        initiative.priority_set_manually = False
        _derive_priority(initiative)
    else:
        if priority not in Priority.values:
            raise InvalidInput(
                f"'{priority}' is not a priority.",
                errors={"priority": ["Choose P1, P2, P3 or P4."]},
            )
        initiative.priority = priority
        initiative.priority_set_manually = True
    save_validated(initiative, actor=actor)
    return initiative


def initiative_delete(*, initiative: Initiative, actor) -> None:
    """Delete an initiative: CSI managers, only while proposed or rejected."""
    require(permissions.may_manage(actor), "Only a CSI manager deletes initiatives.")
    if blockers := workflow.deletion_blockers(initiative):
        raise Conflict(blockers[0])
    # what Model.delete() does, but every cascaded record (vision, KPIs, actions …) is
    # stamped with the actor first, so that its history row names who deleted it
    using = router.db_for_write(Initiative, instance=initiative)
    with transaction.atomic(using=using):
        collector = Collector(using=using, origin=initiative)
        collector.collect([initiative])
        for instances in collector.data.values():
            for instance in instances:
                instance._history_user = actor
        collector.delete()


def initiative_transition(
    *, initiative: Initiative, to: str, actor, comment: str = "", **inputs
) -> Initiative:
    """Move an initiative to the state `to`: the one way the step ever changes.

    Locks the row, checks that nobody moved it since the caller read it, checks the
    permission and every guard, moves, and writes the transition log row — all in one
    transaction. Raises InvalidInput (unknown state or bad input), Forbidden,
    TransitionBlocked (with every unmet condition) or Conflict (a concurrent change).
    The caller's instance is never modified; the moved initiative is returned.
    Inputs: `reason` (reject, cancel), `lessons_learned` (cancel), `outcome` (close).
    """
    if to not in Step.values:
        raise InvalidInput(f"'{to}' is not a step.", errors={"to": [f"'{to}' is not a step."]})
    outcome = inputs.get("outcome")
    if outcome and outcome not in Outcome.values:
        raise InvalidInput(
            f"'{outcome}' is not an outcome.",
            errors={"outcome": [f"Choose one of: {', '.join(Outcome.values)}."]},
        )
    with transaction.atomic():
        try:
            locked = Initiative.objects.select_for_update().get(pk=initiative.pk)
        except Initiative.DoesNotExist as exc:
            raise Conflict("The initiative no longer exists.") from exc
        if locked.step != initiative.step:
            raise Conflict(
                f"The initiative was moved by someone else: it is now in "
                f"'{Step(locked.step).label}'. Reload and try again."
            )
        t = find_transition(locked, to)
        if t is None:
            raise TransitionBlocked(
                f"An initiative in '{Step(locked.step).label}' cannot move to '{Step(to).label}'.",
                reasons=[
                    f"There is no move from '{Step(locked.step).label}' to '{Step(to).label}'."
                ],
            )
        if not t.has_perm(locked, actor):
            raise Forbidden("You do not have permission to make this move.")
        reasons = unmet_conditions(locked, t, inputs)
        if reasons:
            raise TransitionBlocked(f"It cannot move to '{Step(to).label}' yet.", reasons=reasons)
        from_step = locked.step
        getattr(locked, t.name)(**inputs)
        locked._history_user = actor
        locked._change_reason = comment[:100] if comment else f"{from_step} → {to}"
        try:
            locked.save()
        except ConcurrentTransition as exc:
            raise Conflict(
                "The initiative was moved by someone else. Reload and try again."
            ) from exc
        if to == Step.CANCELLED and inputs.get("lessons_learned"):
            _append_lessons(locked, inputs["lessons_learned"], actor)
        TransitionLog.objects.create(
            initiative=locked,
            from_step=from_step,
            to_step=to,
            actor=actor,
            comment=comment or inputs.get("reason", ""),
            iteration=locked.iteration,
        )
        payload = _initiative_payload(locked) | {
            "from": from_step,
            "to": to,
            "by": actor.get_username(),
            "comment": comment,
        }
        event_emit(type=EventType.INITIATIVE_TRANSITIONED, payload=payload)
    return locked


def _append_lessons(initiative: Initiative, lessons: str, actor) -> None:
    # not get_or_create: its insert would be recorded in the history without the actor
    sustain = Sustain.objects.filter(initiative=initiative).first() or Sustain(
        initiative=initiative
    )
    sustain.lessons_learned = (
        f"{sustain.lessons_learned}\n\n{lessons}".strip() if sustain.lessons_learned else lessons
    )
    sustain.updated_by = actor
    sustain._history_user = actor
    sustain.save()


def step_record_update(*, initiative: Initiative, record: str, actor, **data):
    """Create or update the record of a step (vision, baseline, target, plan, sustain).

    Step records can be edited in any open step: the model is revisitable.
    For `vision`, `goals` (a list of Goal) sets the initiative's goals.
    """
    if record not in RECORDS:
        raise InvalidInput(f"'{record}' is not a step record.")
    require(permissions.may_edit(actor, initiative), "You may not edit this initiative.")
    model, fields = RECORDS[record]
    goals = data.pop("goals", None) if record == "vision" else None
    with transaction.atomic():
        obj = model.objects.filter(initiative=initiative).first() or model(initiative=initiative)
        apply_fields(obj, data, fields)
        obj.updated_by = actor
        save_validated(obj, actor=actor)
        if goals is not None:
            initiative._history_user = actor
            initiative.goals.set(goals)
    return obj


def action_create(*, initiative: Initiative, actor, title: str, **data) -> Action:
    """Add an action to the initiative's plan, in its current iteration."""
    require(permissions.may_edit(actor, initiative), "You may not edit this initiative.")
    action = Action(initiative=initiative, title=title, iteration=initiative.iteration)
    apply_fields(action, data, ACTION_FIELDS)
    _stamp_completion(action)
    save_validated(action, actor=actor)
    return action


def action_update(*, action: Action, actor, **data) -> Action:
    """Change an action (status, owner, due date, notes, title)."""
    require(permissions.may_edit(actor, action.initiative), "You may not edit this initiative.")
    apply_fields(action, data, ACTION_FIELDS)
    _stamp_completion(action)
    save_validated(action, actor=actor)
    return action


def _stamp_completion(action: Action) -> None:
    if action.status == "done" and action.completed_at is None:
        action.completed_at = timezone.now()
    elif action.status != "done":
        action.completed_at = None


def review_create(*, initiative: Initiative, actor, decision: str, **data) -> Review:
    """Record the review of the current iteration, with a snapshot of every KPI's latest check.

    One review per iteration; the initiative must be in step 6.
    """
    require(permissions.may_edit(actor, initiative), "You may not edit this initiative.")
    if blockers := workflow.review_blockers(initiative):
        raise Conflict(blockers[0])
    from ..selectors import kpi_snapshot

    review = Review(
        initiative=initiative,
        iteration=initiative.iteration,
        decision=decision,
        reviewed_by=actor,
        kpi_snapshot=kpi_snapshot(initiative),
    )
    apply_fields(review, data, ("progress_check", "value_check", "notes"))
    save_validated(review, actor=actor)
    return review
