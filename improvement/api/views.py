"""REST API viewsets (SPEC §4): declarations whose writes call the services.

Permissions come from improvement/permissions.py through api/permissions.py (role rules
before the input is read, object rules on the initiative or KPI); querysets are scoped by
the selectors; every error is rendered by api/errors.py in the one shape. List endpoints
load their relations up front, so their query count does not grow with the page size.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import permissions, selectors, services
from ..exceptions import InvalidInput
from ..filtersets import InitiativeFilterSet, KPIFilterSet, MeasurementFilterSet, UserFilterSet
from ..models import (
    KPI,
    Action,
    Goal,
    Initiative,
    KPICheck,
    Review,
    TransitionLog,
    Webhook,
    WebhookDelivery,
)
from ..services.measurements import MAX_POINTS
from . import serializers as s
from .pagination import MeasurementCursorPagination
from .permissions import (
    RegisterPermission,
    may_contribute,
    may_edit,
    may_feed,
    may_record,
)
from .schema import CIRAutoSchema

User = get_user_model()


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filters: building the
    filter form (its model choice fields and their querysets) costs more than a page's
    queries, and with no filter given it changes nothing."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not request.query_params.keys() & set(
            filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)


def _manage(user) -> bool:
    return permissions.may_manage(user)


class CIRViewSet(viewsets.GenericViewSet):
    """Base of the API's viewsets: authenticated and role-checked."""

    permission_classes = [RegisterPermission]
    parser_classes = [JSONParser]  # the API speaks JSON (SPEC §4)
    schema = CIRAutoSchema()
    role_rules: dict = {}
    object_rules: dict = {}

    def paginated(self, queryset, serializer_class, **context):
        """A page of `queryset` (limit/offset or the action's paginator) as a response."""
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


@csrf_exempt  # a 404 is the answer to every method, with or without a session
def endpoint_not_found(request, *args, **kwargs):
    """Unknown paths under /api/v1/: a 404 in the one error shape."""
    message = "There is no such API endpoint."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return JsonResponse({"code": "not_found", "message": message, "errors": {}}, status=404)


# --- auth ------------------------------------------------------------------------------


class TokenView(APIView):
    """Exchange a username and password for the user's API token."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [JSONParser]
    schema = CIRAutoSchema()

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        request=s.TokenRequestSerializer,
        responses={200: s.TokenSerializer},
        auth=[],
        summary="Get an API token",
        description="Send a username and password; answers the user's token (the same one "
        "every time, until an administrator deletes it in the admin).",
    )
    def post(self, request):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            message = "Unable to log in with the given username and password."
            raise InvalidInput(message, errors={"non_field_errors": [message]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


# --- initiatives -----------------------------------------------------------------------


def _detail_queryset(user):
    """One initiative with its KPIs and each KPI's latest check, in a fixed few queries."""
    return selectors.initiative_detail(user).prefetch_related(
        "goals",
        selectors.latest_checks_prefetch("kpis__checks"),
    )


