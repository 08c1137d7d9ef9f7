"""Writes of KPI definitions: define, change and remove a KPI of an initiative.

A change of the definition marks the KPI's data as moved, so that its verdict is checked
again after commit, and is kept as a KPI revision (who, when, why, old → new);
`target_change_pct` is resolved here, once, for every interface. Baselines and targets are
locked once the initiative leaves step 3 (workflow.kpi_definition_locked).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .. import evaluation, permissions, workflow
from ..choices import Step
from ..exceptions import Conflict, InvalidInput
from ..models import KPI, Initiative, KPIRevision
from .checks import initiative_refresh_health, kpi_schedule_check
from .common import apply_fields, require, save_validated, validate
from .hygiene import initiatives_touch

#: what defines the verdict: locked once the initiative leaves step 3
LOCKED_FIELDS = (
    "direction",
    "aggregation",
    "window_days",
    "baseline_value",
    "baseline_date",
    "target_value",
    "target_date",
)
KPI_FIELDS = (
    "key",
    "name",
    "unit",
    "kind",
    "direction",
    "aggregation",
    "window_days",
    "baseline_value",
    "baseline_date",
    "target_value",
    "target_date",
    "tolerance",
    "csf",
)


def _kpi_validate_target(kpi: KPI) -> None:
    """Name the field at fault when the target is on the wrong side or too early."""
    errors = {}
    if kpi.baseline_value is not None and kpi.target_value is not None:
        try:
            better = evaluation.target_on_better_side(
                kpi.direction, float(kpi.baseline_value), float(kpi.target_value)
            )
        except (TypeError, ValueError):
            better = True  # full_clean reports the malformed values
        if not better:
            side = "below" if kpi.direction == "decrease" else "above"
            errors["target_value"] = [
                f"The target must be {side} the baseline ({kpi.baseline_value:g}) for a KPI "
                f"that should {kpi.direction}."
            ]
    if (
        isinstance(kpi.baseline_date, dt.date)
        and isinstance(kpi.target_date, dt.date)
        and kpi.target_date <= kpi.baseline_date
    ):
        errors["target_date"] = ["The target date must be after the baseline date."]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)


def _kpi_apply_target_change(kpi: KPI, data: dict) -> None:
    """A target given relative to the baseline becomes the absolute target_value.

    A target value sent with it is refused, unless it is the KPI's current one (a form
    that shows the current target and a change % beside it sends both): the change wins.
    """
    pct = data.pop("target_change_pct", None)
    if pct is None:
        return
    given = data.get("target_value")
    stored = (
        KPI.objects.filter(pk=kpi.pk).values_list("target_value", flat=True).first()
        if kpi.pk
        else None
    )
    if given is not None and given != stored:
        raise InvalidInput(
            "Give either a target value or a change %, not both.",
            errors={"target_change_pct": ["Give either a target value or a change %, not both."]},
        )
    baseline = data.get("baseline_value", kpi.baseline_value)
    if baseline is None:
        raise InvalidInput(
            "A relative target needs a baseline value.",
            errors={"target_change_pct": ["Set the baseline value first."]},
        )
    data["target_value"] = evaluation.target_from_change_pct(float(baseline), float(pct))


def kpi_create(
    *, initiative: Initiative, actor, key: str, name: str, direction: str, **data
) -> KPI:
    """Define a KPI of an initiative. `target_change_pct` (e.g. -15) sets the target relative
    to the baseline and is stored as the absolute value."""
    require(permissions.may_edit(actor, initiative), permissions.edit_denial(initiative))
    kpi = KPI(initiative=initiative, key=key, name=name, direction=direction)
    return _kpi_save(kpi, actor=actor, data=data, kind=KPIRevision.Kind.DEFINED)


def kpi_update(*, kpi: KPI, actor, **data) -> KPI:
    """Change a KPI's definition; its verdict is re-checked after commit.

    Once the initiative has left step 3, the baseline, target, dates, direction,
    aggregation and window are locked (Conflict): they change after a move back to the
    target or the baseline, or by a CSI manager's kpi_rebaseline with a reason.
    """
    require(permissions.may_edit(actor, kpi.initiative), permissions.edit_denial(kpi.initiative))
    return _kpi_save(kpi, actor=actor, data=data, kind=KPIRevision.Kind.CHANGED)


def kpi_rebaseline(*, kpi: KPI, actor, reason: str, **data) -> KPI:
    """A CSI manager changes a locked KPI definition, with a reason kept in its revision."""
    require(permissions.may_rebaseline(actor), permissions.NEED_REBASELINE)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(
            "A re-baseline needs a reason.", errors={"reason": ["Say why the KPI changes."]}
        )
    return _kpi_save(
        kpi, actor=actor, data=data, kind=KPIRevision.Kind.REBASELINED, reason=reason.strip()
    )


def _json_value(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def _kpi_save(kpi: KPI, *, actor, data: dict, kind: str, reason: str = "") -> KPI:
    """Apply `data` to the KPI, validate, save with its revision, and have it re-checked
    after commit. The changes are measured against the stored row (a caller's instance
    may already carry them)."""
    stored = KPI.objects.filter(pk=kpi.pk).values(*KPI_FIELDS).first() if kpi.pk else None
    _kpi_apply_target_change(kpi, data)
    apply_fields(kpi, data, KPI_FIELDS)
    changes = {
        name: [_json_value(stored[name]) if stored else None, _json_value(getattr(kpi, name))]
        for name in KPI_FIELDS
        if (stored[name] if stored else None) != getattr(kpi, name)
    }
    _kpi_validate_target(kpi)
    validate(kpi)  # bad input is a 400 whatever the step; a lock is a 409 for valid input
    locked = sorted(set(changes) & set(LOCKED_FIELDS))
    if (
        stored is not None
        and locked
        and kind != KPIRevision.Kind.REBASELINED
        and workflow.kpi_definition_locked(kpi.initiative)
    ):
        name = stored["name"] if stored else kpi.name  # as the KPI is known, not renamed
        raise Conflict(_locked_message(name, locked, changes), errors=_locked_errors(locked))
    with transaction.atomic():
        save_validated(kpi, actor=actor, validated=True)
        if changes:
            KPIRevision.objects.create(kpi=kpi, kind=kind, by=actor, reason=reason, changes=changes)
        _after_kpi_change(kpi)
    return kpi


#: what a locked KPI definition says to whoever would change it: how to proceed
LOCKED_HOW_TO_PROCEED = (
    f"Locked since the initiative left step 3: move it back to '{Step.TARGET.label}' or "
    f"'{Step.BASELINE.label}' to change it, or ask a CSI manager to re-baseline the KPI "
    "with a reason."
)


def _locked_message(name: str, locked: list[str], changes: dict) -> str:
    what = "; ".join(
        f"{KPI._meta.get_field(field).verbose_name} {changes[field][0]} → {changes[field][1]}"
        for field in locked
    )
    return (
        f"The baseline and target of KPI '{name}' are locked since the initiative left step 3 "
        f"({what} refused). Move it back to '{Step.TARGET.label}' or '{Step.BASELINE.label}' "
        "to change them, or ask a CSI manager to re-baseline the KPI with a reason."
    )


def _locked_errors(locked: list[str]) -> dict:
    return {name: ["Locked since the initiative left step 3."] for name in locked}


def kpi_delete(*, kpi: KPI, actor) -> None:
    """Remove a KPI with its measurements and checks."""
    require(permissions.may_edit(actor, kpi.initiative), permissions.edit_denial(kpi.initiative))
    kpi._history_user = actor
    initiative = kpi.initiative
    with transaction.atomic():
        kpi.delete()
        initiatives_touch([initiative.pk])
        initiative_refresh_health(initiative=initiative)


def _after_kpi_change(kpi: KPI) -> None:
    """Mark the KPI's data as moved so the next check (scheduled or swept) re-evaluates it,
    and keep the initiative's health current (a new KPI counts at once)."""
    KPI.objects.filter(pk=kpi.pk).update(data_changed_at=timezone.now())
    initiatives_touch([kpi.initiative_id])
    initiative_refresh_health(initiative=kpi.initiative)
    kpi_schedule_check(kpi_ids=[kpi.pk])
