"""The benefits of initiatives (SPEC §10): `/api/v1/benefits/` lists, adds, changes and
removes expected benefits (filter `initiative=<id>`); `POST /api/v1/benefits/{id}/
realisations/` records what one realised, at the review or at or after closing."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import selectors, services
from ...models import Benefit, BenefitRealisation
from .. import serializers as s
from ..permissions import may_contribute
from ..schema import operations
from .base import FilterBackend, ServiceViewSet


class BenefitFilterSet(django_filters.FilterSet):
    """Benefits by initiative and category."""

    initiative = django_filters.NumberFilter(field_name="initiative_id")
    category = django_filters.CharFilter()

    class Meta:
        model = Benefit
        fields = []


@operations(
    "benefits",
    list="List the benefits (filter by initiative)",
    retrieve="Read a benefit with its realisations",
    create={
        "summary": "Add an expected benefit to an initiative",
        "description": "Whoever may edit the initiative. `kpi` must be a KPI of the same "
        "initiative; the unit is normalised (ISO 4217 currency codes upper-case, other units "
        "lower-case).",
    },
    partial_update={
        "summary": "Change an expected benefit",
        "description": "Its unit is fixed once a realised amount was recorded (409).",
    },
    destroy={
        "summary": "Remove an expected benefit",
        "description": "Refused with 409 once a realised amount was recorded against it.",
    },
)
class BenefitViewSet(ServiceViewSet):
    """The expected benefits of initiatives, each with what it realised."""

    serializer_class = s.BenefitSerializer
    queryset = Benefit.objects.none()
    filter_backends = [FilterBackend]
    filterset_class = BenefitFilterSet
    role_rules = dict.fromkeys(
        ("create", "partial_update", "destroy", "realisations"), may_contribute
    )
    create_service = services.benefit_create
    update_service = services.benefit_update
    destroy_service = services.benefit_delete

    def get_queryset(self):
        visible = selectors.initiatives_visible_to(self.request.user)
        return (
            Benefit.objects.filter(initiative__in=visible)
            .select_related("created_by", "initiative__service", "initiative__practice")
            .prefetch_related(
                Prefetch(
                    "realisations",
                    queryset=BenefitRealisation.objects.select_related("recorded_by"),
                )
            )
            .order_by("initiative_id", "id")
        )

    @extend_schema(
        summary="Record what a benefit realised",
        description="The realised amount to date, in the benefit's unit: it replaces an "
        "earlier figure (realisations never add up). Allowed at the review (step 6), while "
        "sustaining (step 7) and once closed, for the initiative's editors and CSI managers; "
        "409 in another step.",
        request=s.BenefitRealiseSerializer,
        responses={201: s.BenefitSerializer},
        tags=["benefits"],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def realisations(self, request, pk=None):
        benefit = self.get_object()
        data = self.validated(s.BenefitRealiseSerializer).validated_data
        services.benefit_realise(actor=request.user, benefit=benefit, **data)
        return Response(
            self.written(self.get_queryset().get(pk=benefit.pk)), status=status.HTTP_201_CREATED
        )
