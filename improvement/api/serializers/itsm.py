"""ITSM records, their import and push, and opportunities (SPEC §9): shapes only."""

from __future__ import annotations

import json

from rest_framework import serializers

from ...choices import DerivedMetric, Dimension, RecordKind
from ...models import ITSMRecord
from ..fields import FiniteFloatField


class ITSMRecordSerializer(serializers.ModelSerializer):
    """One ITSM record as stored (the push API's input is validated by the service)."""

    class Meta:
        model = ITSMRecord
        fields = [
            "id", "system", "kind", "number", "opened_at", "resolved_at", "closed_at", "state",
            "priority", "category", "subcategory", "service", "assignment_group",
            "reopen_count", "reassignment_count", "sla_met", "problem", "source_updated_at",
            "source_version", "imported_at", "raw",
        ]  # fmt: skip
        read_only_fields = fields


class PushedRecordSerializer(serializers.Serializer):
    """One record of the push API (documentation; the service validates each item)."""

    system = serializers.CharField(max_length=64, help_text="The ITSM tool, e.g. servicenow.")
    kind = serializers.ChoiceField(RecordKind.choices, default=RecordKind.INCIDENT)
    number = serializers.CharField(max_length=64)
    opened_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(required=False, allow_null=True)
    closed_at = serializers.DateTimeField(required=False, allow_null=True)
    state = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    priority = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=64
    )
    category = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200
    )
    subcategory = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200
    )
    service = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200
    )
    assignment_group = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200
    )
    reopen_count = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    reassignment_count = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    sla_met = serializers.BooleanField(required=False, allow_null=True)
    problem = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=64
    )
    updated_at = serializers.DateTimeField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, allow_null=True)


class ImportRequestSerializer(serializers.Serializer):
    """The import's multipart form."""

    file = serializers.FileField(help_text="The CSV export (UTF-8).")
    system = serializers.CharField(max_length=64, help_text="e.g. servicenow, jira.")
    kind = serializers.ChoiceField(RecordKind.choices, default=RecordKind.INCIDENT)
    preset = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="servicenow, jsm or none; by default the system's own (servicenow, jira).",
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='JSON {our field: their column}, e.g. {"service": "Business service"}.',
    )
    date_format = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="dmy, mdy, ymd or a strptime format; detected from the values by default.",
    )
    time_zone = serializers.CharField(
        required=False, allow_blank=True, help_text="Zone of dates written without one."
    )
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate_mapping(self, value):
        if not value:
            return None
        try:
            mapping = json.loads(value)
        except ValueError as exc:
            raise serializers.ValidationError("The mapping must be JSON.") from exc
        if not isinstance(mapping, dict):
            raise serializers.ValidationError("The mapping must be a JSON object.")
        return mapping


class RejectedRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row's number in the file (header = 1).")
    reason = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    rows_read = serializers.IntegerField()
    records = serializers.IntegerField(help_text="Distinct records in the rows kept.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    rejected = RejectedRowSerializer(many=True, help_text="The first 1000 rejected rows.")
    date_order = serializers.CharField()
    dry_run = serializers.BooleanField()


class OpportunityQuerySerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(Dimension.choices, default=Dimension.CATEGORY)
    kind = serializers.ChoiceField(RecordKind.choices, default=RecordKind.INCIDENT)
    system = serializers.CharField(required=False, allow_blank=True, max_length=64)
    # "from" is a Python keyword: declared under it in __init__
    to = serializers.DateField(required=False, help_text="Last day (default: today).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(
            required=False, help_text="First day (default: 90 days before `to`)."
        )


class TrendSerializer(serializers.Serializer):
    records_change = serializers.FloatField(allow_null=True)
    median_change = serializers.FloatField(allow_null=True)
    hours_lost_change = serializers.FloatField(allow_null=True)


class PreviousSerializer(serializers.Serializer):
    records = serializers.IntegerField()
    median_resolution_hours = serializers.FloatField(allow_null=True)
    hours_lost = serializers.FloatField()


class OpportunitySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    group = serializers.CharField(allow_blank=True)
    label = serializers.CharField()
    records = serializers.IntegerField()
    records_per_week = serializers.FloatField()
    records_per_day = serializers.FloatField()
    resolved = serializers.IntegerField()
    median_resolution_hours = serializers.FloatField(allow_null=True)
    p90_resolution_hours = serializers.FloatField(allow_null=True)
    reopen_rate = serializers.FloatField()
    reassignment_rate = serializers.FloatField()
    sla_breach_rate = serializers.FloatField(allow_null=True)
    hours_lost = serializers.FloatField()
    score = serializers.FloatField()
    previous = PreviousSerializer()
    trend = TrendSerializer()
    explanation = serializers.CharField()
    covered_by = serializers.ListField(child=serializers.CharField())


class OpportunityListSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    kind = serializers.CharField()
    system = serializers.CharField(allow_blank=True)
    period = serializers.DictField()
    previous_period = serializers.DictField()
    results = OpportunitySerializer(many=True)


class PromoteSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(Dimension.choices)
    group = serializers.CharField(allow_blank=True, max_length=200, trim_whitespace=False)
    kind = serializers.ChoiceField(RecordKind.choices, default=RecordKind.INCIDENT)
    system = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    metric = serializers.ChoiceField(
        DerivedMetric.choices, default=DerivedMetric.MEDIAN_RESOLUTION_HOURS
    )
    bucket = serializers.ChoiceField(
        [("day", "day"), ("week", "week")],
        required=False,
        help_text="Measured per day or week (records per day/week fix it).",
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    target_change_pct = FiniteFloatField(
        required=False, allow_null=True, help_text="e.g. -20: a target 20 % below the baseline."
    )
    target_date = serializers.DateField(
        required=False,
        help_text="When the target is due (default: one period after the baseline date).",
    )
    to = serializers.DateField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(required=False)
