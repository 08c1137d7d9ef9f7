"""The register: initiatives, and their moves through the improvement model."""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from ... import selectors, services, worklists
from ...filtersets import InitiativeFilterSet
from ...models import Initiative, Review, TransitionLog
from .. import serializers as s
from ..permissions import (
    may_contribute,
    may_contribute_moves,
    may_delete_initiatives,
    may_edit,
    may_move,
    may_propose,
)
from ..schema import operations
from ..serializers.people import InitiativeCreatedSerializer, PossibleDuplicateSerializer
from .base import FilterBackend, ServiceViewSet, nested_list
from .records import InitiativeRecords
from .spreadsheets import RegisterImportActions, may_import_register


def _detail_queryset(user):
    """One initiative with its KPIs and each KPI's latest check, its reviews (the last one's
    KPI snapshot proposes the closing outcome; this iteration's answers the review guards)
    and the owner and goals an integration suggested, in a fixed few queries."""
    return (
        selectors.initiative_detail(user)
        .select_related("suggested_accountable")
        .prefetch_related(
            "goals",
            "suggested_goals",
            Prefetch("reviews", queryset=Review.objects.order_by("iteration")),
            selectors.latest_checks_prefetch("kpis__checks"),
        )
    )


@operations(
    "initiatives",
    list="List the register",
    retrieve={
        "summary": "Read an initiative",
        "description": "With `allowed_transitions` for you (and their unmet conditions), its "
        "KPIs with their latest check, and links to its records; the closing outcome the "
        "last review's KPIs support (`proposed_outcome`), any override of the outcome, the "
        "hold (`held_from`, `hold_reason`, `hold_until`, `on_hold_days`), `age_days`, and "
        "the owner and goals an ITSM integration suggested.",
        "responses": s.InitiativeDetailSerializer,
    },
    create={
        "summary": "Register an initiative",
        "description": "Always created in `proposed`. Idempotent for ITSM tools: when "
        "`external_system` and `external_id` match an existing initiative (trimmed, whatever "
        "their case: `ServiceNow` is `servicenow`), that one is answered with 200 and "
        "nothing is created. An ITSM integration's `accountable` and `goals` are kept as "
        "suggestions (`suggested_accountable`, `suggested_goals`) that apply when a CSI "
        "manager accepts; it may not set `responsible`, `consulted` or `informed` (400). "
        "`accountable` must be someone who may edit initiatives (400 otherwise). `priority` "
        "is for CSI managers. `possible_duplicates`: open initiatives whose title or "
        "description is alike (trigram similarity) or that come from the same external "
        "record, most alike first.",
        "request": s.InitiativeSerializer,
        "responses": {
            201: OpenApiResponse(InitiativeCreatedSerializer, description="Created."),
            200: OpenApiResponse(
                InitiativeCreatedSerializer,
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
class InitiativeViewSet(RegisterImportActions, InitiativeRecords, ServiceViewSet):
    """The register: initiatives with their step records, actions, reviews and moves."""

    serializer_class = s.InitiativeSerializer
    filter_backends = [FilterBackend]
    filterset_class = InitiativeFilterSet
    queryset = Initiative.objects.none()  # for the schema; get_queryset scopes it
    role_rules = {
        "create": may_propose,
        "partial_update": may_contribute,
        "destroy": may_delete_initiatives,
        "import_register": may_import_register,
        "transition": may_contribute_moves,
        "actions_create": may_contribute,
        "reviews_create": may_contribute,
        **{f"{name}_update": may_contribute for name in s.RECORD_SERIALIZERS},
    }
    object_rules = {
        "partial_update": may_edit,
        # which moves exactly is the workflow's call (403 naming who may, or 409)
        "transition": may_move,
        "actions_create": may_edit,
        "reviews_create": may_edit,
        **{f"{name}_update": may_edit for name in s.RECORD_SERIALIZERS},
    }
    # one transaction: the priority (CSI managers) is set on a new initiative only
    create_service = services.initiative_create_or_get
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

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        data = response.data
        duplicates = worklists.possible_duplicates(
            request.user,
            title=data.get("title", ""),
            description=data.get("description", ""),
            external_system=data.get("external_system", ""),
            external_id=data.get("external_id", ""),
            exclude_pk=data.get("id"),
        )
        data["possible_duplicates"] = PossibleDuplicateSerializer(duplicates, many=True).data
        return response

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
        description="`to` is the next state; `from` the step your page or client saw (a "
        "move from a stale view is a 409 `conflict` saying where it is now and who moved "
        "it). Reject, cancel, hold and every move back need `reason` (or a `comment`, which "
        "serves as the reason); cancel also `lessons_learned`; hold also `resume_by` (a "
        "date, not in the past), and `to` the step it was held from resumes it; close needs "
        "`outcome`, and an outcome the last review's KPIs do not support also `override`, "
        "the justification kept as `outcome_override`. Answers the moved initiative, or "
        "409 with `errors.conditions` listing every unmet condition (code "
        "`transition_blocked`), or 409 `conflict` when someone else moved it first; 403 "
        "names who may make the move.",
        tags=["transitions"],
        request=s.TransitionRequestSerializer,
        responses={200: s.InitiativeDetailSerializer},
        examples=[
            OpenApiExample("Accept", request_only=True, value={"to": "vision"}),
            OpenApiExample(
                "Back to the plan",
                request_only=True,
                value={
                    "to": "plan",
                    "from": "action",
                    "comment": "The pilot showed the roll-back is not enough.",
                },
            ),
            OpenApiExample(
                "Put on hold",
                request_only=True,
                value={
                    "to": "on_hold",
                    "reason": "Waiting for the vendor's contract.",
                    "resume_by": "2027-02-01",
                },
            ),
            OpenApiExample(
                "Close against the data",
                request_only=True,
                value={
                    "to": "closed",
                    "outcome": "successful",
                    "override": "The survey KPI lags; the CAB accepted the interviews.",
                },
            ),
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
            OpenApiExample(
                "Moved since you looked",
                response_only=True,
                status_codes=["409"],
                value={
                    "code": "conflict",
                    "message": "The initiative was moved by csi at 2026-12-01 10:02: it is "
                    "now in '4 · How do we get there?', not '5 · Take action' as on your "
                    "page. Reload to see it, then choose again.",
                    "errors": {},
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
