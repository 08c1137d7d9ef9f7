"""The benefits of an initiative (SPEC §10): expected, with what they realised."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import choices
from ...models import BENEFIT_AMOUNT_LIMIT, KPI, Benefit, BenefitRealisation, Initiative
from ..fields import StrictPrimaryKeyRelatedField, text, username_of
from .base import StrictModelSerializer


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "format": "decimal"}]})
class AmountField(serializers.DecimalField):
    """A decimal that requests may send as a number or a string (answers: a string)."""


def amount_field(**kwargs) -> serializers.DecimalField:
    """An amount: a decimal between 0 and 10¹² with at most 2 decimals (a string in
    answers, so that no digit is lost; a number or a string in requests)."""
    return AmountField(
        max_digits=15, decimal_places=2, min_value=0, max_value=BENEFIT_AMOUNT_LIMIT, **kwargs
    )


class BenefitRealisationSerializer(serializers.ModelSerializer):
    recorded_by = username_of()

    class Meta:
        model = BenefitRealisation
        fields = ["id", "amount", "step", "iteration", "note", "recorded_by", "recorded_at"]
        read_only_fields = fields


class BenefitSerializer(StrictModelSerializer):
    """An expected benefit; `realised_amount` is the latest realisation recorded (POST
    …/realisations/), null until one is."""

    url = serializers.HyperlinkedIdentityField(view_name="api:benefit-detail")
    initiative = StrictPrimaryKeyRelatedField(
        queryset=Initiative.objects.all(), help_text="Id of the initiative (set on create)."
    )
    category = serializers.ChoiceField(choices=choices.BenefitCategory.choices)
    amount = amount_field(help_text="The expected amount, in `unit`.")
    unit = text(
        max_length=32,
        help_text="An ISO 4217 currency code (EUR, USD: kept upper-case) or a unit (hours, "
        "points, %: kept lower-case). Sums never add different units.",
    )
    kpi = StrictPrimaryKeyRelatedField(
        queryset=KPI.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of the KPI of the same initiative the benefit rests on.",
    )
    realised_amount = amount_field(read_only=True, allow_null=True)
    realisations = BenefitRealisationSerializer(many=True, read_only=True)
    created_by = username_of()

    class Meta:
        model = Benefit
        fields = [
            "id",
            "url",
            "initiative",
            "category",
            "description",
            "amount",
            "unit",
            "kpi",
            "realised_amount",
            "realised_at",
            "realisations",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "realised_at", "created_at", "updated_at"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # a benefit stays with its initiative: naming one in a change is refused
            del fields["initiative"]
        return fields


class BenefitRealiseSerializer(serializers.Serializer):
    """What a benefit realised to date (it replaces an earlier figure)."""

    amount = amount_field(help_text="The realised amount to date, in the benefit's unit.")
    note = text(required=False, allow_blank=True, max_length=10_000)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in unknown})
        return super().to_internal_value(data)
