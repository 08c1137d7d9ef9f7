"""What an initiative records along the way: its step records (vision, baseline, target,
plan, sustain), its actions and its reviews."""

from __future__ import annotations

from rest_framework import serializers

from ...models import Action, Baseline, Goal, Plan, Review, Sustain, Target, Vision
from ..fields import StrictPrimaryKeyRelatedField, username_field, username_of
from .base import StrictModelSerializer


class StepRecordSerializer(StrictModelSerializer):
    """A step record. PUT writes the fields given; fields left out keep their value."""

    updated_by = username_of()
    #: what the PUT's documentation adds about this record
    write_note = ""

    class Meta:
        read_only_fields = ["updated_by", "created_at", "updated_at"]

    def service_data(self) -> dict:
        # a field the record shows of its initiative (the vision's goals) is written as one
        # of the record's: step_record_update takes it flat
        data = super().service_data()
        data.update(data.pop("initiative", {}))
        return data


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
    goals = StrictPrimaryKeyRelatedField(
        source="initiative.goals",
        queryset=Goal.objects.all(),
        many=True,
        required=False,
        help_text="Ids of the organisational goals it serves (the initiative's goals).",
    )
    write_note = "`goals` sets the initiative's goals (ids)."
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
    """The review of one iteration. Its `decision` must agree with the KPI snapshot
    (`achieved` only when every KPI is achieved; `improved` only when none regressed and
    one progressed), or carry `decision_override`: the justification, kept and shown."""

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
            "decision_override",
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
