"""ITSM records (import, push, list) and opportunities (ranked groups, promote)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from ... import opportunities as opp
from ...models import KPI, ITSMRecord
from ...services import derived, itsm
from .. import serializers as s
from ..permissions import may_import_itsm, may_promote
from ..schema import CIRAutoSchema, operations
from ..serializers.itsm import (
    ImportRequestSerializer,
    ImportResultSerializer,
    ITSMRecordSerializer,
    OpportunityListSerializer,
    OpportunityQuerySerializer,
    PromoteSerializer,
    PushedRecordSerializer,
)
from .base import CIRViewSet


@operations("itsm-records", list="List ITSM records")
class ITSMRecordViewSet(CIRViewSet):
    """Records read from ITSM tools: imported from CSV exports or pushed as JSON."""

    serializer_class = ITSMRecordSerializer
    queryset = ITSMRecord.objects.none()
    role_rules = {"create": may_import_itsm, "import_csv": may_import_itsm}

    def get_queryset(self):
        queryset = ITSMRecord.objects.order_by("system", "kind", "number", "id")
        params = self.request.query_params
        for name in ("system", "kind"):
            if params.get(name):
                queryset = queryset.filter(**{name: params[name]})
        if params.get("number"):
            queryset = queryset.filter(number__iexact=params["number"])
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("system", OpenApiTypes.STR, description="Only this system."),
            OpenApiParameter("kind", OpenApiTypes.STR, description="incident, problem, change."),
            OpenApiParameter("number", OpenApiTypes.STR, description="This number (any case)."),
        ]
    )
    def list(self, request):
        return self.paginated(self.get_queryset(), ITSMRecordSerializer)

    @extend_schema(
        summary="Push ITSM records (upsert by number)",
        description="A list of up to 10 000 records, each with `system`, `kind` and "
        "`number`, dates in ISO 8601 (a date without a zone is in the server's TIME_ZONE); "
        "a record already stored (same system, kind and number in any case) is updated, "
        "unless the stored one has a later `updated_at`. All or nothing: any bad record and "
        'nothing is written (`errors.rows["3"]`). Derived KPIs are measured again.',
        tags=["itsm-records"],
        request=PushedRecordSerializer(many=True),
        responses={200: ImportResultSerializer},
        examples=[
            OpenApiExample(
                "One incident",
                request_only=True,
                value=[
                    {
                        "system": "servicenow",
                        "kind": "incident",
                        "number": "INC0010001",
                        "opened_at": "2026-11-20T09:00:00Z",
                        "resolved_at": "2026-11-20T13:30:00Z",
                        "category": "Network",
                        "subcategory": "VPN",
                        "assignment_group": "Network Operations",
                        "reopen_count": 0,
                        "sla_met": True,
                    }
                ],
            )
        ],
    )
    def create(self, request):
        if not isinstance(request.data, list):
            raise ValidationError({"non_field_errors": ["Send a list of records."]})
        result = itsm.itsm_records_push(actor=request.user, items=request.data)
        return Response(result.as_dict())

    @extend_schema(
        summary="Import ITSM records from a CSV export",
        description="Multipart: `file` (UTF-8 CSV), `system`, `kind`, and optionally "
        "`preset` (servicenow, jsm; by default the system's own), `mapping` (JSON {our field: "
        "their column}), `date_format` (dmy, mdy, ymd or a strptime format; detected by "
        "default), `time_zone`, `dry_run`. Several rows of one record (an audit export): "
        "the latest by `sys_updated_at`, then `sys_mod_count`, wins; `?` and empty are "
        "unknown. Rows that cannot be read are rejected with their row number and reason; "
        "a file or options that cannot be read are a 400 and nothing is written.",
        tags=["itsm-records"],
        request={"multipart/form-data": ImportRequestSerializer},
        responses={200: ImportResultSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        filter_backends=[],
    )
    def import_csv(self, request):
        serializer = self.validated(ImportRequestSerializer)
        data = serializer.validated_data
        upload = data["file"]
        result = itsm.itsm_records_import(
            actor=request.user,
            content=upload.read(),
            system=data["system"],
            kind=data["kind"],
            preset=data.get("preset") or None,
            mapping=data.get("mapping"),
            date_format=data.get("date_format") or None,
            time_zone=data.get("time_zone") or None,
            dry_run=data.get("dry_run", False),
        )
        return Response(result.as_dict())


def _period_of(query: dict) -> opp.Period:
    return opp.period_from(query.get("from"), query.get("to"), today=timezone.localdate())


def _period_json(period: opp.Period) -> dict:
    return {"from": period.start.isoformat(), "to": period.last_day.isoformat()}


class OneAnswerSchema(CIRAutoSchema):
    """The opportunities' GET answers one object (the period and its ranked groups), not
    a list of them."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class OpportunityViewSet(CIRViewSet):
    """Where service is being lost: groups of ITSM records ranked, and promoted."""

    serializer_class = OpportunityListSerializer
    queryset = ITSMRecord.objects.none()
    pagination_class = None  # a period's groups are few: one answer, ranked
    schema = OneAnswerSchema()
    role_rules = {"promote": may_promote}

    @extend_schema(
        summary="Rank the groups of ITSM records of a period",
        description="The records opened in the period (`from`–`to`, by default the last 90 "
        "days) grouped by `dimension`, each with its figures, the previous period's (as "
        "long, just before), the trend, the score and a sentence explaining its rank, best "
        "opportunity first. `covered_by` lists the open initiatives already covering a "
        "group. See docs/opportunities.md for the definitions and the score.",
        tags=["opportunities"],
        parameters=[OpportunityQuerySerializer],
        responses={200: OpportunityListSerializer},
    )
    def list(self, request):
        query = OpportunityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        period = _period_of(data)
        results = opp.opportunities(
            dimension=data["dimension"],
            period=period,
            kind=data["kind"],
            system=(data.get("system") or "").lower(),
        )
        return Response(
            {
                "dimension": data["dimension"],
                "kind": data["kind"],
                "system": data.get("system") or "",
                "period": _period_json(period),
                "previous_period": _period_json(period.previous()),
                "results": results,
            }
        )

    @extend_schema(
        summary="Promote a group to a proposed initiative with a derived KPI (CSI managers)",
        description="Creates a proposed initiative (source incident, problem or change; "
        "the group and period in its description; linked to the group's records of the "
        "period) with a KPI derived from the records: `metric` over the group, its baseline "
        "value computed from the period's records and dated the period's last day, its "
        "measurements computed from every record that arrives (per `bucket`, day or week). "
        "Its measurements cannot be posted by hand (409).",
        tags=["opportunities"],
        request=PromoteSerializer,
        responses={
            201: inline_serializer(
                name="Promoted",
                fields={
                    "initiative": s.InitiativeSerializer(),
                    "kpi": s.KPISerializer(),
                },
            )
        },
        examples=[
            OpenApiExample(
                "The VPN incidents",
                request_only=True,
                value={
                    "dimension": "subcategory",
                    "group": "VPN",
                    "metric": "median_resolution_hours",
                    "from": "2026-09-01",
                    "to": "2026-11-29",
                    "target_change_pct": -30,
                },
            )
        ],
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def promote(self, request):
        data = self.validated(PromoteSerializer).validated_data
        initiative = derived.opportunity_promote(
            actor=request.user,
            dimension=data["dimension"],
            group=data["group"],
            period=_period_of(data),
            metric=data["metric"],
            kind=data["kind"],
            system=(data.get("system") or "").lower(),
            bucket=data.get("bucket") or "",
            title=data.get("title") or "",
            target_change_pct=data.get("target_change_pct"),
            target_date=data.get("target_date"),
        )
        kpi = KPI.objects.select_related("initiative").get(initiative=initiative)
        context = self.get_serializer_context()
        return Response(
            {
                "initiative": s.InitiativeSerializer(initiative, context=context).data,
                "kpi": s.KPISerializer(kpi, context=context).data,
            },
            status=status.HTTP_201_CREATED,
        )


__all__ = ["ITSMRecordViewSet", "OpportunityViewSet"]
