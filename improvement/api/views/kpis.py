"""KPIs, their measurements (one KPI, or across KPIs by key) and their checks."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ... import selectors, services
from ...filtersets import KPIFilterSet, MeasurementFilterSet
from ...models import KPI, KPICheck, KPIRevision
from .. import serializers as s
from ..pagination import MeasurementCursorPagination
from ..permissions import (
    may_check,
    may_contribute_kpis,
    may_edit_kpis,
    may_feed,
    may_feed_checks,
    may_rebaseline,
    may_record,
)
from ..schema import operations
from .base import CIRViewSet, FilterBackend, ServiceViewSet, nested_list
from .spreadsheets import KPISheetActions, MeasurementCorrections, may_correct

#: one point or a list of points (the component is declared by the serializer it names)
POINTS_REQUEST = PolymorphicProxySerializer(
    component_name="MeasurementPoints",
    serializers=[s.MeasurementPointSerializer, s.MeasurementPointSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@operations(
    "kpis",
    list="List KPIs",
    retrieve="Read a KPI",
    create={
        "summary": "Define a KPI",
        "description": "For editors of the initiative. `target_change_pct` (-15 = 15 % below "
        "the baseline) may stand in for `target_value`.",
    },
    partial_update={
        "summary": "Change a KPI",
        "description": "Once the initiative has left step 3 (`locked`), its baseline, "
        "target, dates, direction, aggregation and window are refused with 409 (the "
        "message says how to proceed: move the initiative back to the target or the "
        "baseline, or have a CSI manager re-baseline the KPI). Every change is kept as a "
        "revision.",
    },
    destroy="Delete a KPI with its data",
)
class KPIViewSet(KPISheetActions, ServiceViewSet):
    """KPIs of initiatives, their measurements and their checks."""

    serializer_class = s.KPISerializer
    filter_backends = [FilterBackend]
    filterset_class = KPIFilterSet
    queryset = KPI.objects.none()
    role_rules = {
        "create": may_contribute_kpis,
        "partial_update": may_contribute_kpis,
        "destroy": may_contribute_kpis,
        "rebaseline": may_rebaseline,
        "measurements_create": may_feed,
        "measurements_import": may_feed,
        "check": may_feed_checks,
    }
    object_rules = {
        "partial_update": may_edit_kpis,
        "destroy": may_edit_kpis,
        "measurements_create": may_record,
        "measurements_import": may_record,
        "check": may_check,
    }
    create_service = services.kpi_create
    update_service = services.kpi_update
    destroy_service = services.kpi_delete

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        queryset = KPI.objects.filter(initiative__in=visible).select_related(
            "initiative__service", "initiative__practice"
        )
        if self.action in ("list", "retrieve"):
            queryset = queryset.prefetch_related(selectors.latest_checks_prefetch())
        return queryset.order_by("initiative_id", "name", "id")

    # a KPI's verdict and its latest check are two queries: read them at one moment
    def list(self, request, *args, **kwargs):
        with selectors.one_snapshot():
            return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        with selectors.one_snapshot():
            return super().retrieve(request, *args, **kwargs)

    def written(self, kpi: KPI) -> dict:
        # read again, with its latest check, as a read would show it
        queryset = self.get_queryset().prefetch_related(selectors.latest_checks_prefetch())
        return super().written(queryset.get(pk=kpi.pk))

    revisions = nested_list(
        "revisions",
        s.KPIRevisionSerializer,
        KPIRevision.objects.select_related("by").order_by("at", "id"),
        of="kpi",
        summary="The KPI's revisions, oldest first",
        tag="kpis",
    )

    @extend_schema(
        summary="Re-baseline the KPI (CSI managers)",
        description="Changes the KPI's definition even when it is `locked` (the initiative "
        "has left step 3), with a `reason` kept in its revision (400 without one). Any "
        "definition field may be given; `target_change_pct` stands in for `target_value`. "
        "Checks made before stay as they were; the KPI is checked again after the commit.",
        tags=["kpis"],
        request=s.KPIRebaselineSerializer,
        responses={200: s.KPISerializer},
        examples=[
            OpenApiExample(
                "A new target",
                request_only=True,
                value={
                    "reason": "The vendor's SLA changed on 1 December; agreed at the CAB.",
                    "target_value": 6.5,
                    "target_date": "2027-03-31",
                },
            )
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def rebaseline(self, request, pk=None):
        kpi = self.get_object()
        serializer = self.validated(s.KPIRebaselineSerializer, kpi, partial=True)
        kpi = services.kpi_rebaseline(kpi=kpi, actor=request.user, **serializer.service_data())
        return Response(self.written(kpi))

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

    checks = nested_list(
        "checks",
        s.KPICheckSerializer,
        KPICheck.objects.order_by(*selectors.LATEST_CHECK_ORDER),
        of="kpi",
        summary="The KPI's check history, newest first",
        tag="checks",
    )

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


class MeasurementViewSet(MeasurementCorrections, CIRViewSet):
    """Bulk measurements across KPIs, addressed by key; one measurement corrected or
    deleted."""

    serializer_class = s.MeasurementRowSerializer
    role_rules = {"create": may_feed, "partial_update": may_feed, "destroy": may_feed}
    object_rules = {"partial_update": may_correct, "destroy": may_correct}

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
