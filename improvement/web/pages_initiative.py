"""The initiative page's data, built in one place: the stepper with the earlier iterations,
the hold, the seven steps' records, the moves with the inputs each one needs, KPI cards
with their charts and revisions, actions, reviews and the change history.

The page asks the core (workflow, permissions) every question about steps, statuses and
roles and hands the templates the answers. Every function answers in a fixed number of
queries, whatever the number of KPIs, measurements, revisions, actions, reviews and
iterations, so that the page keeps a flat query count (pinned in tests/web).
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .. import choices, permissions, selectors, workflow
from ..choices import Step
from ..models import KPI, Action, Initiative, KPIRevision, Measurement, Review, TransitionLog
from ..services.kpis import LOCKED_FIELDS, LOCKED_HOW_TO_PROCEED
from ..workflow import allowed_transitions
from . import charts
from .forms import InitiativeForm, active_users
from .forms_initiative import (
    RECORD_FORMS,
    ActionForm,
    KPIForm,
    KPIRebaselineForm,
    MeasurementForm,
    MoveForm,
    ReviewForm,
)
from .history import change_history

#: measurements drawn per KPI on its chart (the most recent ones)
CHART_POINTS = 200
RECORD_NAMES = ("vision", "baseline", "target", "plan", "sustain")
#: the seven steps with what each one owns on the page
STEP_SECTIONS = (
    (Step.VISION, "vision", "record"),
    (Step.BASELINE, "baseline", "record"),
    (Step.TARGET, "target", "record"),
    (Step.PLAN, "plan", "record"),
    (Step.ACTION, "action", "actions"),
    (Step.REVIEW, "review", "reviews"),
    (Step.SUSTAIN, "sustain", "record"),
)
RECORD_NOUNS = {
    "vision": "vision",
    "baseline": "baseline",
    "target": "target",
    "plan": "plan",
    "sustain": "sustain measures",
}
PREVIEW_FIELD = {
    "vision": "statement",
    "baseline": "assessment",
    "target": "objectives",
    "plan": "approach",
    "sustain": "lessons_learned",
}
STEP_TITLES = dict((name, step.label) for step, name, _ in STEP_SECTIONS)
#: workflow.step_progress's words as the page's CSS states
PROGRESS_STATES = {"done": "done", "current": "current", "todo": "upcoming"}
#: what the KPI cards say while the goalposts are locked (workflow.kpi_definition_locked),
#: and how to proceed in the core's words
LOCKED_NOTE = (
    "The baseline, the target, their dates, the direction, the aggregation and the window: "
    "the verdict measures against the goalposts that were agreed."
)
LOCKED_HOW_CSI = f"{LOCKED_HOW_TO_PROCEED} As a CSI manager, you can re-baseline it below."


def _recent_measurements_prefetch() -> list[Prefetch]:
    """Each KPI's newest CHART_POINTS measurements as `kpi.recent_measurements`; on
    PostgreSQL read by recent_measurements() instead (a sliced prefetch numbers every row of
    the KPI before it keeps the newest, so a KPI of 100 000 points would cost 500 times one
    of 200)."""
    if connection.vendor == "postgresql":
        return []
    return [
        Prefetch(
            "measurements",
            queryset=Measurement.objects.order_by("-measured_at")[:CHART_POINTS],
            to_attr="recent_measurements",
        )
    ]


_RECENT_SQL = """
SELECT m.* FROM unnest(%s::bigint[]) AS k(id)
 CROSS JOIN LATERAL (
       SELECT * FROM improvement_measurement
        WHERE kpi_id = k.id ORDER BY measured_at DESC LIMIT %s) m
