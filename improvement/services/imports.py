"""Importing a register from a spreadsheet (CSV or XLSX): column mapping, dry run, commit.

`register_import` reads each row through the register's own services — initiative_create,
initiative_update, initiative_set_priority, step_record_update and initiative_transition —
so a row is validated exactly as the API and the pages validate, and a step is reached
only through the state machine's moves and guards. All the rows run in one transaction,
each in a savepoint: a dry run, or a commit with any row in error, rolls everything back
and answers the same report (create / update / unchanged / error with its reasons).
Rows are matched to the register by CIR reference, else by external system + external id,
so importing the same file again updates or leaves unchanged, never duplicates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from .. import permissions
from ..choices import Priority, Source, Step
from ..exceptions import CIRError, InvalidInput, TransitionBlocked
from ..models import Goal, ImportMapping, Initiative, Practice, Service
from ..sheets import Sheet, formula_unguard
from .common import require, text_problem
from .initiatives import (
    initiative_create,
    initiative_set_priority,
    initiative_transition,
    initiative_update,
    priority_for_score,
    step_record_update,
)

User = get_user_model()

NEED_CSI_IMPORT = "Only a CSI manager may import a register."


@dataclass(frozen=True)
class ImportField:
    """A field a column may be mapped to: its name, label, and the words of its headers."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()


#: every field a register import sets, in the order of the register's export
IMPORT_FIELDS = (
    ImportField("reference", "Reference", ("cir reference", "ref")),
    ImportField("title", "Title", ("name", "summary", "idea", "initiative")),
    ImportField("description", "Description", ("details",)),
    ImportField("source", "Source", ("origin",)),
    ImportField("external_system", "External system", ("system", "tool")),
    ImportField("external_id", "External ID", ("id", "external reference", "record", "ticket")),
    ImportField("external_url", "External URL", ("url", "link")),
    ImportField("service", "Service", ("it service",)),
    ImportField("practice", "Practice", ("itil practice", "process")),
    ImportField("goals", "Goals", ("goal", "organisational goals")),
    ImportField("value", "Value", ()),
    ImportField("effort", "Effort", ()),
    ImportField("urgency", "Urgency", ()),
    ImportField("priority", "Priority", ()),
    ImportField("step", "Step", ("state", "stage", "status", "phase")),
    ImportField("accountable", "Accountable", ("owner", "accountable owner")),
    ImportField("responsible", "Responsible", ()),
    ImportField("consulted", "Consulted", ()),
    ImportField("informed", "Informed", ()),
    ImportField("due_date", "Due date", ("due", "deadline")),
    ImportField("vision_statement", "Vision statement", ("vision",)),
    ImportField("expected_value", "Expected value", ("expected benefit",)),
    ImportField("baseline_assessment", "Baseline assessment", ("baseline", "current state")),
)
FIELDS_BY_NAME = {f.name: f for f in IMPORT_FIELDS}

_PEOPLE_FIELDS = ("responsible", "consulted", "informed")
_TEXT_FIELDS = ("title", "description", "external_system", "external_id", "external_url")
_SCALE_FIELDS = ("value", "effort", "urgency")
#: the step records a row may write: field of the import → (record, field of the record)
_RECORD_FIELDS = {
    "vision_statement": ("vision", "statement"),
    "expected_value": ("vision", "expected_value"),
    "baseline_assessment": ("baseline", "assessment"),
}
#: the moves forward from intake, in order: the steps an import may ask for
FORWARD_PATH = (
    Step.PROPOSED,
    Step.VISION,
    Step.BASELINE,
    Step.TARGET,
    Step.PLAN,
    Step.ACTION,
    Step.REVIEW,
    Step.SUSTAIN,
)
IMPORT_COMMENT = "Imported from a spreadsheet"
_CIR_REFERENCE = re.compile(r"CIR-\d+", re.IGNORECASE).fullmatch
#: what separates several goals or people in one cell
_LIST_SEPARATORS = re.compile(r"[;\n]+")


