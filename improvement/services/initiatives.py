"""Writes on initiatives, their step records, actions, reviews, KPI definitions and goals."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import F
from django.db.models.deletion import Collector
from django.utils import timezone
from django_fsm import ConcurrentTransition

from .. import permissions, workflow
from ..choices import WATCHED_STEPS, Decision, EventType, Health, Outcome, Priority, Step
from ..exceptions import Conflict, Forbidden, InvalidInput, TransitionBlocked
from ..models import (
    KPI,
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
from .hygiene import initiatives_touch

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


#: a reference as _next_reference writes it, whole or its beginning ("CIR-0004")
REFERENCE_PREFIX = re.compile(r"^CIR-\d{0,9}$", re.IGNORECASE)


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


def _normalise_external(data: dict) -> None:
    """An external reference as stored: both parts trimmed, the system's name in lower case
    (ServiceNow and servicenow are one tool); ids are matched whatever their case."""
    for name in ("external_system", "external_id"):
        if isinstance(data.get(name), str):
            data[name] = data[name].strip()
    if isinstance(data.get("external_system"), str):
        data["external_system"] = data["external_system"].lower()


def _same_record(system: str, external_id: str):
    return Initiative.objects.filter(
        external_system__iexact=system, external_id__iexact=external_id
    ).first()


def _check_accountable(data: dict) -> None:
    """Only someone who may edit initiatives can own one."""
    user = data.get("accountable")
    if user is not None and not permissions.may_be_accountable(user):
        message = (
            f"'{user.get_username()}' cannot be accountable: an owner must be able to edit "
            "(Improvement team, Service owner, Process owner or CSI manager)."
        )
        raise InvalidInput(message, errors={"accountable": [message]})


def _suggestions_of_an_integration(actor, data: dict, m2m: dict) -> dict:
    """An ITSM integration may suggest an owner and goals; they apply when a CSI manager
    accepts the initiative (no rights are handed out before triage). RACI lists are not
    the integration's to set."""
    if not permissions.is_integration(actor) or permissions.is_csi_manager(actor):
        return {}
    raci = [name for name in RACI_FIELDS if m2m.get(name)]
    if raci:
        message = "An ITSM integration may suggest an owner and goals; a CSI manager sets the RACI."
        raise InvalidInput(message, errors={name: [message] for name in raci})
    suggested = data.pop("accountable", None)
    _check_accountable({"accountable": suggested})  # a suggestion that could never apply
    return {"suggested_accountable": suggested, "suggested_goals": m2m.pop("goals", None)}


def _apply_suggestions(initiative: Initiative, actor) -> None:
    """On acceptance: the suggested owner and goals become real where nothing is set yet."""
    suggested = initiative.suggested_accountable
    if (
        initiative.accountable_id is None
        and suggested is not None
        and permissions.may_be_accountable(suggested)
    ):
        initiative.accountable = suggested
        _emit_assigned(initiative, actor, {"accountable": set()})
    initiative.suggested_accountable = None
    initiative._history_user = actor
    initiative.save(update_fields=["accountable", "suggested_accountable", "updated_at"])
    goals = list(initiative.suggested_goals.all())
    if goals and not initiative.goals.exists():
        initiative.goals.set(goals)
    initiative.suggested_goals.clear()


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


def _raci_now(initiative: Initiative, names) -> dict:
    """Who holds the RACI roles `names` now: {"accountable": {id} , "responsible": {ids} …}."""
    held = {}
    for name in names:
        if name == "accountable":
            held[name] = {initiative.accountable_id} - {None}
        else:
            held[name] = set(getattr(initiative, name).values_list("pk", flat=True))
    return held


def _emit_assigned(initiative: Initiative, actor, before: dict) -> None:
    """Record initiative.assigned for the people given a RACI role by this change (the
    notifications tell them; webhooks may follow). `before`: _raci_now before the change."""
    after = _raci_now(initiative, before)
    assigned = [
        {"user": user_id, "role": name}
        for name in ("accountable", *RACI_FIELDS)
        if name in before
        for user_id in sorted(after[name] - before[name])
    ]
    if assigned:
        payload = _initiative_payload(initiative) | {
            "assigned": assigned,
            "by": actor.get_username(),
            "actor_id": actor.pk,
        }
        event_emit(type=EventType.INITIATIVE_ASSIGNED, payload=payload)


