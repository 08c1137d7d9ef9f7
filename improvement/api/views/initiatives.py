"""The register: initiatives, and their moves through the improvement model."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from ... import permissions, selectors, services
from ...filtersets import InitiativeFilterSet
from ...models import Initiative, TransitionLog
from .. import serializers as s
from ..permissions import may_contribute, may_edit
from ..schema import operations
from .base import FilterBackend, ServiceViewSet, nested_list
from .records import InitiativeRecords


def initiative_register(*, actor, priority=None, **data) -> tuple[Initiative, bool]:
    """services.initiative_create_or_get, then the priority given, on a new initiative only
    (one transaction): the API's create takes both in one request."""
    with transaction.atomic():
        initiative, created = services.initiative_create_or_get(actor=actor, **data)
        if created and priority:
            services.initiative_set_priority(initiative=initiative, actor=actor, priority=priority)
    return initiative, created


def _detail_queryset(user):
    """One initiative with its KPIs and each KPI's latest check, in a fixed few queries."""
    return selectors.initiative_detail(user).prefetch_related(
        "goals",
        selectors.latest_checks_prefetch("kpis__checks"),
    )


@operations(
    "initiatives",
    list="List the register",
    retrieve={
        "summary": "Read an initiative",
        "description": "With `allowed_transitions` for you (and their unmet conditions), its "
        "KPIs with their latest check, and links to its records.",
        "responses": s.InitiativeDetailSerializer,
    },
    create={
        "summary": "Register an initiative",
        "description": "Always created in `proposed`. Idempotent for ITSM tools: when "
        "`external_system` and `external_id` match an existing initiative, that one is "
        "answered with 200 and nothing is created.",
        "request": s.InitiativeSerializer,
        "responses": {
            201: OpenApiResponse(s.InitiativeDetailSerializer, description="Created."),
            200: OpenApiResponse(
                s.InitiativeDetailSerializer,
                description="An initiative with this external system and id already exists.",
            ),
        },
        "examples": [
            OpenApiExample(
                "From a problem record",
                request_only=True,
                value={
                    "title": "Recurring VPN drop-outs after client update",
                    "source": "problem",
                    "external_system": "servicenow",
                    "external_id": "PRB0040012",
                    "external_url": "https://example.service-now.com/problem.do?sys_id=42",
                    "value": 4,
                    "effort": 2,
                    "urgency": 4,
                },
            )
        ],
    },
    partial_update={
        "summary": "Change an initiative",
        "description": "Register fields, goals and RACI. `priority` is for CSI managers. The "
        "step moves only through …/transitions/.",
        "responses": s.InitiativeDetailSerializer,
    },
    destroy={
        "summary": "Delete an initiative",
        "description": "CSI managers; only while `proposed` or `rejected` (else 409: cancel it).",
    },
)
class InitiativeViewSet(InitiativeRecords, ServiceViewSet):
    """The register: initiatives with their step records, actions, reviews and moves."""

    serializer_class = s.InitiativeSerializer
    filter_backends = [FilterBackend]
    filterset_class = InitiativeFilterSet
    queryset = Initiative.objects.none()  # for the schema; get_queryset scopes it
    role_rules = {
        "create": permissions.may_propose,
        "partial_update": may_contribute,
        "destroy": permissions.may_manage,
        "transition": may_contribute,
        "actions_create": may_contribute,
        "reviews_create": may_contribute,
        **{f"{name}_update": may_contribute for name in s.RECORD_SERIALIZERS},
    }
    object_rules = {
        "partial_update": may_edit,
        # which moves exactly is the workflow's call (403 or 409 from the service)
        "transition": may_edit,
        "actions_create": may_edit,
        "reviews_create": may_edit,
        **{f"{name}_update": may_edit for name in s.RECORD_SERIALIZERS},
    }
    create_service = initiative_register
    create_finds_existing = True
    update_service = services.initiative_update
    destroy_service = services.initiative_delete

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return selectors.initiative_rows(user)
        if self.action == "retrieve":
            return _detail_queryset(user)
        # writes: what may_edit reads (owners of service and practice) comes along
        return selectors.initiatives_visible_to(user).select_related("service", "practice")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.InitiativeDetailSerializer
        return s.InitiativeSerializer

    def list(self, request, *args, **kwargs):
        """A page of the register, rendered flat (see serializers.initiative_rows)."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        relations = selectors.initiative_relations(row["id"] for row in page)
        detail_url = request.build_absolute_uri(reverse("api:initiative-list"))
        return self.get_paginated_response(
            s.initiative_rows(page, relations=relations, detail_url=detail_url)
        )

    def written(self, initiative: Initiative) -> dict:
        # every write answers with the detail, read again as a read would show it
        fresh = _detail_queryset(self.request.user).get(pk=initiative.pk)
        return s.InitiativeDetailSerializer(fresh, context=self.get_serializer_context()).data

    # moves ------------------------------------------------------------------------

    transitions = nested_list(
        "transitions",
        s.TransitionLogSerializer,
        TransitionLog.objects.select_related("actor").order_by("at", "id"),
        of="initiative",
        summary="The transition log",
        tag="transitions",
    )

    @extend_schema(
        summary="Move the initiative",
        description="`to` is the next state. Reject and cancel need `reason`; cancel also "
        "`lessons_learned`; close needs `outcome`. Answers the moved initiative, or 409 "
        "with `errors.conditions` listing every unmet condition (code `transition_blocked`), "
        "or 409 `conflict` when someone else moved it first.",
        tags=["transitions"],
        request=s.TransitionRequestSerializer,
        responses={200: s.InitiativeDetailSerializer},
        examples=[
            OpenApiExample("Accept", request_only=True, value={"to": "vision"}),
            OpenApiExample(
                "Blocked",
                response_only=True,
                status_codes=["409"],
                value={
                    "code": "transition_blocked",
                    "message": "It cannot move to '3 · Where do we want to be?' yet.",
                    "errors": {"conditions": ["KPI 'Mean time to resolve' has no baseline."]},
                },
            ),
        ],
    )
    @transitions.mapping.post
    def transition(self, request, pk=None):
        initiative = self.get_object()
        serializer = self.validated(s.TransitionRequestSerializer)
        moved = services.initiative_transition(
            initiative=initiative, actor=request.user, **serializer.validated_data
        )
        return Response(self.written(moved))