def _words(text: str) -> str:
    """A header or label reduced to its words: 'External  ID' and 'external_id' agree."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split())


def mapping_guess(headers: list[str]) -> dict[str, str]:
    """{our field: their header} for the headers that name a field (its name, its label or
    a usual alias, whatever the case and punctuation); each header maps one field at most."""
    by_words = {}
    for f in IMPORT_FIELDS:
        for word in (f.name, f.label, *f.aliases):
            by_words.setdefault(_words(word), f.name)
    guess: dict[str, str] = {}
    for header in headers:
        name = by_words.get(_words(header))
        if name and name not in guess:
            guess[name] = header
    return guess


def mapping_problems(mapping, headers: list[str]) -> dict[str, list[str]]:
    """What is wrong with a mapping for a file with `headers` (empty: nothing)."""
    if not isinstance(mapping, dict):
        return {"mapping": ["The mapping is an object {our field: your column}."]}
    errors: dict[str, list[str]] = {}
    known = {h.lower(): h for h in headers}
    for name, column in mapping.items():
        if name not in FIELDS_BY_NAME:
            errors[str(name)] = [
                f"'{name}' is not a field of the register; the fields are: "
                f"{', '.join(FIELDS_BY_NAME)}."
            ]
        elif not isinstance(column, str) or column.lower() not in known:
            errors[name] = [f"The file has no column '{column}'."]
    if not errors and not ({"title", "reference"} & set(mapping)):
        errors["title"] = ["Map a column to the title (or to the reference, to update)."]
    return errors


def mapping_resolve(mapping: dict, headers: list[str]) -> dict[str, int]:
    """{our field: index of its column} for a valid mapping (headers matched in any case)."""
    index = {h.lower(): n for n, h in enumerate(headers)}
    return {name: index[column.lower()] for name, column in mapping.items()}


def import_mapping_save(*, actor, name: str, mapping: dict) -> ImportMapping:
    """Save (or replace) a named column mapping for the next import (CSI managers)."""
    require(permissions.may_manage(actor), NEED_CSI_IMPORT)
    name = (name or "").strip() if isinstance(name, str) else name
    if problem := (text_problem(name, 100) if name != "" else "A name is required."):
        raise InvalidInput(problem, errors={"save_mapping_as": [problem]})
    if not isinstance(mapping, dict) or any(
        k not in FIELDS_BY_NAME or not isinstance(v, str) or text_problem(v, 200)
        for k, v in mapping.items()
    ):
        message = "The mapping is an object {our field: your column}."
        raise InvalidInput(message, errors={"mapping": [message]})
    saved = ImportMapping.objects.filter(name=name).first() or ImportMapping(
        name=name, created_by=actor
    )
    saved.mapping = mapping
    saved.save()
    return saved


# --- reading a row --------------------------------------------------------------------------


class RowInvalid(Exception):
    """A row's cell that cannot be read; `errors` maps the field to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id typed as a number: 40012, not 40012.0
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return formula_unguard(str(value).strip())


def _scale(value, name: str):
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer() or not 1 <= number <= 5:
        raise RowInvalid({name: [f"A whole number from 1 to 5 is required, not '{value}'."]})
    return int(number)


def _date(value, name: str):
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text)
    except ValueError:
        raise RowInvalid({name: [f"A date as YYYY-MM-DD is required, not '{text}'."]}) from None


def _choice(value, choices, name: str) -> str:
    text = _text(value)
    for v, label in choices.choices:
        if text.lower() in (v.lower(), label.lower(), _words(label)):
            return v
    raise RowInvalid({name: [f"'{text}' is not one of: {', '.join(choices.values)}."]})


