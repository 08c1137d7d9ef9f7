"""Forms of the browser pages. They describe and parse input; the services validate and write.

Model forms are used for their fields, labels and initial values only: `_post_clean` is
switched off, so the model is never validated or saved by the form. Views pass
`cleaned_data` to a service and put the service's domain errors back on the form with
`add_service_errors`.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.forms import renderers as forms_renderers
from django.forms.renderers import DjangoTemplates
from django.utils import timezone
from django.utils.functional import cached_property

from .. import choices
from ..exceptions import CIRError
from ..models import (
    KPI,
    Action,
    Baseline,
    Goal,
    Initiative,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    Vision,
)

User = get_user_model()


class CIRFormRenderer(DjangoTemplates):
    """Renders fields with the project's own markup (label, help, errors, ARIA).

    Django's built-in form templates plus the project's templates/ directory, without
    needing `django.forms` in INSTALLED_APPS (which TemplatesSetting would).
    """

    form_template_name = "improvement/forms/form.html"
    field_template_name = "improvement/forms/field.html"

    @cached_property
    def engine(self):
        dirs = [d for t in settings.TEMPLATES for d in t.get("DIRS", [])]
        return self.backend(
            {
                "APP_DIRS": True,
                "DIRS": [*dirs, Path(forms_renderers.__file__).parent / "templates"],
                "NAME": "cirforms",
                "OPTIONS": {},
            }
        )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return user_label(obj)


class UsersChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return user_label(obj)


def active_users():
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")


def user_label(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def share_user_choices(form, users: list | None) -> None:
    """Give the form's user fields a list of users read once for the whole page.

    A page with many forms (one per action) would otherwise query the users once per
    select; validation still checks the submitted id against the field's queryset.
    """
    if users is None:
        return
    options = [(u.pk, user_label(u)) for u in users]
    for field in form.fields.values():
        if isinstance(field, UserChoiceField):
            field.choices = [("", "Nobody yet"), *options]
        elif isinstance(field, UsersChoiceField):
            field.choices = options


class ServiceFormMixin:
    """Shared by every form of the pages: our renderer, and domain errors put back on fields."""

    default_renderer = CIRFormRenderer()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, exc: CIRError) -> None:
        """Show a service's InvalidInput (or other domain error) next to its fields."""
        errors = exc.errors if isinstance(exc.errors, dict) else {}
        placed = False
        for name, messages in errors.items():
            if isinstance(messages, dict):  # per-row errors (measurements): the first row's
                for row in messages.values():
                    if isinstance(row, dict):
                        for field_name, row_messages in row.items():
                            self._put(field_name, row_messages)
                            placed = True
                continue
            self._put(name, messages)
            placed = True
        if not placed:
            self.add_error(None, exc.message)

    def _put(self, name: str, messages) -> None:
        if isinstance(messages, str):
            messages = [messages]
        target = name if name in self.fields else None
        for message in messages:
            if target is not None and target in self.errors:
                self.errors[target].append(str(message))
            else:
                self.add_error(target, str(message))


class ServiceModelForm(ServiceFormMixin, forms.ModelForm):
    """A ModelForm for fields and initial values only: the service validates and writes."""

    def _post_clean(self) -> None:
        # no construct_instance / full_clean: the services are the one door for writes
        pass


class ServiceForm(ServiceFormMixin, forms.Form):
    pass


# --- the register ----------------------------------------------------------------------


SCALE = [(n, str(n)) for n in range(1, 6)]