"""


def recent_measurements(kpis: list[KPI]) -> None:
    """Set `kpi.recent_measurements` (its newest CHART_POINTS, newest first) on each of
    `kpis` that lacks it, in one query that reads only those rows: the (kpi, measured_at)
    index walked backwards from the newest, per KPI."""
    missing = [k for k in kpis if not hasattr(k, "recent_measurements")]
    if not missing:
        return
    found: dict[int, list[Measurement]] = {k.pk: [] for k in missing}
    for m in Measurement.objects.raw(_RECENT_SQL, [[k.pk for k in missing], CHART_POINTS]):
        found[m.kpi_id].append(m)
    for kpi in missing:
        kpi.recent_measurements = sorted(found[kpi.pk], key=lambda m: m.measured_at, reverse=True)


def initiatives_for_page(user) -> QuerySet[Initiative]:
    """Initiatives with everything their page shows: RACI, KPIs with their recent
    measurements, latest check and revisions, actions with owners, reviews, the log."""
    # built on initiative_list (not initiative_detail) to prefetch the KPIs our own way
    return (
        selectors.initiative_list(user)
        .select_related(
            "created_by",
            "service__owner",
            "practice__owner",
            *(f"{name}__updated_by" for name in RECORD_NAMES),
        )
        .prefetch_related(
            "responsible",
            "consulted",
            "informed",
            Prefetch(
                "kpis",
                queryset=KPI.objects.order_by("name").prefetch_related(
                    *_recent_measurements_prefetch(),
                    selectors.latest_checks_prefetch(),
                    Prefetch(
                        "revisions",
                        queryset=KPIRevision.objects.select_related("by").order_by("at", "id"),
                    ),
                ),
            ),
            Prefetch(
                "actions",
                queryset=Action.objects.select_related("owner").order_by(
                    "-iteration", "due_date", "id"
                ),
            ),
            Prefetch(
                "reviews",
                queryset=Review.objects.select_related("reviewed_by").order_by("-iteration"),
            ),
            Prefetch(
                "transitions",
                queryset=TransitionLog.objects.select_related("actor").order_by("at", "id"),
            ),
        )
    )


def step_records(initiative: Initiative) -> dict[str, object | None]:
    """The one-to-one step records of the initiative (None where not written yet).

    `initiatives_for_page` joins them in, so this asks the database nothing more.
    """
    return {name: step_record(initiative, name) for name in RECORD_NAMES}


def step_record(initiative: Initiative, name: str):
    """The step record `name` of the initiative, or None where not written yet."""
    try:
        return getattr(initiative, name)
    except ObjectDoesNotExist:
        return None


def _preview(record, name: str) -> str:
    if record is None:
        return ""
    return " ".join(str(getattr(record, PREVIEW_FIELD[name], "") or "").split())


def initiative_page(user, initiative: Initiative, **overrides) -> dict:
    """Everything the initiative page shows, for `user`; `initiative` comes from
    `initiatives_for_page`.

    `overrides` carries bound forms with errors (by their context name), `move_errors`,
    `record_conflict` (a stale edit's message and what was not saved), `saved` (the
    section just saved), `opened` (sections to show expanded) and `open_kpi_edit` /
    `open_kpi_rebaseline` (the pk of a KPI whose form shows open).
    """
    today = timezone.localdate()
    can_edit = permissions.may_edit(user, initiative)
    can_manage = permissions.may_manage(user)
    # the people the page's owner selects offer: read once, whatever the number of forms
    users = list(active_users()) if can_edit else []
    records = step_records(initiative)
    reviews = list(initiative.reviews.all())  # prefetched: the workflow reads them too
    actions = list(initiative.actions.all())
    transitions = list(initiative.transitions.all())
    review_due = workflow.may_record_review(initiative)
    may_review = can_edit and review_due
    current_review = workflow.current_review(initiative)
    kpis = list(initiative.kpis.all())
    recent_measurements(kpis)
    may_record = bool(kpis) and permissions.may_record_measurements(user, kpis[0])
    locked = workflow.kpi_definition_locked(initiative)
    may_rebaseline = locked and permissions.may_rebaseline(user)
    moves = _moves(initiative, user, overrides)
    # the sections a blocked move's reasons point to are open, ready to fix them
    fixes = {
        "action" if href == "#add-action" else href.removeprefix("#step-")
        for t in moves["moves_blocked"]
        for _, href in t["reasons"]
        if href.startswith(("#step-", "#add-action"))
    }
    if fixes:
        overrides = {**overrides, "opened": [*overrides.get("opened", ()), *fixes]}
    return {
        "nav": "register",
        "initiative": initiative,
        "can_edit": can_edit,
        "can_manage": can_manage,
        **_steps(initiative, records, can_edit, overrides),
        "records": records,
        "iterations": _iterations(initiative, reviews, actions, transitions),
        "hold": _hold(initiative, today),
        # rejected and cancelled initiatives are no longer checked: no live verdict
        "kpis_checked": initiative.step in choices.LIVE_STEPS,
        **moves,
        "kpi_cards": [
            _kpi_card(
                kpi,
                can_edit=can_edit,
                may_record=may_record,
                locked=locked,
                may_rebaseline=may_rebaseline,
                overrides=overrides,
            )
            for kpi in kpis
        ],
        "kpis_locked": locked,
        "locked_note": LOCKED_NOTE,
        "locked_how": LOCKED_HOW_CSI if may_rebaseline else LOCKED_HOW_TO_PROCEED,
        "kpis_flash": overrides.get("flash", "") if overrides.get("kpis_flash") else "",
        "may_record": may_record,
        "kpi_form": overrides.get("kpi_form")
        or (KPIForm(auto_id="id_newkpi_%s") if can_edit else None),
        "kpi_form_open": "kpi_form" in overrides,
        **_actions(initiative, actions, can_edit, users, overrides),
        "reviews": reviews,
        "current_review": current_review,
        "review_due": review_due,
        "review_next_move": _review_next_move(initiative, current_review, moves["moves"]),
        "may_review": may_review,
        "review_form": overrides.get("review_form")
        or (ReviewForm(auto_id="id_review_%s") if may_review else None),
        "details_form": overrides.get("details_form")
        or (
            InitiativeForm(
                instance=initiative,
                auto_id="id_details_%s",
                may_set_priority=can_manage,
                users=users,
            )
            if can_edit
            else None
        ),
        "details_open": "details_form" in overrides,
        "transitions": transitions,
        "history": change_history(initiative),
        "saved": overrides.get("saved", ""),
        "flash": overrides.get("flash", ""),
        "error": overrides.get("error", ""),
        "today": today,
    }


# --- where it stands: stepper, sections, iterations, hold ------------------------------------


def _steps(initiative: Initiative, records: dict, can_edit: bool, overrides: dict) -> dict:
    """The stepper and the page's seven sections, each with where it stands now
    (workflow.step_progress: on hold, the step it left is current)."""
    progress = dict(workflow.step_progress(initiative))
    opened = set(overrides.get("opened", ()))
    saved = overrides.get("saved", "")
    conflict = overrides.get("record_conflict", {})
    order = list(choices.SEVEN_STEPS)
    steps = [
        {
            "value": step.value,
            "number": number,
            "title": step.label.split(" · ", 1)[1],
            "state": PROGRESS_STATES[progress[step.value]],
        }
        for number, step in enumerate(order, start=1)
    ]
    sections = []
    for step, name, kind in STEP_SECTIONS:
        form = None
        record = records.get(name)
        if kind == "record" and can_edit:
            form = overrides.get(f"{name}_form") or RECORD_FORMS[name](
                instance=record,
                auto_id=f"id_{name}_%s",
                **({"initiative": initiative} if name == "vision" else {}),
            )
        state = PROGRESS_STATES[progress[step.value]]
        sections.append(
            {
                "step": step.value,
                "name": name,
                "kind": kind,
                "number": order.index(step) + 1,
                "title": step.label.split(" · ", 1)[1],
                "state": state,
                "record": record,
                "form": form,
                "preview": _preview(record, name) if kind == "record" else "",
                "noun": RECORD_NOUNS.get(name, name),
                "open": state == "current" or name in opened or name == saved,
                "saved": name == saved,
                "conflict": conflict.get("message", "") if conflict.get("name") == name else "",
                "unsaved": conflict.get("unsaved", []) if conflict.get("name") == name else [],
            }
        )
    return {
        "steps": steps,
        "sections": sections,
        "stepper": _stepper(initiative, steps),
    }


def _stepper(initiative: Initiative, steps: list[dict]) -> dict:
    """The stepper's ends and its one line for phones: intake (current until a step of the
    seven is reached), the step it stands in, and how it ended."""
    current = next((s for s in steps if s["state"] == "current"), None)
    started = any(s["state"] != "upcoming" for s in steps)
    end = None
    if initiative.is_final:
        end = {
            "step": initiative.step,
            "label": initiative.get_step_display(),
            "at": initiative.closed_at,
            "icon": "★" if initiative.outcome else "✕",
        }
    return {
        "intake_current": not started and not initiative.is_final,
        "current": current,
        "end": end,
        "on_hold": initiative.step == Step.ON_HOLD,
    }


def _iterations(
    initiative: Initiative, reviews: list, actions: list, transitions: list
) -> list[dict]:
    """The earlier iterations, newest first: each with its review (and an override), its
    actions, and the move that started the next one with its reason. From prefetched rows:
    no query, however many iterations."""
    reviewed = {review.iteration: review for review in reviews}
    earlier = []
    for number in range(initiative.iteration - 1, 0, -1):
        earlier.append(
            {
                "number": number,
                "review": reviewed.get(number),
                "actions": [a for a in actions if a.iteration == number],
                # the log row of a move carries the iteration it leads into
                "next": next((t for t in transitions if t.iteration == number + 1), None),
            }
        )
    return earlier


def _hold(initiative: Initiative, today: dt.date) -> dict | None:
    """The on-hold banner: the step it left, why, since when, and the resume-by date."""
    if initiative.step != Step.ON_HOLD:
        return None
    until = initiative.hold_until
    return {
        "from": Step(initiative.held_from).label if initiative.held_from else "",
        "reason": initiative.hold_reason,
        "since": initiative.held_since,
        "days": initiative.on_hold_days,
        "until": until,
        "overdue_days": (today - until).days if until and until < today else 0,
    }


# --- moves --------------------------------------------------------------------------------


def _moves(initiative: Initiative, user, overrides: dict) -> dict:
    """The moves: only those the user is permitted; allowed ones as buttons or, when they
    need inputs (a reason, lessons learned, an outcome, a resume-by date), as a form each;
    blocked ones with their reasons. The guards run here, once per page."""
    moves = [t for t in allowed_transitions(initiative, user) if t.permitted]
    move_to = overrides.get("move_to", "")
    bound = overrides.get("move_form")
    with_inputs = [t for t in moves if t.allowed and t.requires]
    proposed = ""
    if any("outcome" in t.requires for t in with_inputs):
        proposed = workflow.proposed_outcome(workflow.last_review_snapshot(initiative))
    move_forms = []
    for t in with_inputs:
        here = bound is not None and move_to == t.to
        form = (
            bound
            if here
            else MoveForm(
                initial={"to": t.to},
                requires=t.requires,
                step=initiative.step,
                proposed_outcome=proposed if "outcome" in t.requires else "",
                auto_id=f"id_move_{t.to}_%s",
            )
        )
        move_forms.append({"t": t, "form": form, "open": here})
    blocked = [t for t in moves if not t.allowed]
    shown_on_a_form = any(m["open"] for m in move_forms)
    return {
        "moves": moves,
        "moves_note": _no_move_note(initiative) if not moves else "",
        "moves_forward": [t for t in moves if t.allowed and not t.requires and not t.back],
        "moves_back": [t for t in moves if t.allowed and not t.requires and t.back],
        "move_forms": move_forms,
        "moves_blocked": [
            {"label": t.label, "to": t.to, "reasons": [(r, fix_of(r)) for r in t.reasons]}
            for t in blocked
            if not t.back
        ],
        "moves_blocked_other": [t for t in blocked if t.back],
        # a refused move's errors show on its form when it has one, else on top
        "move_errors": [] if shown_on_a_form else overrides.get("move_errors", []),
        "move_to": move_to,
        "move_from": initiative.step,
        # the comment typed with a refused move of the buttons' form, kept
        "move_comment": bound.data.get("comment", "") if bound is not None else "",
    }


#: where a guard's reason (workflow/guards.py, in the user's words) is fixed on the page:
#: the first rule whose words the reason contains
FIXES = (
    ("No accountable owner", "#details"),
    ("organisational goal", "#step-vision"),
    ("vision", "#step-vision"),
    ("expected value", "#step-vision"),
    ("baseline assessment", "#step-baseline"),
    ("KPI", "#kpis"),
    ("plan has no approach", "#step-plan"),
    ("No action is planned", "#add-action"),
    ("No action is done", "#step-action"),
    ("review", "#step-review"),
    ("lessons learned", "#step-sustain"),
)


def fix_of(reason: str) -> str:
    """The place on the page where `reason` is fixed ('' when there is none)."""
    return next((href for words, href in FIXES if words.lower() in reason.lower()), "")


def _no_move_note(initiative: Initiative) -> str:
    """What an editor offered no move is told: a proposal awaits triage; else who moves it."""
    if initiative.step == Step.PROPOSED:
        return (
            "It awaits triage: a CSI manager accepts it into step 1 or rejects it. "
            "Meanwhile you can fill in its details below."
        )
    if initiative.is_final:
        return ""
    return "No move is open to you from here: a CSI manager can move it on."


def _review_next_move(initiative: Initiative, review, moves: list):
    """The move this iteration's review decided, when it is offered now: in step 6 (on hold
    from step 7, resuming leads to the same step, but it is not the review's move)."""
    if review is None or initiative.step != Step.REVIEW:
        return None
    target = workflow.DECISION_TARGETS.get(review.decision)
    return next((t for t in moves if t.to == target), None)