class _Catalogue:
    """The people, goals, services and practices rows refer to, read once per import."""

    def __init__(self):
        self.users: dict[str, list] = defaultdict(list)
        for user in User.objects.filter(is_active=True):
            self.users[user.get_username().lower()].append(user)
            if user.email and user.email.lower() != user.get_username().lower():
                self.users[user.email.lower()].append(user)
        self.goals = {g.title.lower(): g for g in Goal.objects.all()}
        self.services = {s.name.lower(): s for s in Service.objects.all()}
        self.practices = {p.name.lower(): p for p in Practice.objects.all()}

    def person(self, text: str, name: str):
        found = self.users.get(text.lower(), [])
        if len(found) == 1:
            return found[0]
        if found:
            raise RowInvalid({name: [f"'{text}' is the email of several users: give a username."]})
        raise RowInvalid({name: [f"No user '{text}' (give a username or an email address)."]})

    def people(self, value, name: str) -> list:
        return [self.person(t.strip(), name) for t in _split(value)]

    def goal_list(self, value) -> list:
        found, unknown = [], []
        for title in _split(value):
            goal = self.goals.get(title.lower())
            if goal is None:
                unknown.append(title)
            else:
                found.append(goal)
        if unknown:
            raise RowInvalid({"goals": [f"No goal '{t}'." for t in unknown]})
        return found

    def named(self, value, table: dict, name: str):
        text = _text(value)
        if not text:
            return None
        if text.lower() not in table:
            raise RowInvalid({name: [f"No {name} named '{text}'."]})
        return table[text.lower()]


def _split(value) -> list[str]:
    text = _text(value)
    parts = [p.strip() for p in _LIST_SEPARATORS.split(text)]
    if len(parts) == 1 and "," in text and "@" not in text:
        parts = [p.strip() for p in text.split(",")]  # "ann, bob": people by username
    return [p for p in parts if p]


def _read_row(cells: list, columns: dict[str, int], catalogue: _Catalogue) -> dict:
    """The row's values by field (only the mapped fields), typed; RowInvalid with every bad
    cell's message."""
    data: dict = {}
    errors: dict[str, list[str]] = {}
    for name, index in columns.items():
        value = cells[index]
        try:
            if name in _SCALE_FIELDS:
                data[name] = _scale(value, name)
            elif name == "due_date":
                data[name] = _date(value, name)
            elif name == "source":
                data[name] = _choice(value, Source, name) if _text(value) else None
            elif name == "priority":
                text = _text(value).upper()
                data[name] = _choice(text[:2], Priority, name) if text else None
            elif name == "step":
                data[name] = _choice(value, Step, name) if _text(value) else None
            elif name == "accountable":
                text = _text(value)
                data[name] = catalogue.person(text, name) if text else None
            elif name in _PEOPLE_FIELDS:
                data[name] = catalogue.people(value, name)
            elif name == "goals":
                data[name] = catalogue.goal_list(value)
            elif name == "service":
                data[name] = catalogue.named(value, catalogue.services, name)
            elif name == "practice":
                data[name] = catalogue.named(value, catalogue.practices, name)
            else:
                data[name] = _text(value)
        except RowInvalid as exc:
            errors.update(exc.errors)
    if errors:
        raise RowInvalid(errors)
    if "external_system" in data:  # stored so (services.initiatives): compared so
        data["external_system"] = data["external_system"].lower()
    reference = data.get("reference", "")
    if reference and not _CIR_REFERENCE(reference) and not data.get("external_id"):
        # the row's id in their own spreadsheet: it identifies the row as an external id
        data["external_id"] = data.pop("reference")
    return data


# --- the report -----------------------------------------------------------------------------


@dataclass
class RowResult:
    """What the import does (or would do) with one row of the file."""

    row: int
    outcome: str  # create / update / unchanged / error
    reference: str = ""
    title: str = ""
    changes: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "outcome": self.outcome,
            "reference": self.reference,
            "title": self.title,
            "changes": self.changes,
            "errors": self.errors,
        }


