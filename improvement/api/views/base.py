"""The base of the API's viewsets: authenticated, role-checked, JSON, and writes that call
the services.

A resource viewset is a declaration: its queryset, serializer, filters, role and object
rules, and the service functions its create, partial update and destroy call. The bodies
live here once; custom actions carry their own `extend_schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..parsers import CIRJSONParser
from ..permissions import RegisterPermission
from ..schema import CIRAutoSchema


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


class CIRViewSet(viewsets.GenericViewSet):
    """Base of the API's viewsets: authenticated and role-checked."""

    permission_classes = [RegisterPermission]
    parser_classes = [CIRJSONParser]  # the API speaks JSON (SPEC §4)
    schema = CIRAutoSchema()
    role_rules: dict = {}
    object_rules: dict = {}

    def paginated(self, queryset, serializer_class):
        """A page of `queryset` (limit/offset or the action's paginator) as a response."""
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def validated(self, serializer_class, instance=None, **kwargs):
        """`serializer_class` over the request's body, validated (400 if it is not)."""
        serializer = serializer_class(
            instance, data=self.request.data, context=self.get_serializer_context(), **kwargs
        )
        serializer.is_valid(raise_exception=True)
        return serializer


Service = Callable[..., Any]


def nested_list(name: str, serializer_class, queryset, *, of: str, summary: str, tag: str):
    """A GET action `name` on one object: a page of `queryset`, the rows whose field `of`
    is that object."""

    def handler(self, request, pk=None):
        return self.paginated(queryset.filter(**{of: self.get_object()}), serializer_class)

    handler.__name__ = name
    # outermost, as a decorator would be: @action sets the kwargs @extend_schema extends
    handler = action(detail=True, methods=["get"], filter_backends=[])(handler)
    schema = extend_schema(summary=summary, tags=[tag], responses=serializer_class(many=True))
    return schema(handler)


class ServiceWrites:
    """What the service-backed writes share: the acting user and the instance are passed
    by keyword, the instance under its model's name (`goal=`, `kpi=`, `initiative=`)."""

    def instance_argument(self, instance) -> dict:
        return {instance._meta.model_name: instance}

    def written(self, instance) -> dict:
        """The representation a write answers with."""
        return self.get_serializer(instance).data


class ServiceCreateMixin(ServiceWrites):
    """POST on the list: `create_service(actor=, **input)` → 201 with what it created."""

    create_service: ClassVar[Service]
    #: the create service answers (instance, created): an existing instance is answered
    #: with 200 and nothing is created (an idempotent create)
    create_finds_existing: ClassVar[bool] = False

    # no docstring on the handlers: the schema describes an operation by its viewset's
    def create(self, request, *args, **kwargs):
        serializer = self.validated(self.get_serializer_class())
        result = type(self).create_service(actor=request.user, **serializer.service_data())
        instance, created = result if self.create_finds_existing else (result, True)
        return Response(
            self.written(instance),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ServiceUpdateMixin(ServiceWrites):
    """PATCH on an instance: `update_service(<model>=, actor=, **input)` → 200."""

    update_service: ClassVar[Service]

    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.validated(self.get_serializer_class(), instance, partial=True)
        updated = type(self).update_service(
            **self.instance_argument(instance), actor=request.user, **serializer.service_data()
        )
        return Response(self.written(updated))


class ServiceDestroyMixin(ServiceWrites):
    """DELETE on an instance: `destroy_service(<model>=, actor=)` → 204."""

    destroy_service: ClassVar[Service]

    def destroy(self, request, *args, **kwargs):
        type(self).destroy_service(**self.instance_argument(self.get_object()), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceViewSet(
    ServiceCreateMixin,
    ServiceUpdateMixin,
    ServiceDestroyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    CIRViewSet,
):
    """A resource read by list and retrieve, written through its three declared services."""
