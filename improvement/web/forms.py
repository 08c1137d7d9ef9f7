"""Forms of the browser pages. They describe and parse input; the services validate and write.

Model forms are used for their fields, labels and initial values only: `_post_clean` is
switched off, so the model is never validated or saved by the form. Views pass
`cleaned_data` to a service and put the service's domain errors back on the form with
`add_service_errors`.

This module holds the shared base and the register's forms (proposing, an initiative's
details, goals); the initiative page's records, actions, KPIs, reviews and moves are in
forms_initiative.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.forms import renderers as forms_renderers
from django.forms.renderers import DjangoTemplates
from django.utils.functional import cached_property

from .. import choices
from ..exceptions import CIRError, Conflict
from ..models import Goal, Initiative, Practice, Service
from .people import OWNER, PeopleField, PersonField, offer_people, people_offered, user_label

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


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """Several rows by id: an id beyond the database's integers is refused before the
    lookup (Django's `pk__in` would pass it on, and the database fail)."""

    def _check_values(self, value):
        for pk in value:
            if isinstance(pk, str) and pk.strip().lstrip("+-").isdigit() and abs(int(pk)) >= 2**63:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)


def active_users():
    """The people the pages' pickers may offer (people.people_offered): read once by a page
    with many forms and passed to each as `users`."""
    return people_offered()


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
        # a conflict's message says what changed and how to go on: always shown on top
        if not placed or isinstance(exc, Conflict):
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


class ScaleField(forms.IntegerField):
    """1 to 5 (value, urgency, effort): a posted 10**400 is refused here, before the score."""

    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "min_value": 1, "max_value": 5})


SCALE_FIELDS = {"value": ScaleField, "urgency": ScaleField, "effort": ScaleField}


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
        field_classes = SCALE_FIELDS
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

    accountable = PersonField(role="accountable", required=False, label="Accountable (owner)")
    responsible = PeopleField(role="responsible", eligible=OWNER, label="Responsible")
    consulted = PeopleField(role="consulted", label="Consulted")
    informed = PeopleField(role="informed", label="Informed")
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
        field_classes = SCALE_FIELDS
        widgets = {
            "description": _textarea(4),
            "value": forms.Select(choices=SCALE),
            "urgency": forms.Select(choices=SCALE),
            "effort": forms.Select(choices=SCALE),
            "due_date": DateInput(),
        }

    def __init__(self, *args, may_set_priority: bool = False, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_people(self, users)
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


class GoalForm(ServiceModelForm):
    owner = UserChoiceField(queryset=User.objects.none(), required=False)

    class Meta:
        model = Goal
        fields = ["title", "description", "owner", "horizon"]
        widgets = {"description": _textarea(2), "horizon": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()