@dataclass
class ImportReport:
    """Every row's outcome; `committed` when the rows were written."""

    rows: list[RowResult]
    dry_run: bool
    committed: bool = False
    mapping: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "unchanged", "error"), 0)
        for r in self.rows:
            counts[r.outcome] += 1
        return counts

    @property
    def error_count(self) -> int:
        return self.counts["error"]

    @property
    def row_errors(self) -> dict[str, dict]:
        """{row number: {field: [messages]}} of the rows in error."""
        return {str(r.row): r.errors for r in self.rows if r.outcome == "error"}

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "counts": self.counts,
            "mapping": self.mapping,
            "rows": [r.as_dict() for r in self.rows],
        }


class _RollBack(Exception):
    """Leaves the import's transaction without writing anything."""


# --- one row --------------------------------------------------------------------------------


def _messages(exc: CIRError) -> dict[str, list[str]]:
    if isinstance(exc, TransitionBlocked):
        return {"step": [exc.message, *exc.reasons]}
    errors = exc.errors if isinstance(exc.errors, dict) else {}
    if not errors:
        return {"non_field_errors": [exc.message]}
    return {
        str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()
    }


def _record_text(initiative: Initiative, record: str, name: str) -> str:
    obj = getattr(initiative, record, None) if initiative.pk else None
    try:
        return getattr(obj, name) if obj is not None else ""
    except Exception:  # noqa: BLE001 - no record yet
        return ""


def _differences(initiative: Initiative, data: dict) -> list[str]:
    """The fields of `data` whose value differs from the initiative's."""
    changed = []
    for name, value in data.items():
        if name in ("reference", "step", "priority") or name in _RECORD_FIELDS:
            continue
        if name == "goals" or name in _PEOPLE_FIELDS:
            current = {o.pk for o in getattr(initiative, name).all()}
            if current != {o.pk for o in value}:
                changed.append(name)
        elif name in ("accountable", "service", "practice"):
            if getattr(initiative, f"{name}_id") != (value.pk if value else None):
                changed.append(name)
        elif name in _SCALE_FIELDS or name == "source":
            if value is not None and getattr(initiative, name) != value:
                changed.append(name)
        elif getattr(initiative, name) != value:
            changed.append(name)
    return changed


def _normalised_external(data: dict) -> tuple[str, str]:
    return (data.get("external_system") or "").strip().lower(), (
        data.get("external_id") or ""
    ).strip()


def _walk_to(initiative: Initiative, to: str, *, actor) -> tuple[Initiative, bool]:
    """Move forward through the steps to `to`, each move through initiative_transition (its
    permission and guard): the moves made, or RowInvalid saying which condition is unmet."""
    if to == initiative.step:
        return initiative, False
    if initiative.step not in FORWARD_PATH or to not in FORWARD_PATH:
        raise RowInvalid(
            {
                "step": [
                    f"An import moves initiatives forward from 'Proposed' up to "
                    f"'{Step.SUSTAIN.label}' only; '{Step(initiative.step).label}' cannot "
                    f"become '{Step(to).label}' here. Make that move on the initiative's page."
                ]
            }
        )
    start, stop = FORWARD_PATH.index(initiative.step), FORWARD_PATH.index(to)
    if stop < start:
        raise RowInvalid(
            {
                "step": [
                    f"An import does not move back: it is in '{Step(initiative.step).label}', "
                    f"not '{Step(to).label}'. Move it back on its page, with a reason."
                ]
            }
        )
    for step in FORWARD_PATH[start + 1 : stop + 1]:
        try:
            initiative = initiative_transition(
                initiative=initiative, to=step, actor=actor, comment=IMPORT_COMMENT
            )
        except TransitionBlocked as exc:
            raise RowInvalid(
                {
                    "step": [
                        f"'{Step(to).label}' cannot be reached: the move to "
                        f"'{Step(step).label}' is blocked.",
                        *exc.reasons,
                    ]
                }
            ) from exc
    return initiative, True