def initiative_create(*, actor, title: str, **data) -> Initiative:
    """Register a new initiative in `proposed`, with a fresh reference.

    `data` may hold the fields of INITIATIVE_FIELDS, `goals`, and the RACI lists.
    """
    require(permissions.may_propose(actor), permissions.NEED_CONTRIBUTOR)
    m2m = {k: data.pop(k) for k in ("goals", *RACI_FIELDS) if k in data}
    _normalise_external(data)
    suggestions = _suggestions_of_an_integration(actor, data, m2m)
    _check_accountable(data)
    initiative = Initiative(title=title, created_by=actor)
    apply_fields(initiative, data, INITIATIVE_FIELDS)
    initiative.suggested_accountable = suggestions.get("suggested_accountable")
    _derive_priority(initiative)
    with transaction.atomic():
        initiative.reference = _next_reference()
        _save_initiative(initiative, actor=actor)
        _set_m2m(initiative, m2m)
        if suggestions.get("suggested_goals"):
            initiative.suggested_goals.set(suggestions["suggested_goals"])
        event_emit(type=EventType.INITIATIVE_CREATED, payload=_initiative_payload(initiative))
        _emit_assigned(initiative, actor, {name: set() for name in ("accountable", *RACI_FIELDS)})
    return initiative


def initiative_create_or_get(
    *, actor, title: str, priority: str | None = None, **data
) -> tuple[Initiative, bool]:
    """Create, or return the existing initiative with the same external system and id.

    ITSM tools retry; the same problem record must never register twice. A `priority`
    (CSI managers) is set on a new initiative only, in the same transaction; an existing
    one is returned as it is.
    """
    _normalise_external(data)
    system, external_id = data.get("external_system") or "", data.get("external_id") or ""
    if system and external_id:
        existing = _same_record(system, external_id)
        if existing is not None:
            require(permissions.may_view(actor), permissions.NEED_VIEW)
            return existing, False
    try:
        with transaction.atomic():
            initiative = initiative_create(actor=actor, title=title, **data)
            if priority:
                initiative_set_priority(initiative=initiative, actor=actor, priority=priority)
        return initiative, True
    except InvalidInput:
        # a concurrent create of the same external id won the race: answer with it
        existing = _same_record(system, external_id) if system and external_id else None
        if existing is None:
            raise
        return existing, False