def _record_actions(name: str, serializer_class):
    """GET and PUT of one step record (vision, baseline, target, plan, sustain)."""
    record_model = serializer_class.Meta.model

    def read(self, request, pk=None):
        initiative = self.get_object()
        record = self.record(initiative, record_model)
        return Response(serializer_class(record, context=self.get_serializer_context()).data)

    def write(self, request, pk=None):
        initiative = self.get_object()
        record = self.record(initiative, record_model)
        serializer = serializer_class(
            record, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        nested = data.pop("initiative", None)
        if nested and "goals" in nested:
            data["goals"] = nested["goals"]
        services.step_record_update(initiative=initiative, record=name, actor=request.user, **data)
        record = self.record(initiative, record_model)
        return Response(serializer_class(record, context=self.get_serializer_context()).data)

    read.__name__ = name
    write.__name__ = f"{name}_update"
    title = serializer_class.Meta.model._meta.verbose_name
    read = extend_schema(
        summary=f"Read the {title} record",
        responses=serializer_class,
        tags=["records"],
    )(read)
    write = extend_schema(
        summary=f"Write the {title} record",
        description="Fields left out keep their value."
        + (" `goals` sets the initiative's goals (ids)." if name == "vision" else ""),
        request=serializer_class,
        responses=serializer_class,
        tags=["records"],
    )(write)
    read = action(detail=True, methods=["get"], url_path=name, filter_backends=[])(read)
    read.mapping.put(write)
    return read, write


@extend_schema_view(
    list=extend_schema(summary="List the register", tags=["initiatives"]),
    retrieve=extend_schema(
        summary="Read an initiative",
        description="With `allowed_transitions` for you (and their unmet conditions), its "
        "KPIs with their latest check, and links to its records.",
        tags=["initiatives"],
        responses=s.InitiativeDetailSerializer,
    ),
    partial_update=extend_schema(
        summary="Change an initiative",
        description="Register fields, goals and RACI. `priority` is for CSI managers. The "
        "step moves only through …/transitions/.",
        tags=["initiatives"],
        responses=s.InitiativeDetailSerializer,
    ),
    destroy=extend_schema(
        summary="Delete an initiative",
        description="CSI managers; only while `proposed` or `rejected` (else 409: cancel it).",
        tags=["initiatives"],
    ),
)
class InitiativeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """The register: initiatives with their step records, actions, reviews and moves."""

    serializer_class = s.InitiativeSerializer
    filter_backends = [FilterBackend]
    filterset_class = InitiativeFilterSet
    queryset = Initiative.objects.none()  # for the schema; get_queryset scopes it
    role_rules = {
        "create": permissions.may_propose,
        "partial_update": may_contribute,
        "destroy": _manage,
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

    def detail_data(self, initiative: Initiative) -> dict:
        fresh = _detail_queryset(self.request.user).get(pk=initiative.pk)
        return s.InitiativeDetailSerializer(fresh, context=self.get_serializer_context()).data

    @staticmethod
    def record(initiative: Initiative, record_model):
        found = (
            record_model.objects.filter(initiative=initiative).select_related("updated_by").first()
        )
        return found or record_model(initiative=initiative)

    @extend_schema(
        summary="Register an initiative",
        description="Always created in `proposed`. Idempotent for ITSM tools: when "
        "`external_system` and `external_id` match an existing initiative, that one is "
        "answered with 200 and nothing is created.",
        tags=["initiatives"],
        request=s.InitiativeSerializer,
        responses={
            201: OpenApiResponse(s.InitiativeDetailSerializer, description="Created."),
            200: OpenApiResponse(
                s.InitiativeDetailSerializer,
                description="An initiative with this external system and id already exists.",
            ),
        },
        examples=[
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
    )
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        priority = data.pop("priority", None)
        with transaction.atomic():
            initiative, created = services.initiative_create_or_get(actor=request.user, **data)
            if created and priority:
                services.initiative_set_priority(
                    initiative=initiative, actor=request.user, priority=priority
                )
        return Response(
            self.detail_data(initiative),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def partial_update(self, request, pk=None):
        initiative = self.get_object()
        serializer = self.get_serializer(initiative, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            services.initiative_update(
                initiative=initiative, actor=request.user, **serializer.validated_data
            )
        return Response(self.detail_data(initiative))

    def destroy(self, request, pk=None):
        services.initiative_delete(initiative=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # moves ------------------------------------------------------------------------

    @extend_schema(
        summary="The transition log",
        tags=["transitions"],
        responses=s.TransitionLogSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def transitions(self, request, pk=None):
        initiative = self.get_object()
        log = TransitionLog.objects.filter(initiative=initiative).select_related("actor")
        return self.paginated(log.order_by("at", "id"), s.TransitionLogSerializer)

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
        serializer = s.TransitionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        moved = services.initiative_transition(
            initiative=initiative,
            to=data.pop("to"),
            actor=request.user,
            comment=data.pop("comment", ""),
            **data,
        )
        return Response(self.detail_data(moved))

    # step records -------------------------------------------------------------------

    vision, vision_update = _record_actions("vision", s.VisionSerializer)
    baseline, baseline_update = _record_actions("baseline", s.BaselineSerializer)
    target, target_update = _record_actions("target", s.TargetSerializer)
    plan, plan_update = _record_actions("plan", s.PlanSerializer)
    sustain, sustain_update = _record_actions("sustain", s.SustainSerializer)

    # actions and reviews ------------------------------------------------------------

    @extend_schema(
        summary="The initiative's actions",
        tags=["actions"],
        responses=s.ActionSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def actions(self, request, pk=None):
        initiative = self.get_object()
        queryset = Action.objects.filter(initiative=initiative).select_related("owner")
        return self.paginated(queryset.order_by("due_date", "id"), s.ActionSerializer)

    @extend_schema(
        summary="Add an action",
        description="In the initiative's current iteration.",
        tags=["actions"],
        request=s.ActionSerializer,
        responses={201: s.ActionSerializer},
    )
    @actions.mapping.post
    def actions_create(self, request, pk=None):
        initiative = self.get_object()
        serializer = s.ActionSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        created = services.action_create(
            initiative=initiative, actor=request.user, **serializer.validated_data
        )
        return Response(
            s.ActionSerializer(created, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="The initiative's reviews",
        tags=["reviews"],
        responses=s.ReviewSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def reviews(self, request, pk=None):
        initiative = self.get_object()
        queryset = Review.objects.filter(initiative=initiative).select_related("reviewed_by")
        return self.paginated(queryset.order_by("iteration"), s.ReviewSerializer)

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
        initiative = self.get_object()
        serializer = s.ReviewSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        created = services.review_create(
            initiative=initiative, actor=request.user, **serializer.validated_data
        )
        return Response(s.ReviewSerializer(created).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(summary="Read an action", tags=["actions"]),
    partial_update=extend_schema(summary="Change an action", tags=["actions"]),
)
class ActionViewSet(mixins.RetrieveModelMixin, CIRViewSet):
    """One action of an initiative's plan."""

    serializer_class = s.ActionSerializer
    queryset = Action.objects.none()
    role_rules = {"partial_update": may_contribute}
    object_rules = {"partial_update": may_edit}

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        return Action.objects.filter(initiative__in=visible).select_related(
            "owner", "initiative__service", "initiative__practice"
        )

    def partial_update(self, request, pk=None):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.action_update(
            action=instance, actor=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(updated).data)


# --- goals -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List the organisational goals", tags=["goals"]),
    retrieve=extend_schema(summary="Read a goal", tags=["goals"]),
    create=extend_schema(summary="Add a goal (CSI managers)", tags=["goals"]),
    partial_update=extend_schema(summary="Change a goal (CSI managers)", tags=["goals"]),
    destroy=extend_schema(
        summary="Delete a goal (CSI managers)",
        description="To retire a goal that initiatives serve, set `active` to false.",
        tags=["goals"],
    ),
)
class GoalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """Organisational goals: the vision initiatives serve."""

    serializer_class = s.GoalSerializer
    queryset = Goal.objects.none()
    role_rules = {"create": _manage, "partial_update": _manage, "destroy": _manage}

    def get_queryset(self):
        if not permissions.may_view(self.request.user):
            return Goal.objects.none()
        return Goal.objects.select_related("owner").order_by("title")

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        goal = services.goal_create(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(goal).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        goal = self.get_object()
        serializer = self.get_serializer(goal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        goal = services.goal_update(goal=goal, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(goal).data)

    def destroy(self, request, pk=None):
        services.goal_delete(goal=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- KPIs, measurements, checks --------------------------------------------------------


POINTS_REQUEST = {
    "application/json": {
        "oneOf": [
            {"$ref": "#/components/schemas/MeasurementPointRequest"},
            {
                "type": "array",
                "items": {"$ref": "#/components/schemas/MeasurementPointRequest"},
                "minItems": 1,
                "maxItems": MAX_POINTS,
            },
        ]
    }
}


@extend_schema_view(
    list=extend_schema(summary="List KPIs", tags=["kpis"]),
    retrieve=extend_schema(summary="Read a KPI", tags=["kpis"]),
    create=extend_schema(
        summary="Define a KPI",
        description="For editors of the initiative. `target_change_pct` (-15 = 15 % below "
        "the baseline) may stand in for `target_value`.",
        tags=["kpis"],
    ),
    partial_update=extend_schema(summary="Change a KPI", tags=["kpis"]),
    destroy=extend_schema(summary="Delete a KPI with its data", tags=["kpis"]),
)
class KPIViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """KPIs of initiatives, their measurements and their checks."""

    serializer_class = s.KPISerializer
    filter_backends = [FilterBackend]
    filterset_class = KPIFilterSet
    queryset = KPI.objects.none()
    role_rules = {
        "create": may_contribute,
        "partial_update": may_contribute,
        "destroy": may_contribute,
        "measurements_create": may_feed,
        "check": may_feed,
    }
    object_rules = {
        "partial_update": may_edit,
        "destroy": may_edit,
        "measurements_create": may_record,
        "check": may_record,
    }

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        queryset = KPI.objects.filter(initiative__in=visible).select_related(
            "initiative__service", "initiative__practice"
        )
        if self.action in ("list", "retrieve"):
            queryset = queryset.prefetch_related(selectors.latest_checks_prefetch())
        return queryset.order_by("initiative_id", "name", "id")

    def _fresh(self, kpi: KPI) -> dict:
        queryset = self.get_queryset().prefetch_related(selectors.latest_checks_prefetch())
        fresh = queryset.get(pk=kpi.pk)
        return self.get_serializer(fresh).data

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        kpi = services.kpi_create(initiative=data.pop("initiative"), actor=request.user, **data)
        return Response(self._fresh(kpi), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        kpi = self.get_object()
        serializer = self.get_serializer(kpi, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.kpi_update(kpi=kpi, actor=request.user, **serializer.validated_data)
        return Response(self._fresh(kpi))

    def destroy(self, request, pk=None):
        services.kpi_delete(kpi=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The KPI's measurements, newest first",
        description="Cursor-paginated: follow `next`. `since` and `until` bound "
        "`measured_at` (inclusive).",
        tags=["measurements"],
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="From (inclusive)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="To (inclusive)."),
        ],
        responses=s.MeasurementSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=MeasurementCursorPagination,
    )
    def measurements(self, request, pk=None):
        kpi = self.get_object()
        filterset = MeasurementFilterSet(
            request.query_params,
            queryset=kpi.measurements.select_related("recorded_by"),
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return self.paginated(filterset.qs, s.MeasurementSerializer)

    @extend_schema(
        summary="Record measurements of the KPI",
        description="One point or a list (up to 10 000), all or nothing. A point at an "
        "instant already recorded replaces it, so re-sending is harmless. Errors name the "
        'point\'s index: `errors.rows["0"].value`. The KPI is checked after the commit.',
        tags=["measurements"],
        request=POINTS_REQUEST,
        responses={200: s.RecordedSerializer},
        examples=[
            OpenApiExample(
                "One point",
                request_only=True,
                value={"value": 7.5, "measured_at": "2026-11-20T09:00:00Z", "source": "snow"},
            )
        ],
    )
    @measurements.mapping.post
    def measurements_create(self, request, pk=None):
        kpi = self.get_object()
        payload = request.data
        if isinstance(payload, dict):
            points = [payload]
        elif isinstance(payload, list):
            points = payload
        else:
            raise ValidationError(
                {"non_field_errors": ["Send a measurement object or a list of them."]}
            )
        recorded = services.measurement_record(kpi=kpi, actor=request.user, points=points)
        return Response({"recorded": recorded})

    @extend_schema(
        summary="The KPI's check history, newest first",
        tags=["checks"],
        responses=s.KPICheckSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def checks(self, request, pk=None):
        kpi = self.get_object()
        queryset = KPICheck.objects.filter(kpi=kpi).order_by(*selectors.LATEST_CHECK_ORDER)
        return self.paginated(queryset, s.KPICheckSerializer)

    @extend_schema(
        summary="Check the KPI now",
        description="Runs the check and answers it. Idempotent: the same data and verdict "
        "refresh the same check.",
        tags=["checks"],
        request=None,
        responses={200: s.KPICheckSerializer},
    )
    @checks.mapping.post
    def check(self, request, pk=None):
        kpi = self.get_object()
        result = services.kpi_check(kpi=kpi, actor=request.user)
        return Response(s.KPICheckSerializer(result).data)


class MeasurementViewSet(CIRViewSet):
    """Bulk measurements across KPIs, addressed by key."""

    serializer_class = s.MeasurementRowSerializer
    role_rules = {"create": may_feed}

    @extend_schema(
        summary="Record measurements across KPIs",
        description="A list of up to 10 000 rows `{kpi: <key>, value, measured_at, source, "
        "note}`. All or nothing: any bad row and nothing is recorded; the errors name the "
        'row and field (`errors.rows["3"].kpi`). A point at an instant already recorded '
        "replaces it, so re-sending a batch changes nothing.",
        tags=["measurements"],
        request=s.MeasurementRowSerializer(many=True),
        responses={200: s.RecordedSerializer},
        examples=[
            OpenApiExample(
                "Two KPIs",
                request_only=True,
                value=[
                    {"kpi": "vpn-mttr", "value": 5.5, "measured_at": "2026-11-20T09:00:00Z"},
                    {"kpi": "vpn-csat", "value": 4.1, "measured_at": "2026-11-20T09:00:00Z"},
                ],
            )
        ],
    )
    def create(self, request):
        rows = request.data
        if not isinstance(rows, list):
            raise ValidationError({"non_field_errors": ["Send a list of measurements."]})
        recorded = services.measurements_record_bulk(actor=request.user, rows=rows)
        return Response({"recorded": recorded})


# --- webhooks --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List webhooks", tags=["webhooks"]),
    retrieve=extend_schema(summary="Read a webhook (with its secret)", tags=["webhooks"]),
    create=extend_schema(
        summary="Register a webhook",
        description="Events are POSTed as JSON, signed the Standard Webhooks way with the "
        "answered `secret`. URLs on private or loopback addresses are refused.",
        tags=["webhooks"],
    ),
    partial_update=extend_schema(summary="Change a webhook", tags=["webhooks"]),
    destroy=extend_schema(summary="Delete a webhook and its delivery log", tags=["webhooks"]),
)
class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """Outbound webhooks: CSI managers only."""

    serializer_class = s.WebhookSerializer
    queryset = Webhook.objects.none()
    role_rules = {
        name: _manage
        for name in (
            "list",
            "retrieve",
            "create",
            "partial_update",
            "destroy",
            "deliveries",
            "rotate_secret",
        )
    }

    def get_queryset(self):
        if not permissions.may_manage(self.request.user):
            return Webhook.objects.none()
        return Webhook.objects.select_related("created_by").order_by("name", "id")

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_create(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(webhook).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        webhook = self.get_object()
        serializer = self.get_serializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(
            webhook=webhook, actor=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(webhook).data)

    def destroy(self, request, pk=None):
        services.webhook_delete(webhook=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The webhook's deliveries, newest first, with every attempt",
        tags=["webhooks"],
        responses=s.WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        webhook = self.get_object()
        queryset = (
            WebhookDelivery.objects.filter(webhook=webhook)
            .select_related("event")
            .prefetch_related("attempts")
            .order_by("-created_at", "-id")
        )
        return self.paginated(queryset, s.WebhookDeliverySerializer)

    @extend_schema(
        summary="Give the webhook a new secret",
        description="The old secret stops working at once.",
        tags=["webhooks"],
        request=None,
        responses={200: s.WebhookSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", filter_backends=[])
    def rotate_secret(self, request, pk=None):
        webhook = services.webhook_rotate_secret(webhook=self.get_object(), actor=request.user)
        return Response(self.get_serializer(webhook).data)


# --- users -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List users", tags=["users"]),
    retrieve=extend_schema(summary="Read a user", tags=["users"]),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CIRViewSet):
    """Users and their CIR roles; the API refers to users by `username`."""

    serializer_class = s.UserSerializer
    filter_backends = [FilterBackend]
    filterset_class = UserFilterSet
    queryset = User.objects.none()

    def get_queryset(self):
        if not permissions.may_view(self.request.user):
            return User.objects.none()
        return (
            User.objects.filter(is_active=True)
            .prefetch_related("groups")
            .order_by("username")
            .distinct()
        )
