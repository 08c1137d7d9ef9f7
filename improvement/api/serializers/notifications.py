"""Serializers of notifications, preferences and watchers."""

from __future__ import annotations

from rest_framework import serializers

from ...choices import Delivery, NotificationKind
from ...models import Notification
from ..fields import StrictBooleanField


class NotificationSerializer(serializers.ModelSerializer):
    """One notification of the signed-in user."""

    initiative = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()
    event = serializers.UUIDField(source="event_id", read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "initiative", "url", "event", "created_at", "read",
                  "read_at", "email_state"]  # fmt: skip
        read_only_fields = fields

    def get_initiative(self, n) -> str | None:
        """The initiative's reference (CIR-…), or null."""
        return n.initiative.reference if n.initiative_id else None

    def get_url(self, n) -> str:
        """The item's path within CIR."""
        return n.link

    def get_read(self, n) -> bool:
        return n.read_at is not None


class MarkReadSerializer(serializers.Serializer):
    """Mark notifications read: `ids`, or `all: true`."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=1000
    )
    all = StrictBooleanField(required=False, default=False)

    def validate(self, data):
        if not data.get("all") and not data.get("ids"):
            raise serializers.ValidationError(
                {"ids": ['Give the ids to mark read, or "all": true.']}
            )
        if data.get("all") and data.get("ids"):
            raise serializers.ValidationError({"all": ["Give either ids or all, not both."]})
        return data


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications were marked read.")
    unread = serializers.IntegerField(help_text="How many remain unread.")


class PreferencesSerializer(serializers.Serializer):
    """Every kind of notification and its delivery: in_app, email, digest or off."""

    def get_fields(self):
        return {
            kind.value: serializers.ChoiceField(
                choices=Delivery.choices, required=False, help_text=kind.label
            )
            for kind in NotificationKind
        }

    def validate(self, data):
        unknown = (
            sorted(set(self.initial_data) - set(self.fields))
            if isinstance(self.initial_data, dict)
            else []
        )
        if unknown:
            raise serializers.ValidationError(
                {k: [f"Unknown kind. Choose from: {', '.join(NotificationKind.values)}."]
                 for k in unknown}
            )  # fmt: skip
        return data


class WatcherSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    informed = serializers.BooleanField(help_text="Informed on the initiative (a watcher by role).")
    following = serializers.BooleanField(help_text="Follows it (a watcher by choice).")


class WatchSerializer(serializers.Serializer):
    """The signed-in user's place among the initiative's watchers, and the watchers."""

    watching = serializers.BooleanField()
    informed = serializers.BooleanField()
    watchers = WatcherSerializer(many=True)
