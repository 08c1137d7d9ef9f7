"""Spreadsheets over the API: importing a register (multipart CSV/XLSX, dry run, commit),
a KPI's measurements from a CSV, and correcting or deleting one measurement.

Mixed into the viewsets of their resources (initiatives, KPIs, measurements): the actions
parse the upload and call the services (services/imports.py, services/measurements.py).
"""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from ... import permissions, selectors, services, sheets
from ...exceptions import InvalidInput
from ...models import ImportMapping, Measurement
from ...services.imports import NEED_CSI_IMPORT
from .. import serializers as s
from ..fields import FiniteFloatField, StrictCharField
from ..permissions import Rule, csi_only

may_import_register = csi_only(NEED_CSI_IMPORT)
may_correct = Rule(
    lambda user, measurement: permissions.may_record_measurements(user, measurement.kpi),
    permissions.NEED_FEED,
)


class RegisterImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The register as CSV or XLSX (first sheet).")
    mapping = serializers.CharField(
        required=False,
        help_text='JSON {our field: your column}, e.g. {"title": "Summary", "accountable": '
        '"Owner"}; without it, the saved mapping `mapping_name`, else a guess from the headers.',
    )
    mapping_name = serializers.CharField(required=False, help_text="A saved mapping to use.")
    save_mapping_as = serializers.CharField(
        required=False, help_text="Save the mapping used under this name."
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Report what would happen; write nothing."
    )


_ROWS = inline_serializer(
    name="ImportRow",
    many=True,
    fields={
        "row": serializers.IntegerField(help_text="The row's number in the file."),
        "outcome": serializers.CharField(help_text="create, update, unchanged or error."),
        "reference": serializers.CharField(),
        "title": serializers.CharField(),
        "changes": serializers.ListField(child=serializers.CharField()),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)
ImportReportSerializer = inline_serializer(
    name="ImportReport",
    fields={
        "dry_run": serializers.BooleanField(),
        "committed": serializers.BooleanField(),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "mapping": serializers.DictField(child=serializers.CharField()),
        "rows": _ROWS,
    },
)


def _upload(request, name: str = "file") -> tuple[bytes, str]:
    upload = request.FILES.get(name)
    if upload is None:
        raise InvalidInput("Upload a CSV or XLSX file.", errors={name: ["A file is required."]})
    if upload.size > sheets.MAX_BYTES:
        raise InvalidInput(
            "The file is too large.",
            errors={name: [f"At most {sheets.MAX_BYTES // (1024 * 1024)} MB."]},
        )
    return upload.read(), upload.name


def _mapping(data, sheet) -> dict | None:
    text = data.get("mapping")
    if text:
        try:
            mapping = json.loads(text)
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict):
            message = 'The mapping is a JSON object {"our field": "your column"}.'
            raise InvalidInput(message, errors={"mapping": [message]})
        return mapping
    name = data.get("mapping_name")
    if name:
        saved = ImportMapping.objects.filter(name=name).first()
        if saved is None:
            raise InvalidInput(
                f"No saved mapping '{name}'.", errors={"mapping_name": ["No such mapping."]}
            )
        return saved.mapping
    return None


