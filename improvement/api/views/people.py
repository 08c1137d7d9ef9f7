"""The people loop in the API: My work, and the comments of an initiative."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import selectors, worklists
from ...models import Comment
from ...services import comments as comment_services
from ..parsers import CIRJSONParser
from ..permissions import RegisterPermission, Rule
from ..schema import CIRAutoSchema
from ..serializers import people as ps
from .base import CIRViewSet

may_comment = Rule(comment_services.may_comment, comment_services.NEED_COMMENT)


class MyWorkView(APIView):
    """GET /api/v1/me/work/: the signed-in user's My work."""

    permission_classes = [RegisterPermission]
    parser_classes = [CIRJSONParser]
    schema = CIRAutoSchema()

    @extend_schema(
        operation_id="me_work_retrieve",
        tags=["me"],
        summary="My work",
        description="What the home page shows you: your open initiatives by RACI role, your "
        "open actions (overdue first, then due within 7 days, then the others), reviews "
        "due on initiatives you are accountable or responsible for (step 6 without this "
        "iteration's review, or step 5 with a KPI target date or the due date reached), "
        "KPIs at risk, missed, regressed or reverted on your initiatives; for a CSI "
        "manager the triage queue (proposed, oldest first, with `age_days`) and the stale "
        "initiatives (no activity for CIR_STALE_DAYS days; null for others). Each list "
        "gives its first `limit` items and its `count`; `register_query` is the register "
        "filter (GET /api/v1/initiatives/?…) that lists them all.",
        responses=ps.MyWorkSerializer,
    )
    def get(self, request):
        work = worklists.my_work(request.user)
        return Response(ps.MyWorkSerializer(work).data)


class CommentViewSet(CIRViewSet):
    """The comments of one initiative: GET lists them (oldest first), POST adds one;
    PATCH edits your own, DELETE deletes your own (a CSI manager any)."""

    serializer_class = ps.CommentSerializer
    queryset = Comment.objects.none()  # for the schema; get_queryset scopes it
    role_rules = {"create": may_comment, "partial_update": may_comment, "destroy": may_comment}

    def initiative(self):
        if not hasattr(self, "_initiative"):
            self._initiative = get_object_or_404(
                selectors.initiatives_visible_to(self.request.user),
                pk=self.kwargs["initiative_pk"],
            )
        return self._initiative

    def get_queryset(self):
        return (
            Comment.objects.filter(initiative=self.initiative())
            .select_related("author", "deleted_by")
            .prefetch_related("mentions")
            .order_by("created_at", "id")
        )

    @extend_schema(
        tags=["comments"],
        summary="List the comments of an initiative",
        parameters=[OpenApiParameter("initiative_pk", int, OpenApiParameter.PATH)],
        responses=ps.CommentSerializer(many=True),
    )
    def list(self, request, initiative_pk=None):
        return self.paginated(self.get_queryset(), ps.CommentSerializer)

    @extend_schema(
        tags=["comments"],
        summary="Comment on an initiative",
        description="Plain text (at most 10 000 characters). `@username` mentions an "
        "active user who may see the initiative: they are listed in `mentions` and "
        "notified. Records a `comment.created` event.",
        parameters=[OpenApiParameter("initiative_pk", int, OpenApiParameter.PATH)],
        request=ps.CommentWriteSerializer,
        responses={201: ps.CommentSerializer},
        examples=[
            OpenApiExample(
                "With a mention",
                request_only=True,
                value={"body": "@tina the CAB approved it: https://example.org/cab/42"},
            )
        ],
    )
    def create(self, request, initiative_pk=None):
        body = self.validated(ps.CommentWriteSerializer).validated_data["body"]
        comment = comment_services.comment_create(
            initiative=self.initiative(), actor=request.user, body=body
        )
        return Response(self._one(comment.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["comments"],
        summary="Edit your comment",
        description="Its author only; the earlier text stays in the history.",
        parameters=[OpenApiParameter("initiative_pk", int, OpenApiParameter.PATH)],
        request=ps.CommentWriteSerializer,
        responses=ps.CommentSerializer,
    )
    def partial_update(self, request, initiative_pk=None, pk=None):
        body = self.validated(ps.CommentWriteSerializer).validated_data["body"]
        comment = self.get_object()
        comment_services.comment_update(comment=comment, actor=request.user, body=body)
        return Response(self._one(comment.pk))

    @extend_schema(
        tags=["comments"],
        summary="Delete a comment",
        description="Its author, or a CSI manager. It stays in the list as deleted (empty "
        "`body`, `deleted_at`, `deleted_by`); its text is kept in the history.",
        parameters=[OpenApiParameter("initiative_pk", int, OpenApiParameter.PATH)],
        responses={204: None},
    )
    def destroy(self, request, initiative_pk=None, pk=None):
        comment_services.comment_delete(comment=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _one(self, pk: int) -> dict:
        return ps.CommentSerializer(self.get_queryset().get(pk=pk)).data
