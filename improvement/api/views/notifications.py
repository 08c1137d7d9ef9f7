"""The signed-in user's notifications and preferences, and watching an initiative."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import selectors
from ...services import notifications, watchers
from ..parsers import CIRJSONParser
from ..permissions import RegisterPermission
from ..schema import CIRAutoSchema, operations
from ..serializers.notifications import (
    MarkedSerializer,
    MarkReadSerializer,
    NotificationSerializer,
    PreferencesSerializer,
    WatchSerializer,
)
from .base import CIRViewSet

UNREAD = OpenApiParameter(
    "unread", OpenApiTypes.BOOL, description="true: only the unread; false: only the read."
)


@operations(
    "notifications",
    list={"summary": "List my notifications", "parameters": [UNREAD]},
)
class NotificationViewSet(mixins.ListModelMixin, CIRViewSet):
    """The signed-in user's notifications, newest first (limit/offset pages)."""

    serializer_class = NotificationSerializer
    filter_backends: list = []

    def get_queryset(self):
        qs = selectors.notifications_of(self.request.user)
        unread = self.request.query_params.get("unread")
        if unread in (None, ""):
            return qs
        if unread.lower() not in ("true", "false", "1", "0"):
            raise ValidationError({"unread": ["Give true or false."]})
        return qs.filter(read_at__isnull=unread.lower() in ("true", "1"))

    @extend_schema(
        tags=["notifications"],
        summary="Mark my notifications read",
        description='Send `{"ids": [1, 2]}` to mark those read, or `{"all": true}` for all '
        "of them. Ids that are not yours, or already read, are ignored.",
        request=MarkReadSerializer,
        responses={200: MarkedSerializer},
    )
    def create(self, request):
        serializer = self.validated(MarkReadSerializer)
        data = serializer.validated_data
        marked = notifications.notifications_mark_read(
            actor=request.user, ids=None if data.get("all") else data["ids"]
        )
        return Response({"marked": marked, "unread": selectors.unread_count(request.user)})


class PreferencesView(APIView):
    """GET, PUT and PATCH the signed-in user's delivery per kind of notification."""

    permission_classes = [RegisterPermission]
    parser_classes = [CIRJSONParser]
    schema = CIRAutoSchema()

    def _answer(self, request):
        return Response(notifications.preferences_for(request.user))

    @extend_schema(
        operation_id="me_preferences_retrieve",
        tags=["notifications"],
        summary="Read my notification preferences",
        description="Every kind of notification and its delivery: `in_app` (the inbox "
        "only), `email` (the inbox and an email at once), `digest` (the inbox and the daily "
        "digest email) or `off`.",
        responses={200: PreferencesSerializer},
    )
    def get(self, request):
        return self._answer(request)

    def _write(self, request, *, partial: bool):
        serializer = PreferencesSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            missing = sorted(set(serializer.fields) - set(data))
            if missing:
                raise ValidationError({k: ["This field is required."] for k in missing})
        notifications.notification_preferences_set(actor=request.user, preferences=data)
        return self._answer(request)

    @extend_schema(
        operation_id="me_preferences_update",
        tags=["notifications"],
        summary="Replace my notification preferences",
        description="Every kind must be given.",
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer},
    )
    def put(self, request):
        return self._write(request, partial=False)

    @extend_schema(
        operation_id="me_preferences_partial_update",
        tags=["notifications"],
        summary="Change some of my notification preferences",
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer},
    )
    def patch(self, request):
        return self._write(request, partial=True)


class WatchView(APIView):
    """Watch an initiative: GET who watches it, POST to follow, DELETE to stop."""

    permission_classes = [RegisterPermission]
    parser_classes = [CIRJSONParser]
    schema = CIRAutoSchema()

    def _initiative(self, request, pk):
        return get_object_or_404(selectors.initiatives_visible_to(request.user), pk=pk)

    def _answer(self, request, initiative, status=200):
        people = selectors.watchers_of(initiative)
        mine = next((w for w in people if w["user"].pk == request.user.pk), None)
        data = {
            "watching": mine is not None,
            "informed": bool(mine and mine["informed"]),
            "watchers": people,
        }
        return Response(WatchSerializer(data).data, status=status)

    @extend_schema(
        operation_id="initiatives_watch_retrieve",
        tags=["initiatives"],
        summary="Who watches an initiative",
        description="The Informed are watchers by role; the others follow it.",
        responses={200: WatchSerializer},
    )
    def get(self, request, pk: int):
        return self._answer(request, self._initiative(request, pk))

    @extend_schema(
        operation_id="initiatives_watch_create",
        tags=["initiatives"],
        summary="Watch an initiative",
        description="Follow it: you are told of its moves, KPI verdicts and comments. "
        "Idempotent: 201 when you start following, 200 when you already did.",
        request=None,
        responses={200: WatchSerializer, 201: WatchSerializer},
    )
    def post(self, request, pk: int):
        initiative = self._initiative(request, pk)
        created = watchers.initiative_watch(actor=request.user, initiative=initiative)
        return self._answer(request, initiative, status=201 if created else 200)

    @extend_schema(
        operation_id="initiatives_watch_destroy",
        tags=["initiatives"],
        summary="Stop watching an initiative",
        description="409 for the Informed: they watch it while they are Informed.",
        request=None,
        responses={200: WatchSerializer},
    )
    def delete(self, request, pk: int):
        initiative = self._initiative(request, pk)
        watchers.initiative_unwatch(actor=request.user, initiative=initiative)
        return self._answer(request, initiative)
