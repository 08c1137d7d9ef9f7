"""The base of the API's model serializers: strict field types, unknown fields refused."""

from __future__ import annotations

from django.db import models
from rest_framework import serializers

from ..fields import (
    MAX_TEXT,
    FiniteFloatField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictPrimaryKeyRelatedField,
    StrictSlugField,
    StrictURLField,
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
    serializer_related_field = StrictPrimaryKeyRelatedField
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

    def service_data(self) -> dict:
        """The validated input as the service's keyword arguments."""
        return dict(self.validated_data)
