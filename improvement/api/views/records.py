"""What an initiative records along the way, under /initiatives/{id}/: its step records
(vision, baseline, target, plan, sustain), its actions and its reviews; and one action
by its own address.

A step record's GET and PUT answer its version as an `ETag` (services.record_version,
quoted; `"new"` for a record never written); a PUT with `If-Match` is refused with 409
when the record changed since that version (the service says who changed what). Without
`If-Match` there is no check.
"""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ... import selectors, services
from ...models import Action, Initiative, Review
from .. import serializers as s
from ..permissions import may_contribute, may_edit
from ..schema import operations
from .base import CIRViewSet, ServiceUpdateMixin, nested_list

#: the ETag of a record never written (its version is "")
NEW_RECORD_TAG = '"new"'
#: one entity tag, weak or strong: W/"…" or "…"
_ENTITY_TAG = re.compile(r'^(?:W/)?"([^"]*)"$')
ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description='The record\'s version, e.g. `"2026-12-01T10:02:03.123456+00:00"`, or '
    '`"new"` before it is first written. Send it back in `If-Match` to write it.',
)
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The `ETag` of the record as you read it: if it has changed since, the "
    "write is refused with 409, saying who changed which fields. Leave it out (or send "
    "`*`) to write without the check.",
    examples=[
        OpenApiExample("As read", value='"2026-12-01T10:02:03.123456+00:00"'),
        OpenApiExample("Never written", value=NEW_RECORD_TAG),
    ],
)


def etag_of(record) -> str:
    """The ETag of a step record: its version, quoted."""
    version = services.record_version(record)
    return f'"{version}"' if version else NEW_RECORD_TAG


def version_from_if_match(request) -> str | None:
    """The record version a PUT's `If-Match` names; None without one (or `*`): no check."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    found = _ENTITY_TAG.match(header.strip())
    if found is None:
        raise ValidationError(
            {"If-Match": ['Send the ETag as the GET answered it, quotes included: "…".']}
        )
    tag = found.group(1)
    return "" if f'"{tag}"' == NEW_RECORD_TAG else tag


def _record_actions(name: str, serializer_class):
    """GET and PUT of one step record (vision, baseline, target, plan, sustain)."""

    def read(self, request, pk=None):
        return self.record_response(self.record_of(self.get_object(), serializer_class))

    def write(self, request, pk=None):
        initiative = self.get_object()
        version = version_from_if_match(request)
        # the fields given are checked on their own: no need to read the record first
        serializer = self.validated(serializer_class, partial=True)
        saved = services.step_record_update(
            initiative=initiative,
            record=name,
            actor=request.user,
            version=version,
            **serializer.service_data(),
        )
        return self.record_response(saved)

    read.__name__ = name
    write.__name__ = f"{name}_update"
    title = serializer_class.Meta.model._meta.verbose_name
    # @extend_schema outermost, as a decorator would be: @action sets the kwargs it extends
    read = action(detail=True, methods=["get"], url_path=name, filter_backends=[])(read)
    read = extend_schema(
        summary=f"Read the {title} record",
        description="Answers the record's version in the `ETag` header.",
        parameters=[ETAG_HEADER],
        responses=serializer_class,
        tags=["records"],
    )(read)
    write = extend_schema(
        summary=f"Write the {title} record",
        description=" ".join(
            filter(
                None,
                [
                    "Fields left out keep their value.",
                    serializer_class.write_note,
                    "With `If-Match` (the `ETag` you read), a record changed since is "
                    "refused with 409 and nothing is written.",
                ],
            )
        ),
        parameters=[IF_MATCH_HEADER, ETAG_HEADER],
        request=serializer_class,
        responses=serializer_class,
        tags=["records"],
    )(write)
    read.mapping.put(write)
    return read, write


class InitiativeRecords:
    """The endpoints of an initiative's records; mixed into its viewset, whose object is
    the initiative."""

    def record_of(self, initiative: Initiative, serializer_class):
        """The initiative's record of `serializer_class`; an empty one if not written yet."""
        model = serializer_class.Meta.model
        record = model.objects.filter(initiative=initiative).select_related("updated_by").first()
        return record or model(initiative=initiative)

    def record_response(self, record) -> Response:
        """A step record as its serializer shows it, with its version as the ETag."""
        serializer_class = s.RECORD_SERIALIZERS[record._meta.model_name]
        data = serializer_class(record, context=self.get_serializer_context()).data
        return Response(data, headers={"ETag": etag_of(record)})

    def create_in_initiative(self, serializer_class, service):
        """POST of a record the initiative holds many of: `service(initiative=, actor=,
        **input)` → 201 with what it created."""
        initiative = self.get_object()
        serializer = self.validated(serializer_class)
        created = service(
            initiative=initiative, actor=self.request.user, **serializer.service_data()
        )
        return Response(
            serializer_class(created, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    # step records -------------------------------------------------------------------

    vision, vision_update = _record_actions("vision", s.VisionSerializer)
    baseline, baseline_update = _record_actions("baseline", s.BaselineSerializer)
    target, target_update = _record_actions("target", s.TargetSerializer)
    plan, plan_update = _record_actions("plan", s.PlanSerializer)
    sustain, sustain_update = _record_actions("sustain", s.SustainSerializer)

    # actions and reviews ------------------------------------------------------------

    actions = nested_list(
        "actions",
        s.ActionSerializer,
        Action.objects.select_related("owner").order_by("due_date", "id"),
        of="initiative",
        summary="The initiative's actions",
        tag="actions",
    )

    @extend_schema(
        summary="Add an action",
        description="In the initiative's current iteration.",
        tags=["actions"],
        request=s.ActionSerializer,
        responses={201: s.ActionSerializer},
    )
    @actions.mapping.post
    def actions_create(self, request, pk=None):
        return self.create_in_initiative(s.ActionSerializer, services.action_create)

    reviews = nested_list(
        "reviews",
        s.ReviewSerializer,
        Review.objects.select_related("reviewed_by").order_by("iteration"),
        of="initiative",
        summary="The initiative's reviews",
        tag="reviews",
    )

    @extend_schema(
        summary="Record the review of this iteration",
        description="In step 6 only, one per iteration (else 409). Keeps a snapshot of "
        "every KPI's latest check; its `decision` picks the next move.",
        tags=["reviews"],
        request=s.ReviewSerializer,
        responses={201: s.ReviewSerializer},
    )
    @reviews.mapping.post
    def reviews_create(self, request, pk=None):
        return self.create_in_initiative(s.ReviewSerializer, services.review_create)


@operations("actions", retrieve="Read an action", partial_update="Change an action")
class ActionViewSet(ServiceUpdateMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """One action of an initiative's plan."""

    serializer_class = s.ActionSerializer
    queryset = Action.objects.none()
    role_rules = {"partial_update": may_contribute}
    object_rules = {"partial_update": may_edit}
    update_service = services.action_update

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        return Action.objects.filter(initiative__in=visible).select_related(
            "owner", "initiative__service", "initiative__practice"
        )