# --- KPIs and actions ---------------------------------------------------------------------


def _kpi_card(
    kpi: KPI, *, can_edit: bool, may_record: bool, locked: bool, may_rebaseline: bool, overrides
) -> dict:
    """One KPI with its latest check, its chart, its revisions and (for those who may) its
    forms; the goalposts locked after step 3, re-baselined by a CSI manager.

    The edit and re-baseline forms are on the card only when they show open: a refused post
    with its errors, or asked for by `open_kpi_edit` / `open_kpi_rebaseline` (the page
    without JavaScript); else the card asks for them when they are opened (kpi_form_card)."""
    edit_forms = overrides.get("kpi_forms", {})
    rebaseline_forms = overrides.get("rebaseline_forms", {})
    measurement_forms = overrides.get("measurement_forms", {})
    delete_errors = overrides.get("kpi_delete_errors", {})
    open_edit = can_edit and (
        kpi.pk in edit_forms or kpi.pk in delete_errors or overrides.get("open_kpi_edit") == kpi.pk
    )
    open_rebaseline = may_rebaseline and (
        kpi.pk in rebaseline_forms or overrides.get("open_kpi_rebaseline") == kpi.pk
    )
    check = kpi.latest_checks[0] if kpi.latest_checks else None
    return {
        "kpi": kpi,
        "check": check,
        # drawn only when a template shows the card: templates call a callable
        "chart": partial(charts.kpi_chart, kpi, kpi.recent_measurements, check=check),
        "revisions": kpi_revisions(kpi),
        "locked": locked,
        "may_edit": can_edit,
        "may_rebaseline": may_rebaseline,
        "edit_form": kpi_edit_form(kpi, locked, edit_forms.get(kpi.pk)) if open_edit else None,
        "rebaseline_form": kpi_rebaseline_form(kpi, rebaseline_forms.get(kpi.pk))
        if open_rebaseline
        else None,
        "measurement_form": (
            measurement_forms.get(kpi.pk)
            or MeasurementForm(auto_id=f"id_m{kpi.pk}_%s", unit=kpi.unit)
        )
        if may_record and not kpi.derived  # a derived KPI is measured from ITSM records
        else None,
        "open_edit": open_edit,
        "open_rebaseline": open_rebaseline,
        "delete_error": delete_errors.get(kpi.pk, ""),
        "open_measure": kpi.pk in measurement_forms,
        "saved": overrides.get("saved_kpi") == kpi.pk,
    }


