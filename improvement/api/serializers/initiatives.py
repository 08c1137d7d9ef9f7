"""The register's initiatives: the entry, its flat list rows, its detail with the moves a
user may make, and the moves themselves."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import choices, workflow
from ...models import Goal, Initiative, Practice, Service, TransitionLog
from ...workflow import allowed_transitions
from ..fields import (
    StrictPrimaryKeyRelatedField,
    StrictSlugRelatedField,
    text,
    username_field,
    username_of,
)
from .base import StrictModelSerializer
from .kpis import KPISerializer


class InitiativeSerializer(StrictModelSerializer):
    """The register entry. The `step` moves only through POST …/transitions/."""

    url = serializers.HyperlinkedIdentityField(view_name="api:initiative-detail")
    service = StrictSlugRelatedField(
        slug_field="name", queryset=Service.objects.all(), required=False, allow_null=True
    )
    practice = StrictSlugRelatedField(
        slug_field="name", queryset=Practice.objects.all(), required=False, allow_null=True
    )
    goals = StrictPrimaryKeyRelatedField(queryset=Goal.objects.all(), many=True, required=False)
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
    pdca_phase = serializers.SerializerMethodField(
        help_text="The Plan-Do-Check-Act phase of its step: plan (steps 1–4), do (5), "
        "check (6), act (7 and closed); none for proposed, on hold, rejected and cancelled."
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
            "pdca_phase",
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
            "pdca_phase",
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

    @extend_schema_field(serializers.ChoiceField(choices=choices.PDCAPhase.choices))
    def get_pdca_phase(self, initiative) -> str:
        return choices.pdca_phase(initiative.step)


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
            "pdca_phase": choices.pdca_phase(r["step"]),
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
        help_text="Inputs the move needs: reason, lessons_learned, outcome, resume_by.",
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
    their latest check, links to its records, the closing outcome its data supports, its
    hold, and what an ITSM integration suggested."""

    allowed_transitions = serializers.SerializerMethodField()
    kpis = KPISerializer(many=True, read_only=True)
    links = serializers.SerializerMethodField()
    outcome_override = serializers.CharField(
        read_only=True,
        help_text="Why the closing outcome departs from what the last review's KPIs say "
        "(empty: it agrees with them).",
    )
    proposed_outcome = serializers.SerializerMethodField()
    held_from = serializers.ChoiceField(
        choices=choices.Step.choices,
        allow_blank=True,
        read_only=True,
        help_text="On hold: the step it returns to when it resumes (empty otherwise).",
    )
    hold_reason = serializers.CharField(read_only=True, help_text="Why it is on hold.")
    hold_until = serializers.DateField(
        read_only=True, allow_null=True, help_text="On hold: resume by this date."
    )
    on_hold_days = serializers.IntegerField(
        read_only=True, help_text="Whole days spent on hold, the current hold included."
    )
    age_days = serializers.IntegerField(
        read_only=True, help_text="Days since it was registered, without the days on hold."
    )
    suggested_accountable = username_of(
        help_text="The owner an ITSM integration suggested; applied when a CSI manager "
        "accepts the initiative."
    )
    suggested_goals = StrictPrimaryKeyRelatedField(
        many=True,
        read_only=True,
        help_text="The goals (ids) an ITSM integration suggested; applied on acceptance.",
    )
    step_entered_at = serializers.DateTimeField(
        read_only=True, help_text="When it entered its current step."
    )
    days_in_step = serializers.IntegerField(read_only=True, help_text="Whole days in its step.")
    last_activity_at = serializers.DateTimeField(
        read_only=True,
        help_text="The last change to it or its records, comments, actions or measurements.",
    )
    is_stale = serializers.BooleanField(
        read_only=True, help_text="Open and without activity for CIR_STALE_DAYS days."
    )
    duplicate_of = serializers.IntegerField(
        source="duplicate_of_id",
        read_only=True,
        allow_null=True,
        help_text="The id of the initiative it was closed as a duplicate of.",
    )

    class Meta(InitiativeSerializer.Meta):
        fields = [
            *InitiativeSerializer.Meta.fields,
            "outcome_override",
            "proposed_outcome",
            "held_from",
            "hold_reason",
            "hold_until",
            "on_hold_days",
            "age_days",
            "suggested_accountable",
            "suggested_goals",
            "step_entered_at",
            "days_in_step",
            "last_activity_at",
            "is_stale",
            "duplicate_of",
            "allowed_transitions",
            "kpis",
            "links",
        ]

    @extend_schema_field(
        serializers.ChoiceField(
            # what workflow.proposed_outcome answers: the data never proposes `withdrawn`
            choices=[c for c in choices.Outcome.choices if c[0] != choices.Outcome.WITHDRAWN],
            allow_null=True,
            help_text="The closing outcome the KPIs of the last review support; null before "
            "the first review.",
        )
    )
    def get_proposed_outcome(self, initiative) -> str | None:
        # the reviews come prefetched (views.initiatives); the latest is the last iteration's
        latest = max(initiative.reviews.all(), key=lambda r: r.iteration, default=None)
        if latest is None:
            return None
        return str(workflow.proposed_outcome(list(latest.kpi_snapshot or [])))

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
    """A move: `to` the next state, `from` the step the client saw, with the inputs the
    move requires."""

    to = serializers.ChoiceField(choices=choices.Step.choices)
    comment = text(help_text="Kept in the log; serves as the reason when `reason` is not given.")
    reason = text(help_text="Required to reject, cancel, put on hold and for every move back.")
    lessons_learned = text(help_text="Required to cancel.")
    outcome = serializers.ChoiceField(
        choices=choices.Outcome.choices, required=False, help_text="Required to close."
    )
    override = text(
        help_text="Closing: why the outcome departs from what the last review's KPIs "
        "support (then required); kept as the initiative's `outcome_override`."
    )
    resume_by = serializers.DateField(
        required=False, help_text="Required to put on hold: resume by this date (not past)."
    )

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword: declared here, passed to the service as `from_step`
        fields["from"] = serializers.ChoiceField(
            choices=choices.Step.choices,
            required=False,
            source="from_step",
            help_text="The step your page or client saw: if the initiative has moved since, "
            "the move is refused (409) and nothing changes.",
        )
        return fields

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in unknown})
        return super().to_internal_value(data)