class RegisterImportActions:
    """POST /api/v1/initiatives/import/ on the initiatives' viewset."""

    @extend_schema(
        summary="Import a register from CSV or XLSX (CSI managers)",
        description="Multipart: `file`, and optionally `mapping` (JSON {our field: your "
        "column}), `mapping_name` (a saved mapping), `save_mapping_as`, `dry_run`. Each "
        "row is matched by `reference`, else by `external_system` + `external_id`: it "
        "creates, updates or leaves unchanged one initiative (re-importing never "
        "duplicates). People are usernames or email addresses; a step is reached only "
        "through the workflow's moves, whose unmet conditions the row reports. A dry run "
        "answers the report and writes nothing; a commit is all or nothing: any row in "
        "error answers 400 with `errors.rows` ({row number: {field: [messages]}}) and the "
        "same `report`, and nothing is written. A file that is not CSV/XLSX, empty, "
        "without rows or too large is a 400 with `errors.file`.",
        tags=["initiatives"],
        request={"multipart/form-data": RegisterImportRequestSerializer},
        responses={200: ImportReportSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        filter_backends=[],
        pagination_class=None,
    )
    def import_register(self, request):
        serializer = RegisterImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, name = _upload(request)
        sheet = sheets.sheet_read(data, name)
        mapping = _mapping(request.data, sheet)
        dry_run = serializer.validated_data["dry_run"]
        report = services.register_import(
            actor=request.user, sheet=sheet, mapping=mapping, dry_run=dry_run
        )
        if save_as := serializer.validated_data.get("save_mapping_as"):
            services.import_mapping_save(actor=request.user, name=save_as, mapping=report.mapping)
        if not dry_run and not report.committed:
            counts = report.counts
            return Response(
                {
                    "code": "invalid",
                    "message": f"{counts['error']} row(s) have errors; nothing was imported.",
                    "errors": {"rows": report.row_errors},
                    "report": report.as_dict(),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(report.as_dict())


class PointsImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="A CSV or XLSX file.")
    text = serializers.CharField(required=False, help_text="Or the CSV text itself.")
    dry_run = serializers.BooleanField(required=False, default=False)


PointsReportSerializer = inline_serializer(
    name="PointsImportReport",
    fields={
        "dry_run": serializers.BooleanField(),
        "recorded": serializers.IntegerField(),
        "rows": serializers.ListField(child=serializers.DictField()),
    },
)


class KPISheetActions:
    """POST /api/v1/kpis/{id}/measurements/import/ on the KPIs' viewset."""

    @extend_schema(
        summary="Record the KPI's measurements from a CSV or XLSX",
        description="Multipart: `file` (or `text`, the CSV itself) with columns "
        "`measured_at`, `value` and optionally `note` (by header, or in that order without "
        "one; a time without a zone is in the site's time zone), and `dry_run`. Recorded "
        "through the same service as POST …/measurements/ (all or nothing); a row in error "
        "is a 400 with `errors.rows` by row number of the file.",
        tags=["measurements"],
        request={"multipart/form-data": PointsImportRequestSerializer},
        responses={200: PointsReportSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="measurements/import",
        parser_classes=[MultiPartParser, FormParser],
        filter_backends=[],
        pagination_class=None,
    )
    def measurements_import(self, request, pk=None):
        kpi = self.get_object()
        serializer = PointsImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "file" in request.FILES:
            sheet = sheets.sheet_read(*_upload(request))
        elif serializer.validated_data.get("text"):
            sheet = sheets.sheet_from_text(serializer.validated_data["text"])
        else:
            raise InvalidInput(
                "Send a file or the CSV text.", errors={"file": ["A file or text is required."]}
            )
        points = sheets.measurement_points(sheet)
        report = services.measurements_import(
            kpi=kpi,
            actor=request.user,
            points=points,
            dry_run=serializer.validated_data["dry_run"],
        )
        if not report.dry_run and report.error_count:
            return Response(
                {
                    "code": "invalid",
                    "message": f"{report.error_count} row(s) have errors; nothing was recorded.",
                    "errors": {"rows": report.row_errors},
                    "report": report.as_dict(),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(report.as_dict())


class MeasurementCorrectionSerializer(serializers.Serializer):
    value = FiniteFloatField(required=False)
    measured_at = serializers.DateTimeField(required=False)
    note = StrictCharField(required=False, allow_blank=True, max_length=500)
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=100, help_text="Kept in the history."
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise ValidationError({k: ["Unknown field."] for k in unknown})
        return super().to_internal_value(data)


class MeasurementCorrections:
    """PATCH and DELETE /api/v1/measurements/{id}/ on the measurements' viewset."""

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        return Measurement.objects.filter(kpi__initiative__in=visible).select_related(
            "kpi__initiative__service", "kpi__initiative__practice", "recorded_by"
        )

    @extend_schema(
        summary="Correct a measurement",
        description="`value`, `measured_at` and/or `note`, with an optional `reason`: those "
        "who may record the KPI's measurements. The change is kept in the measurement's "
        "history (before and after, who, when, why) and the KPI is checked again.",
        tags=["measurements"],
        request=MeasurementCorrectionSerializer,
        responses={200: s.MeasurementSerializer},
    )
    def partial_update(self, request, pk=None):
        # the body first: one over the size limit is a 413 whichever measurement it names
        serializer = MeasurementCorrectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        measurement = self.get_object()
        measurement = services.measurement_correct(
            measurement=measurement, actor=request.user, **serializer.validated_data
        )
        return Response(s.MeasurementSerializer(measurement).data)

    @extend_schema(
        summary="Delete a measurement",
        description="Those who may record the KPI's measurements; `reason` (query) is kept "
        "in the history with what it was. The KPI is checked again.",
        tags=["measurements"],
        parameters=[OpenApiParameter("reason", OpenApiTypes.STR, description="Why.")],
        responses={204: None},
    )
    def destroy(self, request, pk=None):
        measurement = self.get_object()
        services.measurement_delete(
            measurement=measurement,
            actor=request.user,
            reason=request.query_params.get("reason", ""),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