def kpi_edit_form(kpi: KPI, locked: bool, bound: KPIForm | None = None) -> KPIForm:
    """The KPI's edit form: `bound` (a refused post, with the stored goalposts when they
    are locked) or the KPI as it stands."""
    if bound is None:
        return KPIForm(instance=kpi, auto_id=f"id_kpi{kpi.pk}_%s", locked=locked)
    if locked:
        bound.lock()  # a refused change: the stored goalposts, with the errors
    return bound


def kpi_rebaseline_form(kpi: KPI, bound: KPIRebaselineForm | None = None) -> KPIRebaselineForm:
    """The KPI's re-baseline form: `bound` (a refused post) or the KPI as it stands."""
    return bound or KPIRebaselineForm(instance=kpi, auto_id=f"id_rb{kpi.pk}_%s")


def kpi_form_card(user, initiative: Initiative, kpi: KPI, *, rebaseline: bool) -> dict:
    """What the KPI card's edit form (or, with `rebaseline`, its re-baseline form) needs
    when the card asks for it on its own: the form as the page would show it open. The
    caller has checked that `user` may use it."""
    locked = workflow.kpi_definition_locked(initiative)
    may_rebaseline = locked and permissions.may_rebaseline(user)
    card = {"kpi": kpi, "locked": locked, "delete_error": ""}
    if rebaseline:
        card["rebaseline_form"] = kpi_rebaseline_form(kpi)
    else:
        card["edit_form"] = kpi_edit_form(kpi, locked)
    return {
        "initiative": initiative,
        "kpi": kpi,
        "card": card,
        "locked_note": LOCKED_NOTE,
        "locked_how": LOCKED_HOW_CSI if may_rebaseline else LOCKED_HOW_TO_PROCEED,
    }


