"""The discussion in the admin: every comment with its history (edits and deletes kept);
a CSI manager deletes comments through the service (soft: kept in the history)."""

from __future__ import annotations

from django.contrib import admin

from ..models import Comment
from ..services.comments import comment_delete
from .base import NoRevertHistoryAdmin, ReadOnlyMixin, for_each


@admin.register(Comment)
class CommentAdmin(ReadOnlyMixin, NoRevertHistoryAdmin):
    list_display = ("created_at", "initiative", "author", "excerpt", "edited_at", "deleted_at")
    list_select_related = ("initiative", "author")
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    search_fields = ("initiative__reference", "body", "author__username")
    date_hierarchy = "created_at"
    fields = (
        "initiative",
        "author",
        "body",
        "mentions",
        "created_at",
        "edited_at",
        "deleted_at",
        "deleted_by",
    )
    readonly_fields = fields
    actions = ["delete_comments"]

    @admin.display(description="comment")
    def excerpt(self, obj: Comment) -> str:
        return "(deleted)" if obj.is_deleted else obj.body[:80]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a hard delete would lose the thread
        return actions

    @admin.action(description="Delete the selected comments (kept in the history)")
    def delete_comments(self, request, queryset):
        for_each(
            request,
            queryset.filter(deleted_at__isnull=True),
            lambda comment: comment_delete(comment=comment, actor=request.user),
            done=lambda rows: f"Deleted {len(rows)} comment(s).",
            failed=lambda obj, exc: f"{obj}: {exc.message}",
        )
