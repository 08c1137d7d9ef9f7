"""The discussion on an initiative page: post, edit and delete comments.

htmx posts answer with the comment thread (templates/improvement/includes/_comments.html);
plain posts redirect to the page's thread (POST-redirect-GET), a refusal shown as a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views import View

from ..exceptions import CIRError, Forbidden
from ..models import Comment
from ..services import comments as services
from .access import CIRAccessMixin, initiative_url, load_for_write
from .forms_people import CommentForm

THREAD = "improvement/includes/_comments.html"


class _CommentView(CIRAccessMixin, View):
    http_method_names = ["post"]

    def post(self, request, reference, pk=None):
        self.initiative = load_for_write(request.user, reference)
        comment = None
        if pk is not None:
            try:
                comment = Comment.objects.select_related("initiative").get(
                    pk=pk, initiative=self.initiative
                )
            except Comment.DoesNotExist as exc:
                raise Http404("No such comment.") from exc
        form = CommentForm(request.POST, auto_id="id_comment_%s")
        try:
            self.write(comment, form)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except CIRError as exc:
            return self.answer(error=exc.message, status=422 if exc.code == "invalid" else 409)
        return self.answer()

    def write(self, comment, form) -> None:  # pragma: no cover - each view defines it
        raise NotImplementedError

    def body(self, form) -> str:
        """The posted text; an empty or over-long one is the service's to refuse."""
        return form.data.get("body", "")

    def answer(self, *, error: str = "", status: int = 200):
        if self.request.htmx:
            context = {"initiative": self.initiative, "comment_error": error}
            return render(self.request, THREAD, context, status=status)
        if error:
            messages.error(self.request, error)
        return HttpResponseRedirect(initiative_url(self.initiative, "comments"))


class CommentCreateView(_CommentView):
    """Post a comment."""

    def write(self, comment, form) -> None:
        services.comment_create(
            initiative=self.initiative, actor=self.request.user, body=self.body(form)
        )


class CommentUpdateView(_CommentView):
    """Edit one's own comment."""

    def write(self, comment, form) -> None:
        services.comment_update(comment=comment, actor=self.request.user, body=self.body(form))


class CommentDeleteView(_CommentView):
    """Delete a comment (its author, or a CSI manager)."""

    def write(self, comment, form) -> None:
        services.comment_delete(comment=comment, actor=self.request.user)