def kpi_revisions(kpi: KPI) -> list[dict]:
    """The KPI's revisions, newest first: kind, who, when, why, and each field's old → new
    in words (a definition lists its goalposts only)."""
    rows = []
    for revision in kpi.revisions.all():
        names = [
            name
            for name in revision.changes
            if revision.kind != KPIRevision.Kind.DEFINED or name in LOCKED_FIELDS
        ]
        rows.append(
            {
                "kind": revision.kind,
                "label": revision.get_kind_display(),
                "by": revision.by,
                "at": revision.at,
                "reason": revision.reason,
                "changes": [
                    (
                        str(KPI._meta.get_field(name).verbose_name),
                        _revision_value(kpi, name, revision.changes[name][0]),
                        _revision_value(kpi, name, revision.changes[name][1]),
                    )
                    for name in names
                    if name in _KPI_FIELD_NAMES
                ],
            }
        )
    rows.reverse()
    return rows


_KPI_FIELD_NAMES = {f.name for f in KPI._meta.concrete_fields}


def _revision_value(kpi: KPI, name: str, value) -> str:
    """A value kept in a revision (JSON: dates as ISO text), as the page shows it."""
    if value is None or value == "":
        return "—"
    field = KPI._meta.get_field(name)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if name in ("baseline_value", "target_value"):
        return charts.fmt_number(value, kpi.unit)
    if name.endswith("_date") and isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value
        return f"{day.day} {day:%b %Y}"
    return str(value)


def _actions(
    initiative: Initiative, actions: list, can_edit: bool, users: list, overrides: dict
) -> dict:
    """This iteration's actions with their forms; earlier iterations' as history (they no
    longer count: each iteration does its own work)."""
    forms = overrides.get("action_forms", {})

    def card(action: Action) -> dict:
        form = None
        if can_edit:
            form = forms.get(action.pk) or ActionForm(
                instance=action, auto_id=f"id_action{action.pk}_%s", users=users
            )
        return {
            "action": action,
            "form": form,
            "open": action.pk in forms,
            # the one-click buttons: done while still to do, start while only planned
            "to_do": action.status in choices.OPEN_ACTION_STATUSES,
            "startable": action.status == choices.ActionStatus.PLANNED,
        }

    return {
        "actions": [card(a) for a in actions if a.iteration == initiative.iteration],
        "earlier_actions": [a for a in actions if a.iteration != initiative.iteration],
        "action_form": overrides.get("action_form")
        or (ActionForm(auto_id="id_newaction_%s", users=users) if can_edit else None),
        "action_form_open": "action_form" in overrides,
    }
