"""Forms of the initiative page: step records, actions, KPIs, measurements, reviews and
moves. Like every form of the pages they parse input; the services validate and write.

Step record forms carry the version of the record the page showed, and move forms the step
it showed: the services refuse an edit or a move made from a stale page (409).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import format_html

from .. import choices, evaluation, services
from ..models import KPI, Action, Baseline, Goal, Plan, Review, Sustain, Target, Vision
from ..services.kpis import LOCKED_FIELDS
from .forms import (
    DateInput,
    DateTimeInput,
    IdsChoiceField,
    ServiceForm,
    ServiceModelForm,
    _textarea,
)
from .people import PersonField, offer_people

User = get_user_model()


def _required(label: str) -> str:
    return format_html('{} <span class="req">(required)</span>', label)


# --- step records ------------------------------------------------------------------------


class RecordForm(ServiceModelForm):
    """A step record's form, carrying the version of the record it was made from
    (services.record_version): the service refuses an edit of a record changed since."""

    version = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].initial = services.record_version(self.instance)

    def seen_version(self) -> str | None:
        """The version the edit was made from; None when the post carries none (no check)."""
        return self.cleaned_data.get("version", "") if "version" in self.data else None

    def service_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}

    def unsaved(self) -> list[tuple[str, str]]:
        """What the user typed that differs from the record now: (label, value) of each
        field, shown when their edit was refused so that nothing typed is lost."""
        rows = []
        for name in self.changed_data:
            if name == "version":
                continue
            value = self.cleaned_data.get(name)
            if isinstance(value, dt.date):
                text = f"{value:%d %b %Y}"
            elif value is not None and not isinstance(value, str) and hasattr(value, "__iter__"):
                text = ", ".join(str(v) for v in value)
            else:
                text = str(value) if value not in (None, "") else "—"
            rows.append((str(self.fields[name].label or name), text))
        return rows


class VisionForm(RecordForm):
    goals = IdsChoiceField(
        queryset=Goal.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Organisational goals it serves",
    )

    class Meta:
        model = Vision
        fields = ["statement", "goals", "stakeholders", "expected_value", "authority"]
        labels = {
            "statement": "Vision statement",
            "expected_value": "Expected value",
            "authority": "Authority to proceed",
        }
        help_texts = {
            "statement": "Where will we be, and why does it matter to the organisation?",
            "stakeholders": "Who cares about the outcome, and who is affected?",
        }
        widgets = {
            "statement": _textarea(3),
            "stakeholders": _textarea(2),
            "expected_value": _textarea(2),
            "authority": _textarea(2),
        }

    def __init__(self, *args, initiative=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = Goal.objects.filter(active=True)
        if initiative is not None:
            selected = [g.pk for g in initiative.goals.all()]
            qs = Goal.objects.filter(active=True) | Goal.objects.filter(pk__in=selected)
            self.fields["goals"].initial = selected
        self.fields["goals"].queryset = qs.distinct().order_by("title")

    def service_data(self) -> dict:
        data = super().service_data()
        data["goals"] = list(data["goals"])
        return data


class BaselineForm(RecordForm):
    class Meta:
        model = Baseline
        fields = ["assessment", "method", "assessed_on"]
        labels = {"assessment": "Assessment: where are we now?", "assessed_on": "Assessed on"}
        help_texts = {"method": "How it was measured: data sources, surveys, interviews."}
        widgets = {"assessment": _textarea(4), "method": _textarea(2), "assessed_on": DateInput()}


class TargetForm(RecordForm):
    class Meta:
        model = Target
        fields = ["objectives", "csfs"]
        labels = {"objectives": "SMART objectives", "csfs": "Critical success factors"}
        help_texts = {
            "objectives": "Specific, measurable, achievable, relevant and time-bound: "
            "what will be true, and by when?",
            "csfs": "What must go right for the objectives to be met.",
        }
        widgets = {"objectives": _textarea(4), "csfs": _textarea(2)}


class PlanForm(RecordForm):
    class Meta:
        model = Plan
        fields = ["approach", "hypotheses", "checkpoints", "risks"]
        widgets = {
            "approach": _textarea(3),
            "hypotheses": _textarea(3),
            "checkpoints": _textarea(2),
            "risks": _textarea(2),
        }


class SustainForm(RecordForm):
    class Meta:
        model = Sustain
        fields = ["embedding", "lessons_learned", "monitor_until"]
        labels = {"embedding": "Embedding measures", "monitor_until": "Monitor until"}
        widgets = {
            "embedding": _textarea(3),
            "lessons_learned": _textarea(3),
            "monitor_until": DateInput(),
        }


RECORD_FORMS = {
    "vision": VisionForm,
    "baseline": BaselineForm,
    "target": TargetForm,
    "plan": PlanForm,
    "sustain": SustainForm,
}


# --- actions, KPIs, measurements, reviews ----------------------------------------------------


class ActionForm(ServiceModelForm):
    owner = PersonField(role="an action’s owner", required=False, label="Owner")

    class Meta:
        model = Action
        fields = ["title", "owner", "due_date", "status", "notes"]
        widgets = {"due_date": DateInput(), "notes": _textarea(2)}

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_people(self, users)


def clean_number(value: float) -> str:
    """A stored float as people typed it: 5.525, not 5.5249999999999995; -15, not -15.0."""
    text = f"{value:.12g}"
    return text if "e" in text or "." not in text else text.rstrip("0").rstrip(".")


class NumberInput(forms.NumberInput):
    """A number field showing a stored float without its binary noise."""

    def __init__(self, attrs=None):
        super().__init__({"step": "any", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, float):
            return clean_number(value)
        return super().format_value(value)


#: the KPI's numbers a form shows without float noise
NUMBER_FIELDS = ("baseline_value", "target_value", "tolerance")


def keep_unchanged_numbers(form, data: dict) -> dict:
    """A number posted back as the form showed it (5.525 for 5.5249999999999995) is the
    stored value: no change, no revision, no locked goalpost moved."""
    instance = form.instance
    if not instance.pk:
        return data
    for name in NUMBER_FIELDS:
        stored, posted = getattr(instance, name, None), data.get(name)
        same = isinstance(stored, float) and isinstance(posted, float)
        if same and clean_number(stored) == clean_number(posted):
            data[name] = stored
    return data


def change_pct_of(kpi) -> float | None:
    """The target of `kpi` as a change in percent of its baseline (-15), when it is one to
    two decimals: how it was most likely given (the KPI keeps the absolute target only)."""
    baseline, target = kpi.baseline_value, kpi.target_value
    if baseline in (None, 0) or target is None:
        return None
    pct = round((target / baseline - 1) * 100, 2)
    return pct if evaluation.target_from_change_pct(baseline, pct) == target else None


class KPIForm(ServiceModelForm):
    """A KPI's definition. Once the initiative has left step 3 (`locked`), the goalposts
    (services.kpis.LOCKED_FIELDS, and a target given as a change) show as locked.

    Numbers show as they were typed (no float noise); a target that is a round change of
    the baseline shows that change beside it, and keeps it when the baseline changes."""

    target_change_pct = forms.FloatField(
        required=False,
        label="…or target as a change (%)",
        help_text="Instead of a target value: −15 means 15 % below the baseline.",
        widget=NumberInput(),
    )

    class Meta:
        model = KPI
        fields = ["name", "key", "unit", "kind", "direction", "aggregation", "window_days",
                  "baseline_value", "baseline_date", "target_value", "target_change_pct",
                  "target_date", "tolerance", "csf"]  # fmt: skip
        labels = {
            "key": "Key",
            "window_days": "Window (days)",
            "baseline_value": "Baseline value",
            "baseline_date": "Baseline date",
            "target_value": "Target value",
            "target_date": "Target date",
        }
        help_texts = {
            "key": "Stable slug that ITSM tools post measurements to, e.g. mttr-payroll.",
            "unit": "e.g. h, %, tickets",
            "tolerance": "Slack in progress units (0.05 = 5 % of the way from baseline to target).",
        }
        widgets = {
            "baseline_date": DateInput(),
            "target_date": DateInput(),
            **{name: NumberInput() for name in NUMBER_FIELDS},
        }

    #: what a locked field says under its label
    LOCKED_HELP = "Locked since the initiative left step 3."

    def __init__(self, *args, locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # the key is what tools post to: it never changes once defined
            del self.fields["key"]
        for name in ("window_days", "tolerance"):
            self.fields[name].required = False  # left empty: the model's default applies
        if self.instance.pk:
            self.initial.setdefault("target_change_pct", change_pct_of(self.instance))
        if locked:
            self.lock()

    def lock(self) -> None:
        """Show the goalposts disabled, with their stored values (also on a form already
        validated: a refused change shows what is kept, with its error)."""
        for name in (*LOCKED_FIELDS, "target_change_pct"):
            if name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].help_text = self.LOCKED_HELP
                self._bound_fields_cache.pop(name, None)  # built before: take the help text

    @staticmethod
    def with_locked_values(data, kpi: KPI):
        """The posted data, with the goalposts a browser does not send (their inputs are
        disabled) filled in from the KPI: unchanged, so the service sees no change."""
        data = data.copy()
        for name in LOCKED_FIELDS:
            if name not in data:
                value = getattr(kpi, name)
                data[name] = "" if value is None else str(value)
        return data

    def service_data(self) -> dict:
        data = keep_unchanged_numbers(self, dict(self.cleaned_data))
        pct = data.get("target_change_pct")
        if pct is not None and self.instance.pk:
            shown = self.initial.get("target_change_pct")
            value_changed = data.get("target_value") != self.instance.target_value
            if value_changed and pct == shown:
                pct = None  # a new target value typed over the one shown: it wins
            elif not value_changed:
                # the change in percent stands (and follows a new baseline)
                data["target_value"] = self.instance.target_value
        if pct is None:
            data.pop("target_change_pct", None)
        else:
            data["target_change_pct"] = pct
        if data.get("tolerance") is None:
            data.pop("tolerance", None)
        if data.get("window_days") is None:
            data.pop("window_days", None)
        return data


class KPIRebaselineForm(ServiceModelForm):
    """A CSI manager's change of a locked KPI definition; the reason is kept in its revision
    (services.kpi_rebaseline)."""

    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "required": True}),
        label=_required("Why re-baseline?"),
        help_text="Kept with the KPI’s revision, e.g. “the incident categories were redefined”.",
    )

    class Meta:
        model = KPI
        fields = ["reason", *LOCKED_FIELDS]
        labels = KPIForm.Meta.labels
        widgets = KPIForm.Meta.widgets

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["window_days"].required = False

    def service_data(self) -> dict:
        data = keep_unchanged_numbers(self, dict(self.cleaned_data))
        if data.get("window_days") is None:
            data.pop("window_days", None)
        return data


class MeasurementForm(ServiceForm):
    value = forms.FloatField(label="Value")
    measured_at = forms.DateTimeField(label="Measured at", widget=DateTimeInput())
    source = forms.CharField(max_length=64, required=False, initial="manual")
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, unit: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measured_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        if unit:
            self.fields["value"].label = f"Value ({unit})"

    def point(self) -> dict:
        data = self.cleaned_data
        return {
            "value": data["value"],
            "measured_at": data["measured_at"],
            "source": data.get("source") or "manual",
            "note": data.get("note") or "",
        }


class ReviewForm(ServiceModelForm):
    decision = forms.ChoiceField(
        choices=choices.Decision.choices, widget=forms.RadioSelect, label="Decision"
    )

    class Meta:
        model = Review
        fields = ["progress_check", "value_check", "decision", "decision_override", "notes"]
        labels = {
            "progress_check": "Progress: were the objectives achieved?",
            "value_check": "Value: is it still relevant and worth it?",
            "decision_override": "Justification for an override",
        }
        help_texts = {
            "progress_check": "",
            "value_check": "",
            "decision_override": "Only when the decision departs from what the KPIs say: why? "
            "It is kept and shown with the decision as an override.",
        }
        widgets = {
            "progress_check": _textarea(3),
            "value_check": _textarea(2),
            "decision_override": _textarea(2),
            "notes": _textarea(2),
        }


#: the browser's words for the end of a refused decision (the service's also names the
#: API field)
OVERRIDE_HINT = (
    "Choose the decision the KPIs support, or give a justification for an override below."
)


# --- moves -----------------------------------------------------------------------------------


class MoveForm(ServiceForm):
    """One move of the workflow with the inputs it requires (`requires`, from
    workflow.allowed_transitions), and `from`: the step the page showed, so that a move
    made from a stale page is refused (services.initiative_transition's `from_step`).

    The inputs are not required here: the service says what is missing, in the words of
    the workflow, and add_blocked puts each on its field. The browser asks first
    (the `required` attribute).
    """

    to = forms.CharField(max_length=16, widget=forms.HiddenInput)

    def __init__(self, *args, requires=(), step: str = "", proposed_outcome: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.requires = tuple(requires)
        self.fields["from"] = forms.CharField(
            required=False, max_length=16, widget=forms.HiddenInput, initial=step
        )
        if "reason" in self.requires:
            self.fields["reason"] = forms.CharField(
                required=False,
                label=_required("Reason"),
                help_text="Kept in the log of how it got here.",
                widget=forms.Textarea(attrs={"rows": 2, "required": True}),
            )
        if "lessons_learned" in self.requires:
            self.fields["lessons_learned"] = forms.CharField(
                required=False,
                label=_required("Lessons learned"),
                help_text="Added to the lessons learned of step 7.",
                widget=forms.Textarea(attrs={"rows": 2, "required": True}),
            )
        if "resume_by" in self.requires:
            today = timezone.localdate().isoformat()
            self.fields["resume_by"] = forms.DateField(
                required=False,
                label=_required("Resume by"),
                help_text="Today or later: when it should be picked up again.",
                widget=DateInput(attrs={"min": today, "required": True}),
            )
        if "outcome" in self.requires:
            outcome = forms.ChoiceField(
                required=False,
                label=_required("Outcome"),
                choices=[("", "Choose an outcome"), *choices.Outcome.choices],
                initial=proposed_outcome,
                widget=forms.Select(attrs={"required": True}),
            )
            if proposed_outcome:
                label = choices.Outcome(proposed_outcome).label
                outcome.help_text = f"The KPIs of the last review support “{label}”."
            self.fields["outcome"] = outcome
            # an outcome the data does not support is recorded with its justification
            self.fields["override"] = forms.CharField(
                required=False,
                label="Override justification",
                help_text="Only for an outcome the KPIs of the last review do not support: "
                "why? It is kept and shown with the outcome.",
                widget=_textarea(2),
            )
        if "reason" not in self.requires:
            # with a reason, the reason is the log's comment: no second box beside it
            self.fields["comment"] = forms.CharField(
                required=False, label="Comment (optional, kept in the log)", widget=_textarea(2)
            )

    def seen_step(self) -> str | None:
        return self.cleaned_data.get("from") or None

    def inputs(self) -> dict:
        """The inputs of the move for the service."""
        data = {name: self.cleaned_data.get(name) for name in self.requires}
        if self.cleaned_data.get("override"):
            data["override"] = self.cleaned_data["override"]
        return data

    def add_blocked(self, reasons: list[str], requirements=(), checks: list[str] = ()) -> None:
        """A refused move's reasons: a missing input on its field (the workflow's
        Requirement messages), what the move's check found about the outcome on the outcome,
        the rest on top."""
        fields = {r.message: r.name for r in requirements}
        for reason in reasons:
            name = fields.get(reason)
            if name is None and reason in checks and "outcome" in self.fields:
                name = "outcome"
            self.add_error(name if name in self.fields else None, reason)