def _apply_records(initiative: Initiative, data: dict, *, actor) -> list[str]:
    """Write the vision / baseline texts of the row that differ; the fields written."""
    by_record: dict[str, dict] = defaultdict(dict)
    changed = []
    for name, (record, record_field) in _RECORD_FIELDS.items():
        if name in data and data[name] != _record_text(initiative, record, record_field):
            by_record[record][record_field] = data[name]
            changed.append(name)
    for record, values in by_record.items():
        step_record_update(initiative=initiative, record=record, actor=actor, **values)
    return changed


def _import_row(data: dict, existing: Initiative | None, *, actor, result: RowResult) -> Initiative:
    """Create or update one initiative from a row's values; fills `result`."""
    service_data = {
        k: v
        for k, v in data.items()
        if k not in ("reference", "step", "priority") and k not in _RECORD_FIELDS
    }
    if existing is None:
        title = service_data.pop("title", "")
        if not title:
            raise RowInvalid({"title": ["A title is required to create an initiative."]})
        for name in (*_SCALE_FIELDS, "source"):
            if service_data.get(name) is None:
                service_data.pop(name, None)  # the register's default
        initiative = initiative_create(actor=actor, title=title, **service_data)
        result.outcome = "create"
    else:
        initiative = existing
        changed = _differences(initiative, service_data)
        if changed:
            initiative_update(
                initiative=initiative,
                actor=actor,
                **{k: service_data[k] for k in changed},
            )
            result.changes.extend(changed)
    if data.get("priority") is not None and data["priority"] != initiative.priority:
        derived = priority_for_score((initiative.value + initiative.urgency) / initiative.effort)
        manual = data["priority"] != derived or initiative.priority_set_manually
        initiative_set_priority(
            initiative=initiative, actor=actor, priority=data["priority"] if manual else None
        )
        result.changes.append("priority")
    result.changes.extend(_apply_records(initiative, data, actor=actor))
    if data.get("step"):
        initiative, moved = _walk_to(initiative, data["step"], actor=actor)
        if moved:
            result.changes.append("step")
    if existing is not None:
        result.outcome = "update" if result.changes else "unchanged"
    result.reference = initiative.reference
    return initiative


def _existing(rows: list[dict]) -> tuple[dict, dict]:
    """The initiatives the rows name, by reference and by (external system, id) in lower
    case, loaded with what a comparison reads (two queries and the prefetches)."""
    references = {d["reference"].upper() for d in rows if d.get("reference")}
    external_ids = {_normalised_external(d)[1].lower() for d in rows if d.get("external_id")}
    if not references and not external_ids:
        return {}, {}
    queryset = (
        Initiative.objects.annotate(external_id_lower=Lower("external_id"))
        .filter(Q(reference__in=references) | Q(external_id_lower__in=external_ids))
        .select_related("vision", "baseline")
        .prefetch_related("goals", *_PEOPLE_FIELDS)
    )
    by_reference, by_external = {}, {}
    for initiative in queryset:
        by_reference[initiative.reference.upper()] = initiative
        if initiative.external_id:
            key = (initiative.external_system.lower(), initiative.external_id.lower())
            by_external[key] = initiative
    return by_reference, by_external


