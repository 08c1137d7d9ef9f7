"""The API token, and the users the API refers to by username."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from cir.lockout import LOCKED_MESSAGE, retry_after_seconds

from ... import permissions
from ...exceptions import InvalidInput
from ...filtersets import UserFilterSet
from .. import serializers as s
from ..errors import ErrorSerializer
from ..parsers import CIRJSONParser
from ..schema import CIRAutoSchema, operations
from .base import CIRViewSet, FilterBackend

User = get_user_model()


class TokenView(APIView):
    """Exchange a username and password for the user's API token."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [CIRJSONParser]
    schema = CIRAutoSchema()

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        request=s.TokenRequestSerializer,
        responses={200: s.TokenSerializer, 429: ErrorSerializer},
        auth=[],
        summary="Get an API token",
        description="Send a username and password; answers the user's token (the same one "
        "every time, until an administrator deletes it in the admin). After repeated wrong "
        "passwords the username is locked for a while: 429 with Retry-After.",
    )
    def post(self, request):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Django's request: the sign-in lockout (cir/lockout.py) keeps its state on it
        django_request = request._request
        user = authenticate(
            request=django_request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(django_request, "axes_locked_out", False):
            raise exceptions.Throttled(
                wait=retry_after_seconds(django_request), detail=LOCKED_MESSAGE
            )
        if user is None or not user.is_active:
            message = "Unable to log in with the given username and password."
            raise InvalidInput(message, errors={"non_field_errors": [message]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


@operations("users", list="List users", retrieve="Read a user")
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
