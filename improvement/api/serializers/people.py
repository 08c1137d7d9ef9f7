"""Shapes of the people loop: My work, comments, possible duplicates."""

from __future__ import annotations

from rest_framework import serializers

from ... import choices
from ...models import Comment
from ...services.comments import MAX_COMMENT_LENGTH
from ..fields import StrictCharField, username_of
from .initiatives import InitiativeDetailSerializer


class WorkInitiativeSerializer(serializers.Serializer):
    """An initiative as My work lists it."""

    id = serializers.IntegerField(read_only=True)
    reference = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    step = serializers.ChoiceField(choices=choices.Step.choices, read_only=True)
    health = serializers.ChoiceField(choices=choices.Health.choices, read_only=True)
    priority = serializers.ChoiceField(choices=choices.Priority.choices, read_only=True)
    accountable = serializers.CharField(
        source="accountable.username",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The owner's username.",
    )
    due_date = serializers.DateField(read_only=True, allow_null=True)
    days_in_step = serializers.IntegerField(read_only=True)
    days_inactive = serializers.IntegerField(read_only=True)
    is_stale = serializers.BooleanField(read_only=True)
    age_days = serializers.IntegerField(
        read_only=True, help_text="Days since it was registered, without the days on hold."
    )


class WorkActionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=choices.ActionStatus.choices, read_only=True)
    due_date = serializers.DateField(read_only=True, allow_null=True)
    is_overdue = serializers.BooleanField(read_only=True)
    initiative = serializers.IntegerField(source="initiative_id", read_only=True)
    reference = serializers.CharField(source="initiative.reference", read_only=True)


class WorkKPISerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=choices.KPIStatus.choices, read_only=True)
    initiative = serializers.IntegerField(source="initiative_id", read_only=True)
    reference = serializers.CharField(source="initiative.reference", read_only=True)


def _list_serializer(name: str, item) -> type[serializers.Serializer]:
    fields = {
        "count": serializers.IntegerField(read_only=True, help_text="How many in all."),
        "items": item(many=True, read_only=True, help_text="The first ones (at most `limit`)."),
        "register_query": serializers.CharField(
            read_only=True,
            help_text="The register's query string listing them all (empty: none does).",
        ),
    }
    return type(name, (serializers.Serializer,), fields)


WorkInitiativeListSerializer = _list_serializer("WorkInitiativeList", WorkInitiativeSerializer)
WorkActionListSerializer = _list_serializer("WorkActionList", WorkActionSerializer)
WorkKPIListSerializer = _list_serializer("WorkKPIList", WorkKPISerializer)


class WorkRoleSerializer(WorkInitiativeListSerializer):
    key = serializers.ChoiceField(
        choices=["accountable", "responsible", "consulted", "informed"], read_only=True
    )
    title = serializers.CharField(read_only=True)


class MyWorkSerializer(serializers.Serializer):
    """What My work shows: open initiatives by RACI role, open actions (overdue first, then
    due within 7 days, then the others), reviews due and KPIs in trouble on your
    initiatives; for a CSI manager the triage queue (proposed, oldest first, `age_days`)
    and the stale initiatives (null for others)."""

    roles = WorkRoleSerializer(many=True, read_only=True)
    actions = WorkActionListSerializer(read_only=True)
    overdue_actions = serializers.IntegerField(read_only=True)
    due_soon_actions = serializers.IntegerField(
        read_only=True, help_text="Open actions due within 7 days."
    )
    reviews_due = WorkInitiativeListSerializer(read_only=True)
    kpis_in_trouble = WorkKPIListSerializer(read_only=True)
    triage = WorkInitiativeListSerializer(read_only=True, allow_null=True)
    stale = WorkInitiativeListSerializer(read_only=True, allow_null=True)
    limit = serializers.IntegerField(read_only=True, help_text="Items per list at most.")


class CommentSerializer(serializers.ModelSerializer):
    """A comment. A deleted one keeps its place with an empty `body` (its text stays in
    the history)."""

    author = username_of()
    mentions = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    deleted_by = username_of()
    body = serializers.SerializerMethodField()
    initiative = serializers.IntegerField(source="initiative_id", read_only=True)

    class Meta:
        model = Comment
        fields = [
            "id",
            "initiative",
            "author",
            "body",
            "mentions",
            "created_at",
            "edited_at",
            "deleted_at",
            "deleted_by",
        ]
        read_only_fields = fields

    def get_body(self, comment) -> str:
        return "" if comment.deleted_at else comment.body


class CommentWriteSerializer(serializers.Serializer):
    """The text of a comment: plain text; http(s) links are shown clickable and
    @username mentions someone who may see the initiative."""

    body = StrictCharField(max_length=MAX_COMMENT_LENGTH, trim_whitespace=False)


class PossibleDuplicateSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    reference = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    step = serializers.ChoiceField(choices=choices.Step.choices, read_only=True)
    similarity = serializers.FloatField(
        read_only=True, help_text="0–1: trigram similarity of title or description."
    )
    same_record = serializers.BooleanField(
        read_only=True, help_text="The same external system and id."
    )


class InitiativeCreatedSerializer(InitiativeDetailSerializer):
    """The registered initiative, with the open initiatives it may duplicate."""

    possible_duplicates = PossibleDuplicateSerializer(many=True, read_only=True)

    class Meta(InitiativeDetailSerializer.Meta):
        fields = [*InitiativeDetailSerializer.Meta.fields, "possible_duplicates"]