def register_import(
    *, actor, sheet: Sheet, mapping: dict | None = None, dry_run: bool = True
) -> ImportReport:
    """Import the rows of `sheet` into the register (CSI managers), all or nothing.

    `mapping`: {our field: their column}; None guesses it from the headers (mapping_guess).
    Every row is read and run through the services in one transaction, each in a savepoint;
    the report gives each row's outcome: `create`, `update` (with the fields changed),
    `unchanged`, or `error` (with the reasons, by field). A dry run, or a commit with any
    row in error, rolls it all back: nothing is written. Raises Forbidden, or InvalidInput
    for a mapping that does not fit the file.
    """
    require(permissions.may_manage(actor), NEED_CSI_IMPORT)
    if mapping is None:
        mapping = mapping_guess(sheet.headers)
    if problems := mapping_problems(mapping, sheet.headers):
        raise InvalidInput(next(iter(problems.values()))[0], errors={"mapping": problems})
    columns = mapping_resolve(mapping, sheet.headers)
    catalogue = _Catalogue()
    report = ImportReport(rows=[], dry_run=dry_run, mapping=dict(mapping))

    parsed: list[tuple[RowResult, dict | None]] = []
    for number, cells in zip(sheet.row_numbers, sheet.rows, strict=True):
        result = RowResult(row=number, outcome="error")
        try:
            data = _read_row(cells, columns, catalogue)
            result.title = data.get("title", "")
        except RowInvalid as exc:
            result.errors = exc.errors
            if "title" in columns:
                result.title = _text(cells[columns["title"]])
            data = None
        parsed.append((result, data))
    by_reference, by_external = _existing([d for _, d in parsed if d is not None])

    try:
        with transaction.atomic():
            for result, data in parsed:
                report.rows.append(result)
                if data is None:
                    continue
                try:
                    existing = _match(data, by_reference, by_external)
                    with transaction.atomic():
                        initiative = _import_row(data, existing, actor=actor, result=result)
                except RowInvalid as exc:
                    result.outcome, result.errors, result.changes = "error", exc.errors, []
                    continue
                except CIRError as exc:
                    result.outcome, result.errors, result.changes = "error", _messages(exc), []
                    continue
                result.title = initiative.title
                system, external_id = _normalised_external(data)
                if external_id:  # a later row of the same record updates this one
                    by_external[(system, external_id.lower())] = initiative
                by_reference[initiative.reference.upper()] = initiative
            if dry_run or report.error_count:
                raise _RollBack
    except _RollBack:
        for result in report.rows:  # the references drawn for them were given back
            if result.outcome == "create":
                result.reference = ""
    else:
        report.committed = True
    return report


def _match(data: dict, by_reference: dict, by_external: dict) -> Initiative | None:
    """The initiative a row updates: by CIR reference, else by external system + id."""
    reference = data.get("reference") or ""
    if reference:
        found = by_reference.get(reference.upper())
        if found is not None:
            return found
        raise RowInvalid(
            {
                "reference": [
                    f"No initiative {reference} in the register: leave the reference "
                    "empty to create one (CIR gives it its reference)."
                ]
            }
        )
    system, external_id = _normalised_external(data)
    if external_id:
        return by_external.get((system, external_id.lower()))
    return None


# --- measurements of one KPI from a spreadsheet ---------------------------------------------


@dataclass
class PointsReport:
    """The points of a pasted or uploaded sheet: each row's errors, and what was recorded."""

    rows: list[dict]
    recorded: int = 0
    dry_run: bool = True

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.rows if r["errors"])

    @property
    def row_errors(self) -> dict[str, dict]:
        return {str(r["row"]): r["errors"] for r in self.rows if r["errors"]}

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "recorded": self.recorded, "rows": self.rows}


def measurements_import(
    *, kpi, actor, points: list[tuple[int, dict]], dry_run: bool = True
) -> PointsReport:
    """Record a sheet's points of one KPI through measurement_record (its permission, limit
    and validation; all or nothing), or with `dry_run` only say what is wrong with each row.

    `points`: (row number in the file, point) as sheets.measurement_points reads them.
    Raises Forbidden, or InvalidInput when recording is refused as a whole.
    """
    from .measurements import measurement_points_problems, measurement_record

    require(permissions.may_record_measurements(actor, kpi), permissions.NEED_FEED)
    problems = measurement_points_problems([p for _, p in points])
    report = PointsReport(
        rows=[
            {"row": number, **point, "errors": problems.get(index, {})}
            for index, (number, point) in enumerate(points)
        ],
        dry_run=dry_run,
    )
    if dry_run or report.error_count:
        return report
    report.recorded = measurement_record(kpi=kpi, actor=actor, points=[p for _, p in points])
    return report
