"""Users, their roles, and the API token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ... import choices
from ..fields import StrictCharField

User = get_user_model()


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


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(
        max_length=1024, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