def initiative_update(*, initiative: Initiative, actor, **data) -> Initiative:
    """Change the register fields, goals and RACI of an initiative (not its step)."""
    require(permissions.may_edit(actor, initiative), permissions.edit_denial(initiative))
    m2m = {k: data.pop(k) for k in ("goals", *RACI_FIELDS) if k in data}
    _normalise_external(data)
    _check_accountable(data)
    # one transaction: a priority change must not be saved when the rest is refused
    roles = [n for n in ("accountable",) if n in data] + [
        n for n in RACI_FIELDS if m2m.get(n) is not None
    ]
    with transaction.atomic():
        before = _raci_now(initiative, roles)
        if "priority" in data:
            priority = data.pop("priority")
            initiative_set_priority(initiative=initiative, actor=actor, priority=priority)
        apply_fields(initiative, data, INITIATIVE_FIELDS)
        _derive_priority(initiative)
        _save_initiative(initiative, actor=actor)
        _set_m2m(initiative, m2m)
        initiatives_touch([initiative.pk])
        _emit_assigned(initiative, actor, before)
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
    *,
    initiative: Initiative,
    to: str,
    actor,
    comment: str = "",
    from_step: str | None = None,
    **inputs,
) -> Initiative:
    """Move an initiative to the state `to`: the one way the step ever changes.

    Locks the row, checks that nobody moved it since the caller read it, checks the
    permission and every guard, moves, and writes the transition log row — all in one
    transaction. Raises InvalidInput (unknown state or bad input), Forbidden,
    TransitionBlocked (with every unmet condition) or Conflict (a concurrent change).
    The caller's instance is never modified; the moved initiative is returned.
    `from_step`: the step the caller's page or client saw; a move from a stale view is a
    Conflict that says what changed. Inputs: `reason` (reject, cancel, hold, every move
    back — the comment serves as the reason), `lessons_learned` (cancel), `outcome` and
    `override` (close: an outcome the data does not support needs a justification),
    `resume_by` (hold).
    """
    inputs = dict(inputs)
    if _blank_text(inputs.get("reason")) and comment.strip():
        inputs["reason"] = comment
    if "resume_by" in inputs:
        inputs["resume_by"] = _resume_date(inputs["resume_by"])
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
        seen = from_step or initiative.step
        if locked.step != seen:
            raise Conflict(_moved_since(locked, seen))
        t = find_transition(locked, to)
        if t is None:
            raise TransitionBlocked(
                f"An initiative in '{Step(locked.step).label}' cannot move to '{Step(to).label}'.",
                reasons=[
                    f"There is no move from '{Step(locked.step).label}' to '{Step(to).label}'."
                ],
            )
        if not t.has_perm(locked, actor):
            raise Forbidden(permissions.move_denial(t.permission, locked, actor))
        reasons = unmet_conditions(locked, t, inputs)
        if reasons:
            raise TransitionBlocked(f"It cannot move to '{Step(to).label}' yet.", reasons=reasons)
        from_step = locked.step
        getattr(locked, t.name)(**inputs)
        if to in (Step.CANCELLED, Step.REJECTED):
            locked.health = Health.NONE  # no longer checked: no live verdict to show
        locked.step_entered_at = locked.last_activity_at = timezone.now()
        locked.stale_since = None
        locked._history_user = actor
        locked._change_reason = comment[:100] if comment else f"{from_step} → {to}"
        try:
            locked.save()
        except ConcurrentTransition as exc:
            raise Conflict(
                "The initiative was moved by someone else. Reload and try again."
            ) from exc
        if (from_step in WATCHED_STEPS) != (to in WATCHED_STEPS):
            _kpis_watch_changed(locked)
        if to == Step.CANCELLED and inputs.get("lessons_learned"):
            _append_lessons(locked, inputs["lessons_learned"], actor)
        if from_step == Step.PROPOSED and to == Step.VISION:
            _apply_suggestions(locked, actor)
        TransitionLog.objects.create(
            initiative=locked,
            from_step=from_step,
            to_step=to,
            actor=actor,
            comment=_log_comment(comment, inputs.get("reason", "")),
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


def _kpis_watch_changed(initiative: Initiative) -> None:
    """The initiative entered or left the watched steps: an achieved or reverted KPI's
    verdict depends on that, and no sweep would see it as due (the next-check moment knows
    only time), so its KPIs count as changed and are checked after commit."""
    from .checks import kpi_schedule_check

    kpi_ids = list(initiative.kpis.values_list("pk", flat=True))
    if kpi_ids:
        KPI.objects.filter(pk__in=kpi_ids).update(data_changed_at=timezone.now())
        kpi_schedule_check(kpi_ids=kpi_ids)


def _log_comment(comment: str, reason: str) -> str:
    """What the log keeps of a move's words: the reason and the comment, each once."""
    comment, reason = (comment or "").strip(), (reason or "").strip()
    if reason and comment and reason != comment:
        return f"{reason} — {comment}"
    return reason or comment


def _blank_text(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resume_date(value) -> dt.date | None:
    """The resume-by date of a hold: a date (or ISO text) not in the past."""
    if _blank_text(value):
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(
                "The resume-by date is not a date.",
                errors={"resume_by": ["Give a date as YYYY-MM-DD."]},
            ) from exc
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInput(
            "The resume-by date is not a date.", errors={"resume_by": ["Give a date."]}
        )
    if value < timezone.localdate():
        raise InvalidInput(
            "The resume-by date is in the past.",
            errors={"resume_by": ["Give today or a later date."]},
        )
    return value


def _moved_since(current: Initiative, seen: str) -> str:
    """What changed since the caller's view: the step now, who moved it and when."""
    last = current.transitions.order_by("-at", "-id").select_related("actor").first()
    who = f" by {last.actor.get_username()} at {last.at:%Y-%m-%d %H:%M}" if last else ""
    seen_label = Step(seen).label if seen in Step.values else seen
    return (
        f"The initiative was moved{who}: it is now in '{Step(current.step).label}', not "
        f"'{seen_label}' as on your page. Reload to see it, then choose again."
    )


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


def record_version(obj) -> str:
    """The version of a step record an edit is made from ("" before it is first written):
    what the pages send back and the API's ETag carry."""
    return obj.updated_at.isoformat() if obj is not None and obj.pk else ""


def _changed_since(obj, version: str) -> str:
    """Who changed the record since `version`, when, and which fields."""
    try:
        since = dt.datetime.fromisoformat(version)
    except ValueError:
        since = None
    # the history row saved at that version carries the same updated_at
    base = obj.history.filter(updated_at=since).first() if since is not None else None
    latest = obj.history.order_by("-history_date").first()
    fields = []
    if base is not None and latest is not None:
        bookkeeping = {"updated_by", "updated_at", "created_at"}
        changes = latest.diff_against(base).changes
        fields = [str(obj._meta.get_field(c.field).verbose_name) for c in changes
                  if c.field not in bookkeeping]  # fmt: skip
    who = latest.history_user.get_username() if latest and latest.history_user else "someone"
    when = f" at {latest.history_date:%Y-%m-%d %H:%M}" if latest else ""
    what = f" ({', '.join(fields)})" if fields else ""
    return (
        f"The {obj._meta.verbose_name} was changed by {who}{when} since you opened it{what}. "
        "Your change was not saved: make it again on the current version."
    )


def step_record_update(
    *, initiative: Initiative, record: str, actor, version: str | None = None, **data
):
    """Create or update the record of a step (vision, baseline, target, plan, sustain).

    Step records can be edited in any open step: the model is revisitable.
    For `vision`, `goals` (a list of Goal) sets the initiative's goals. `version`: the
    record_version the edit was made from; an edit of a record changed since is a Conflict
    that says who changed what (None: no check, for callers without a view).
    """
    if record not in RECORDS:
        raise InvalidInput(f"'{record}' is not a step record.")
    require(permissions.may_edit(actor, initiative), permissions.edit_denial(initiative))
    model, fields = RECORDS[record]
    goals = data.pop("goals", None) if record == "vision" else None
    with transaction.atomic():
        obj = model.objects.select_for_update().filter(initiative=initiative).first() or model(
            initiative=initiative
        )
        if version is not None and version != record_version(obj):
            raise Conflict(_changed_since(obj, version))
        apply_fields(obj, data, fields)
        obj.updated_by = actor
        save_validated(obj, actor=actor)
        if goals is not None:
            initiative._history_user = actor
            initiative.goals.set(goals)
        initiatives_touch([initiative.pk])
    return obj


def action_create(*, initiative: Initiative, actor, title: str, **data) -> Action:
    """Add an action to the initiative's plan, in its current iteration."""
    require(permissions.may_edit(actor, initiative), permissions.edit_denial(initiative))
    action = Action(initiative=initiative, title=title, iteration=initiative.iteration)
    apply_fields(action, data, ACTION_FIELDS)
    _stamp_completion(action)
    with transaction.atomic():
        save_validated(action, actor=actor)
        initiatives_touch([action.initiative_id])
        if action.owner_id is not None:
            _emit_action_assigned(action, actor)
    return action


def action_update(*, action: Action, actor, **data) -> Action:
    """Change an action (status, owner, due date, notes, title)."""
    require(
        permissions.may_edit(actor, action.initiative), permissions.edit_denial(action.initiative)
    )
    changed = apply_fields(action, data, ACTION_FIELDS)
    _stamp_completion(action)
    with transaction.atomic():
        save_validated(action, actor=actor)
        initiatives_touch([action.initiative_id])
        if "owner" in changed and action.owner_id is not None:
            _emit_action_assigned(action, actor)
    return action


def _emit_action_assigned(action: Action, actor) -> None:
    """Record action.assigned: the action's owner was set (the notifications tell them)."""
    event_emit(
        type=EventType.ACTION_ASSIGNED,
        payload={
            "action_id": action.pk,
            "title": action.title,
            "due_date": action.due_date.isoformat() if action.due_date else None,
            "owner": action.owner_id,
            "owner_username": action.owner.get_username(),
            "initiative_id": action.initiative_id,
            "initiative": action.initiative.reference,
            "status": action.status,
            "by": actor.get_username(),
            "actor_id": actor.pk,
        },
    )


def _stamp_completion(action: Action) -> None:
    if action.status == "done" and action.completed_at is None:
        action.completed_at = timezone.now()
    elif action.status != "done":
        action.completed_at = None


def review_create(
    *, initiative: Initiative, actor, decision: str, decision_override: str = "", **data
) -> Review:
    """Record the review of the current iteration, with a snapshot of every KPI's latest check.

    One review per iteration; the initiative must be in step 6. The decision must agree
    with the snapshot (workflow.data_conflicts) or carry `decision_override`, a
    justification kept and shown with the decision.
    """
    require(permissions.may_edit(actor, initiative), permissions.edit_denial(initiative))
    if blockers := workflow.review_blockers(initiative):
        raise Conflict(blockers[0])
    from ..selectors import kpi_snapshot

    snapshot = kpi_snapshot(initiative)
    conflicts = workflow.data_conflicts(decision, snapshot)
    if conflicts and _blank_text(decision_override):
        message = (
            f"The decision '{Decision(decision).label}' does not agree with the KPIs: "
            f"{' '.join(conflicts)} Choose another decision, or give a justification to "
            "record it as an override."
        )
        raise InvalidInput(
            message,
            errors={
                "decision": [*conflicts, message],
                "decision_override": [
                    "Give a justification to record this decision as an override of the data."
                ],
            },
        )
    review = Review(
        initiative=initiative,
        iteration=initiative.iteration,
        decision=decision,
        decision_override=decision_override.strip() if conflicts else "",
        reviewed_by=actor,
        kpi_snapshot=snapshot,
    )
    apply_fields(review, data, ("progress_check", "value_check", "notes"))
    with transaction.atomic():
        save_validated(review, actor=actor)
        initiatives_touch([initiative.pk])
    return review
