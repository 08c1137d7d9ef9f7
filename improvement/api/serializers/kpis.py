"""KPIs, their checks and their measurements."""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from ... import choices, selectors, workflow
from ...models import KPI, Initiative, KPICheck, KPIRevision, Measurement
from ...services.kpis import KPI_FIELDS
from ..fields import (
    MAX_TEXT,
    FiniteFloatField,
    StrictCharField,
    StrictPrimaryKeyRelatedField,
    StrictSlugField,
    username_of,
)
from .base import StrictModelSerializer


def with_change_pct(fields) -> list[str]:
    """The KPI definition fields of the services, with the write-only target_change_pct
    after target_date (where the API has always listed it)."""
    result = []
    for name in fields:
        result.append(name)
        if name == "target_date":
            result.append("target_change_pct")
    return result


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


class KPIDefinitionSerializer(StrictModelSerializer):
    """The strict fields of a KPI's definition, shared by its writes."""

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


class KPISerializer(KPIDefinitionSerializer):
    """A KPI and its latest check. `target_change_pct` (write-only) sets the target relative
    to the baseline: -15 means 15 % below it; it is stored as the absolute `target_value`.
    Once the initiative has left step 3 the KPI is `locked`: its baseline, target, dates,
    direction, aggregation and window change only after a move back to the target or the
    baseline, or by a CSI manager's re-baseline (POST …/rebaseline/ with a reason)."""

    url = serializers.HyperlinkedIdentityField(view_name="api:kpi-detail")
    initiative = StrictPrimaryKeyRelatedField(queryset=Initiative.objects.all())
    key = StrictSlugField(max_length=100)
    locked = serializers.SerializerMethodField()
    latest_check = serializers.SerializerMethodField()

    class Meta:
        model = KPI
        fields = [
            "id",
            "url",
            "initiative",
            *with_change_pct(KPI_FIELDS),
            "locked",
            "derived",
            "status",
            "last_checked_at",
            "latest_check",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "derived",
            "status",
            "last_checked_at",
            "created_at",
            "updated_at",
        ]
        validators = []  # the key's uniqueness is the service's (and the database's) to tell

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and "initiative" in self.fields:
            self.fields["initiative"].queryset = selectors.initiatives_visible_to(request.user)
        if self.instance is not None and not isinstance(self.instance, list | models.QuerySet):
            self.fields["initiative"].read_only = True
            self.refused_fields = {
                "initiative": "A KPI cannot move to another initiative.",
            }

    @extend_schema_field(
        serializers.BooleanField(
            help_text="Whether its baseline, target, dates, direction, aggregation and "
            "window are locked (the initiative has left step 3): a PATCH of them is a 409; "
            "a CSI manager re-baselines it with a reason."
        )
    )
    def get_locked(self, kpi) -> bool:
        return workflow.kpi_definition_locked(kpi.initiative)

    @extend_schema_field(KPICheckSerializer(allow_null=True))
    def get_latest_check(self, kpi):
        latest = getattr(kpi, "latest_checks", None)
        if latest is None:  # not prefetched (a single KPI): one query
            latest = list(kpi.checks.order_by(*selectors.LATEST_CHECK_ORDER)[:1])
        return KPICheckSerializer(latest[0]).data if latest else None


class KPIRebaselineSerializer(KPIDefinitionSerializer):
    """A CSI manager's re-baseline: the reason, and any of the KPI's definition fields."""

    reason = StrictCharField(
        max_length=MAX_TEXT, help_text="Why the KPI changes; kept in its revision."
    )

    class Meta:
        model = KPI
        fields = [
            "reason",
            *with_change_pct(f for f in KPI_FIELDS if f != "key"),
        ]
        # any of them: those left out keep their value
        extra_kwargs = {name: {"required": False} for name in fields if name != "reason"}
        validators = []

    def service_data(self) -> dict:
        data = super().service_data()
        # the reason is the service's to require: a missing one answers in its words
        return {"reason": data.pop("reason", ""), **data}


class KPIRevisionSerializer(serializers.ModelSerializer):
    """One change of a KPI's definition: who, when, why, and each field's old → new."""

    kind = serializers.SerializerMethodField()
    by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    changes = serializers.SerializerMethodField()

    class Meta:
        model = KPIRevision
        fields = ["id", "kind", "at", "by", "reason", "changes"]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {}, "minItems": 2, "maxItems": 2},
            "description": "{field: [old, new]}; dates as ISO text, null where unset.",
        }
    )
    def get_changes(self, revision) -> dict:
        return revision.changes

    # documented inline: a choice set of its own beside the KPI's `kind` (KindEnum) would
    # rename that one in the schema
    @extend_schema_field(
        {
            "allOf": [{"type": "string", "enum": list(KPIRevision.Kind.values)}],
            "description": "defined (created), changed (edited before the lock, or after a "
            "move back) or rebaselined (by a CSI manager, with a reason).",
        }
    )
    def get_kind(self, revision) -> str:
        return revision.kind


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
