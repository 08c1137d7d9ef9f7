"""Strict input fields of the REST API: nothing a client sends reaches the services
malformed. Text must be text (no numbers coerced into strings), numbers finite, booleans
true or false; users are referred to by `username`.
"""

from __future__ import annotations

import math

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..models import FINITE_LIMIT  # the one cap, whichever door a number comes in by

User = get_user_model()

#: free text is long, but not unbounded
MAX_TEXT = 20_000


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


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference by id: a whole number (or its digits as text). A boolean, a fraction or a
    number beyond any id (`1e309`, which JSON reads as infinity) is a wrong type."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return super().to_internal_value(data)
        except OverflowError:  # a whole float beyond the database's integers
            self.fail("does_not_exist", pk_value=data)


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
