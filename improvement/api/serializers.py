"""Serializers of the REST API: shapes and input types only, no business rules.

Input is checked strictly so that nothing a client sends reaches the services malformed:
text must be text (no numbers coerced into strings), numbers must be finite, unknown
fields are refused. Users are referred to by `username`, services and practices by
`name`, goals by id. Rules of the register (who may, what state, which side of the
baseline) are the services' business; they answer in the same error shape.
"""

from __future__ import annotations

import math

from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from .. import choices, selectors
from ..models import (
    KPI,
    Action,
    Baseline,
    Goal,
    Initiative,
    KPICheck,
    Measurement,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    TransitionLog,
    Vision,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from ..workflow import allowed_transitions

User = get_user_model()

#: the largest magnitude a stored number may have (the measurement table's check too)
FINITE_LIMIT = 1e300
#: free text is long, but not unbounded
MAX_TEXT = 20_000


# --- strict fields ---------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """Text only: a number or a boolean is a wrong type, not a string to coerce."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugField(StrictCharField, serializers.SlugField):
    pass


class StrictURLField(StrictCharField, serializers.URLField):
    pass


class StrictEmailField(StrictCharField, serializers.EmailField):
    pass


class FiniteFloatField(serializers.FloatField):
    """A finite number: refuses booleans, "NaN", "Infinity", 1e999 and |x| > 1e300."""

    default_error_messages = {
        "not_finite": "A finite number is required (not NaN or Infinity).",
        "too_large": f"The magnitude must not exceed {FINITE_LIMIT:g}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and data.strip().lower().lstrip("+-") in (
            "nan",
            "inf",
            "infinity",
        ):
            self.fail("not_finite")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        if abs(value) > FINITE_LIMIT:
            self.fail("too_large")
        return value


class StrictBooleanField(serializers.BooleanField):
    """true or false only (not "yes", 1 or "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """A reference by name: text only, and "" is not a way to say null (send null)."""

    def run_validation(self, data=serializers.empty):
        if data == "":
            self.fail("blank")
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    default_error_messages = {
        **serializers.SlugRelatedField.default_error_messages,
        "blank": "This field may not be blank; send null for none.",
    }


def text(**kwargs) -> StrictCharField:
    """Optional free text of bounded length."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("max_length", MAX_TEXT)
    return StrictCharField(**kwargs)


def username_field(**kwargs) -> serializers.SlugRelatedField:
    """A user referred to by username."""
    return StrictSlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), **kwargs
    )