class ProposeForm(ServiceModelForm):
    """The short form anyone with may_propose uses to register an idea."""

    accountable_me = forms.BooleanField(
        required=False,
        label="I will own it (be accountable for it)",
        help_text="Leave unticked to let a CSI manager choose an owner when they accept it.",
    )

    class Meta:
        model = Initiative
        fields = ["title", "description", "source", "service", "practice", "value", "urgency",
                  "effort"]  # fmt: skip
        labels = {
            "title": "What should improve?",
            "description": "Why? What happens today, and who is affected?",
            "value": "Value if it works (1–5)",
            "urgency": "Urgency (1–5)",
            "effort": "Effort (1–5)",
        }
        help_texts = {
            "title": "One line, e.g. “Cut the time to restore the payroll service”.",
            "source": "Where the idea comes from.",
        }
        widgets = {
            "description": _textarea(4),
            "value": forms.Select(choices=SCALE),
            "urgency": forms.Select(choices=SCALE),
            "effort": forms.Select(choices=SCALE),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["practice"].queryset = Practice.objects.order_by("name")
        self.fields["service"].empty_label = "Not sure / several"
        self.fields["practice"].empty_label = "Not sure / several"
        self.fields["source"].initial = choices.Source.STAFF_SUGGESTION


class InitiativeForm(ServiceModelForm):
    """The register fields, owner and RACI of an initiative; priority for CSI managers."""

    accountable = UserChoiceField(
        queryset=User.objects.none(), required=False, label="Accountable (owner)"
    )
    responsible = UsersChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    consulted = UsersChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    informed = UsersChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    priority = forms.ChoiceField(required=False, label="Priority")
    external_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Link to the record"
    )

    class Meta:
        model = Initiative
        fields = ["title", "description", "source", "external_system", "external_id",
                  "external_url", "service", "practice", "value", "urgency", "effort",
                  "due_date", "accountable", "responsible", "consulted",
                  "informed"]  # fmt: skip
        labels = {
            "external_system": "Raised in (ITSM tool)",
            "external_id": "Its record id",
        }
        help_texts = {
            "external_system": "e.g. servicenow, jira: with the id, unique in the register.",
        }
        widgets = {
            "description": _textarea(4),
            "value": forms.Select(choices=SCALE),
            "urgency": forms.Select(choices=SCALE),
            "effort": forms.Select(choices=SCALE),
            "due_date": DateInput(),
        }

    def __init__(self, *args, may_set_priority: bool = False, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("accountable", "responsible", "consulted", "informed"):
            self.fields[name].queryset = active_users()
        share_user_choices(self, users)
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["practice"].queryset = Practice.objects.order_by("name")
        if may_set_priority:
            derived = "Derived from the score"
            self.fields["priority"].choices = [("", derived), *choices.Priority.choices]
            instance = self.instance
            self.fields["priority"].initial = (
                instance.priority if instance.priority_set_manually else ""
            )
            self.fields[
                "priority"
            ].help_text = f"Now {instance.priority}; score {instance.score:.1f}."
        else:
            del self.fields["priority"]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if "priority" in data and data["priority"] == self.fields["priority"].initial:
            data.pop("priority")  # unchanged: don't pin a derived priority
        for name in ("responsible", "consulted", "informed"):
            data[name] = list(data[name])
        return data


# --- step records ------------------------------------------------------------------------


class VisionForm(ServiceModelForm):
    goals = forms.ModelMultipleChoiceField(
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
        data = dict(self.cleaned_data)
        data["goals"] = list(data["goals"])
        return data


class BaselineForm(ServiceModelForm):
    class Meta:
        model = Baseline
        fields = ["assessment", "method", "assessed_on"]
        labels = {"assessment": "Assessment: where are we now?", "assessed_on": "Assessed on"}
        help_texts = {"method": "How it was measured: data sources, surveys, interviews."}
        widgets = {"assessment": _textarea(4), "method": _textarea(2), "assessed_on": DateInput()}


class TargetForm(ServiceModelForm):
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


class PlanForm(ServiceModelForm):
    class Meta:
        model = Plan
        fields = ["approach", "hypotheses", "checkpoints", "risks"]
        widgets = {
            "approach": _textarea(3),
            "hypotheses": _textarea(3),
            "checkpoints": _textarea(2),
            "risks": _textarea(2),
        }


class SustainForm(ServiceModelForm):
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
    owner = UserChoiceField(queryset=User.objects.none(), required=False)

    class Meta:
        model = Action
        fields = ["title", "owner", "due_date", "status", "notes"]
        widgets = {"due_date": DateInput(), "notes": _textarea(2)}

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()
        share_user_choices(self, users)


class KPIForm(ServiceModelForm):
    target_change_pct = forms.FloatField(
        required=False,
        label="…or target as a change (%)",
        help_text="Instead of a target value: −15 means 15 % below the baseline.",
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
        widgets = {"baseline_date": DateInput(), "target_date": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # the key is what tools post to: it never changes once defined
            del self.fields["key"]
        for name in ("window_days", "tolerance"):
            self.fields[name].required = False  # left empty: the model's default applies

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("target_change_pct") is None:
            data.pop("target_change_pct", None)
        if data.get("tolerance") is None:
            data.pop("tolerance", None)
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
        fields = ["progress_check", "value_check", "decision", "notes"]
        labels = {
            "progress_check": "Progress: were the objectives achieved?",
            "value_check": "Value: is it still relevant and worth it?",
        }
        help_texts = {"progress_check": "", "value_check": ""}
        widgets = {
            "progress_check": _textarea(3),
            "value_check": _textarea(2),
            "notes": _textarea(2),
        }


class MoveForm(ServiceForm):
    """One move of the workflow; `to` must be one the user is offered (checked in the view)."""

    to = forms.CharField(max_length=16)
    comment = forms.CharField(required=False, widget=_textarea(2), label="Comment (optional)")
    reason = forms.CharField(required=False, widget=_textarea(2), label="Reason")
    lessons_learned = forms.CharField(required=False, widget=_textarea(2), label="Lessons learned")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Choose an outcome"), *choices.Outcome.choices]
    )

    def inputs(self, requires: tuple[str, ...]) -> dict:
        return {name: self.cleaned_data.get(name, "") for name in requires}


class GoalForm(ServiceModelForm):
    owner = UserChoiceField(queryset=User.objects.none(), required=False)

    class Meta:
        model = Goal
        fields = ["title", "description", "owner", "horizon"]
        widgets = {"description": _textarea(2), "horizon": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()