def username_of(**kwargs) -> serializers.SlugRelatedField:
    """A read-only reference to a user (who did it), null when nobody is recorded."""
    return serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, **kwargs
    )


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer with strict field types that refuses fields it does not know."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.URLField: StrictURLField,
        models.EmailField: StrictEmailField,
        models.FloatField: FiniteFloatField,
        models.BooleanField: StrictBooleanField,
    }
    #: read-only fields a client might try to write, with what to do instead
    refused_fields: dict[str, str] = {}

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.TextField) and "max_length" not in kwargs:
            kwargs["max_length"] = MAX_TEXT
        return field_class, kwargs

    def to_internal_value(self, data):
        if isinstance(data, dict):
            # read-only fields are ignored (a client may send back what it read)
            errors = {}
            for key, value in data.items():
                if key in self.refused_fields:
                    errors[key] = [self.refused_fields[key]]
                elif key not in self.fields:
                    errors[key] = ["Unknown field."]
                elif isinstance(value, dict) and isinstance(
                    self.fields[key], serializers.ManyRelatedField | serializers.ListField
                ):  # DRF would iterate a dict's keys as if they were the list
                    errors[key] = ["Expected a list of items but got an object."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`.")
    message = serializers.CharField(help_text="What went wrong, in words.")
    errors = serializers.JSONField(
        help_text="Field errors ({field: [messages]}), per-row errors ({rows: {index: "
        "{field: [messages]}}}) or the unmet conditions of a move ({conditions: [...]})."
    )


# --- users, goals ----------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    """A user as the API shows it; refer to users by `username` in writes."""

    name = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "roles"]
        read_only_fields = fields

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()

    def get_roles(self, user) -> list[str]:
        role_names = set(choices.Role.values)
        return sorted(g.name for g in user.groups.all() if g.name in role_names)


class GoalSerializer(StrictModelSerializer):
    owner = username_field(required=False, allow_null=True)

    class Meta:
        model = Goal
        fields = [
            "id",
            "title",
            "description",
            "owner",
            "horizon",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


# --- KPIs, measurements, checks -------------------------------------------------------


class KPICheckSerializer(serializers.ModelSerializer):
    previous_status = serializers.ChoiceField(
        choices=choices.KPIStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="The KPI's status before this check (empty for its first).",
    )

    class Meta:
        model = KPICheck
        fields = [
            "id",
            "checked_at",
            "status",
            "previous_status",
            "current",
            "progress",
            "expected",
            "measurement_count",
        ]
        read_only_fields = fields


class KPISerializer(StrictModelSerializer):
    """A KPI and its latest check. `target_change_pct` (write-only) sets the target relative
    to the baseline: -15 means 15 % below it; it is stored as the absolute `target_value`."""

    url = serializers.HyperlinkedIdentityField(view_name="api:kpi-detail")
    initiative = serializers.PrimaryKeyRelatedField(queryset=Initiative.objects.all())
    key = StrictSlugField(max_length=100)
    target_change_pct = FiniteFloatField(
        write_only=True,
        required=False,
        allow_null=True,
        min_value=-1000,
        max_value=1000,
        help_text="Target relative to the baseline in percent (-15 = 15 % below it).",
    )
    window_days = serializers.IntegerField(required=False, min_value=1, max_value=36_500)
    tolerance = FiniteFloatField(required=False, min_value=0, max_value=1)
    latest_check = serializers.SerializerMethodField()

    class Meta:
        model = KPI
        fields = [
            "id",
            "url",
            "initiative",
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
            "target_change_pct",
            "tolerance",
            "csf",
            "status",
            "last_checked_at",
            "latest_check",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "last_checked_at", "created_at", "updated_at"]
        validators = []  # the key's uniqueness is the service's (and the database's) to tell

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and "initiative" in self.fields:
            from ..selectors import initiatives_visible_to

            self.fields["initiative"].queryset = initiatives_visible_to(request.user)
        if self.instance is not None and not isinstance(self.instance, list | models.QuerySet):
            self.fields["initiative"].read_only = True
            self.refused_fields = {
                "initiative": "A KPI cannot move to another initiative.",
            }

    @extend_schema_field(KPICheckSerializer(allow_null=True))
    def get_latest_check(self, kpi):
        latest = getattr(kpi, "latest_checks", None)
        if latest is None:  # not prefetched (a single KPI): one query
            latest = list(kpi.checks.order_by(*selectors.LATEST_CHECK_ORDER)[:1])
        return KPICheckSerializer(latest[0]).data if latest else None


class MeasurementSerializer(serializers.ModelSerializer):
    recorded_by = username_of()

    class Meta:
        model = Measurement
        fields = ["id", "value", "measured_at", "source", "note", "recorded_by", "recorded_at"]
        read_only_fields = fields


class MeasurementPointSerializer(serializers.Serializer):
    """One point posted to a KPI (documentation; the service validates every point)."""

    value = FiniteFloatField(help_text="A finite number.")
    measured_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone.")
    source = StrictCharField(required=False, allow_blank=True, max_length=64)
    note = StrictCharField(required=False, allow_blank=True, max_length=500)


class MeasurementRowSerializer(MeasurementPointSerializer):
    """One row of a bulk upload: a point addressed by its KPI's key."""

    kpi = StrictSlugField(max_length=100, help_text="The KPI's key.")


RecordedSerializer = inline_serializer(
    name="Recorded", fields={"recorded": serializers.IntegerField()}
)


# --- initiatives -----------------------------------------------------------------------


class InitiativeSerializer(StrictModelSerializer):
    """The register entry. The `step` moves only through POST …/transitions/."""

    url = serializers.HyperlinkedIdentityField(view_name="api:initiative-detail")
    service = StrictSlugRelatedField(
        slug_field="name", queryset=Service.objects.all(), required=False, allow_null=True
    )
    practice = StrictSlugRelatedField(
        slug_field="name", queryset=Practice.objects.all(), required=False, allow_null=True
    )
    goals = serializers.PrimaryKeyRelatedField(
        queryset=Goal.objects.all(), many=True, required=False
    )
    accountable = username_field(required=False, allow_null=True)
    responsible = username_field(many=True, required=False)
    consulted = username_field(many=True, required=False)
    informed = username_field(many=True, required=False)
    created_by = username_of()
    value = serializers.IntegerField(required=False, min_value=1, max_value=5)
    effort = serializers.IntegerField(required=False, min_value=1, max_value=5)
    urgency = serializers.IntegerField(required=False, min_value=1, max_value=5)
    priority = serializers.ChoiceField(
        choices=choices.Priority.choices,
        required=False,
        allow_null=True,
        help_text="Set by a CSI manager; null returns it to the one derived from the score.",
    )
    outcome = serializers.ChoiceField(
        choices=choices.Outcome.choices,
        allow_blank=True,
        read_only=True,
        help_text="Set on closing; empty until then.",
    )
    refused_fields = {
        "step": "The step moves only through POST /api/v1/initiatives/{id}/transitions/.",
    }

    class Meta:
        model = Initiative
        fields = [
            "id",
            "url",
            "reference",
            "title",
            "description",
            "source",
            "external_system",
            "external_id",
            "external_url",
            "service",
            "practice",
            "goals",
            "value",
            "effort",
            "urgency",
            "score",
            "priority",
            "step",
            "health",
            "accountable",
            "responsible",
            "consulted",
            "informed",
            "iteration",
            "due_date",
            "closed_at",
            "outcome",
            "closure_reason",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "reference",
            "score",
            "step",
            "health",
            "iteration",
            "closed_at",
            "outcome",
            "closure_reason",
            "created_at",
            "updated_at",
        ]
        # (external_system, external_id) is unique, but POST answers with the existing
        # initiative (idempotent create) rather than a validation error
        validators = []


_DATETIME = serializers.DateTimeField()
_DATE = serializers.DateField()


def initiative_rows(rows, *, relations: dict, detail_url: str) -> list[dict]:
    """The list representation of initiatives: the fields of InitiativeSerializer, rendered
    straight from plain rows (selectors.initiative_rows) and `relations`
    (selectors.initiative_relations).

    A page of the register is rendered this way because DRF's field-by-field rendering,
    model instances and prefetch_related cost several times the database work; a test pins
    that the output is identical to InitiativeSerializer's.
    """

    def when(value, field):
        return None if value is None else field.to_representation(value)

    goals, responsible = relations["goals"], relations["responsible"]
    consulted, informed = relations["consulted"], relations["informed"]
    return [
        {
            "id": (pk := r["id"]),
            "url": f"{detail_url}{pk}/",
            "reference": r["reference"],
            "title": r["title"],
            "description": r["description"],
            "source": r["source"],
            "external_system": r["external_system"],
            "external_id": r["external_id"],
            "external_url": r["external_url"],
            "service": r["service_name"],
            "practice": r["practice_name"],
            "goals": goals.get(pk, []),
            "value": r["value"],
            "effort": r["effort"],
            "urgency": r["urgency"],
            "score": r["score"],
            "priority": r["priority"],
            "step": r["step"],
            "health": r["health"],
            "accountable": r["accountable_username"],
            "responsible": responsible.get(pk, []),
            "consulted": consulted.get(pk, []),
            "informed": informed.get(pk, []),
            "iteration": r["iteration"],
            "due_date": when(r["due_date"], _DATE),
            "closed_at": when(r["closed_at"], _DATETIME),
            "outcome": r["outcome"],
            "closure_reason": r["closure_reason"],
            "created_by": r["created_by_username"],
            "created_at": when(r["created_at"], _DATETIME),
            "updated_at": when(r["updated_at"], _DATETIME),
        }
        for r in rows
    ]


class AllowedTransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=choices.Step.choices)
    label = serializers.CharField()
    allowed = serializers.BooleanField(help_text="Whether you may make this move now.")
    permitted = serializers.BooleanField(help_text="Whether your role allows this move.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Every unmet condition, in words."
    )
    requires = serializers.ListField(
        child=serializers.CharField(),
        help_text="Inputs the move needs: reason, lessons_learned, outcome.",
    )
    back = serializers.BooleanField(help_text="A move back in the model.")


class InitiativeLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    vision = serializers.URLField()
    baseline = serializers.URLField()
    target = serializers.URLField()
    plan = serializers.URLField()
    sustain = serializers.URLField()
    actions = serializers.URLField()
    reviews = serializers.URLField()
    transitions = serializers.URLField()
    kpis = serializers.URLField()


LINKS = ("vision", "baseline", "target", "plan", "sustain", "actions", "reviews", "transitions")


class InitiativeDetailSerializer(InitiativeSerializer):
    """One initiative with its possible moves (for the requesting user), its KPIs with
    their latest check, and links to its records."""

    allowed_transitions = serializers.SerializerMethodField()
    kpis = KPISerializer(many=True, read_only=True)
    links = serializers.SerializerMethodField()

    class Meta(InitiativeSerializer.Meta):
        fields = [*InitiativeSerializer.Meta.fields, "allowed_transitions", "kpis", "links"]

    @extend_schema_field(AllowedTransitionSerializer(many=True))
    def get_allowed_transitions(self, initiative) -> list[dict]:
        request = self.context["request"]
        return [t.as_dict() for t in allowed_transitions(initiative, request.user)]

    @extend_schema_field(InitiativeLinksSerializer)
    def get_links(self, initiative) -> dict:
        request = self.context["request"]

        def url(name: str, **kwargs) -> str:
            return request.build_absolute_uri(reverse(f"api:{name}", kwargs=kwargs))

        links = {"self": url("initiative-detail", pk=initiative.pk)}
        for name in LINKS:
            links[name] = url(f"initiative-{name}", pk=initiative.pk)
        links["kpis"] = f"{url('kpi-list')}?initiative={initiative.pk}"
        return links


class TransitionLogSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TransitionLog
        fields = ["id", "from_step", "to_step", "actor", "at", "comment", "iteration"]
        read_only_fields = fields


class TransitionRequestSerializer(serializers.Serializer):
    """A move: `to` the next state, with the inputs the move requires."""

    to = serializers.ChoiceField(choices=choices.Step.choices)
    comment = text()
    reason = text(help_text="Required to reject or cancel.")
    lessons_learned = text(help_text="Required to cancel.")
    outcome = serializers.ChoiceField(
        choices=choices.Outcome.choices, required=False, help_text="Required to close."
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in unknown})
        return super().to_internal_value(data)


# --- step records ----------------------------------------------------------------------


class StepRecordSerializer(StrictModelSerializer):
    """A step record. PUT writes the fields given; fields left out keep their value."""

    updated_by = username_of()

    class Meta:
        read_only_fields = ["updated_by", "created_at", "updated_at"]


def _record_meta(record_model, record_fields):
    return type(
        "Meta",
        (),
        {
            "model": record_model,
            "fields": [*record_fields, "updated_by", "created_at", "updated_at"],
            "read_only_fields": StepRecordSerializer.Meta.read_only_fields,
        },
    )


class VisionSerializer(StepRecordSerializer):
    goals = serializers.PrimaryKeyRelatedField(
        source="initiative.goals",
        queryset=Goal.objects.all(),
        many=True,
        required=False,
        help_text="Ids of the organisational goals it serves (the initiative's goals).",
    )
    Meta = _record_meta(
        Vision, ["statement", "goals", "stakeholders", "expected_value", "authority"]
    )


class BaselineSerializer(StepRecordSerializer):
    Meta = _record_meta(Baseline, ["assessment", "method", "assessed_on"])


class TargetSerializer(StepRecordSerializer):
    Meta = _record_meta(Target, ["objectives", "csfs"])


class PlanSerializer(StepRecordSerializer):
    Meta = _record_meta(Plan, ["approach", "hypotheses", "checkpoints", "risks"])


class SustainSerializer(StepRecordSerializer):
    Meta = _record_meta(Sustain, ["embedding", "lessons_learned", "monitor_until"])


RECORD_SERIALIZERS = {
    "vision": VisionSerializer,
    "baseline": BaselineSerializer,
    "target": TargetSerializer,
    "plan": PlanSerializer,
    "sustain": SustainSerializer,
}


# --- actions, reviews ------------------------------------------------------------------


class ActionSerializer(StrictModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:action-detail")
    owner = username_field(required=False, allow_null=True)

    class Meta:
        model = Action
        fields = [
            "id",
            "url",
            "initiative",
            "title",
            "owner",
            "due_date",
            "status",
            "notes",
            "iteration",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "initiative",
            "iteration",
            "completed_at",
            "created_at",
            "updated_at",
        ]


class ReviewSerializer(StrictModelSerializer):
    reviewed_by = username_of()
    kpi_snapshot = serializers.JSONField(
        read_only=True, help_text="Each KPI as its latest check stood when the review was made."
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "initiative",
            "iteration",
            "decision",
            "progress_check",
            "value_check",
            "notes",
            "kpi_snapshot",
            "reviewed_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "initiative",
            "iteration",
            "kpi_snapshot",
            "reviewed_by",
            "created_at",
            "updated_at",
        ]
        validators = []


# --- webhooks --------------------------------------------------------------------------


class WebhookSerializer(StrictModelSerializer):
    """A webhook. `secret` (whsec_…) signs every delivery; keep it to verify them."""

    url = StrictURLField(max_length=500, help_text="Where events are POSTed.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=choices.EventType.choices),
        required=False,
        max_length=len(choices.EventType.values),
        help_text="Event types to deliver; empty for all.",
    )
    created_by = username_of()

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "active",
            "secret",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "secret", "created_by", "created_at", "updated_at"]

    refused_fields = {
        "secret": "The secret is generated; rotate it with POST "
        "/api/v1/webhooks/{id}/rotate-secret/.",
    }


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "at",
            "succeeded",
            "status_code",
            "latency_ms",
            "response_excerpt",
            "error",
        ]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempts = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempts",
        ]
        read_only_fields = fields


# --- auth ------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(
        max_length=1024, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
