"""Template tags of the people loop: a comment's text as HTML (escaped, http(s) links made
clickable, @mentions marked), the comment thread of an initiative and its hygiene panel
(days in step, stale, duplicates), each read in a fixed number of queries."""

from __future__ import annotations

import re

from django import template
from django.db.models import Prefetch
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .. import permissions
from ..models import Comment, Initiative
from ..services import comments as comment_services
from ..services.comments import MENTION
from ..web.forms_people import CloseAsDuplicateForm, CommentForm

register = template.Library()

#: an http(s) URL up to the next space or quote; trailing punctuation is not part of it
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_TOKEN = re.compile(f"({_URL.pattern})|{MENTION.pattern}", re.IGNORECASE)


def render_comment(body: str, mentioned: set[str]) -> SafeString:
    """`body` as HTML: every character escaped, http(s) URLs as links (rel noopener,
    nofollow, ugc), @username as a mention when `username` is among `mentioned`."""
    out, last = [], 0
    for match in _TOKEN.finditer(body or ""):
        start, end = match.span()
        url, name = match.group(1), match.group(2)
        if url:
            trimmed = url.rstrip(_TRAILING)
            end = start + len(trimmed)
            out.append(escape(body[last:start]))
            out.append(
                format_html(
                    '<a href="{}" rel="nofollow noopener ugc" target="_blank">{}</a>',
                    trimmed,
                    trimmed,
                )
            )
        elif name in mentioned:
            out.append(escape(body[last:start]))
            out.append(format_html('<span class="mention">@{}</span>', name))
        else:
            continue
        last = end
    out.append(escape((body or "")[last:]))
    return mark_safe("".join(str(part) for part in out))  # noqa: S308 - every part escaped


@register.filter
def comment_html(comment: Comment) -> SafeString:
    """A comment's body as HTML, its resolved mentions marked."""
    mentioned = {u.get_username() for u in comment.mentions.all()}
    return render_comment(comment.body, mentioned)


@register.simple_tag
def comment_thread(initiative: Initiative, user) -> dict:
    """The comments of `initiative`, oldest first, with what `user` may do with each: two
    queries (the comments with their authors, and their mentions)."""
    comments = list(
        Comment.objects.filter(initiative=initiative)
        .select_related("author", "deleted_by")
        .prefetch_related(Prefetch("mentions"))
        .order_by("created_at", "id")
    )
    for c in comments:
        c.may_edit = comment_services.may_edit_comment(user, c)
        c.may_delete = comment_services.may_delete_comment(user, c)
    return {
        "comments": comments,
        "count": sum(1 for c in comments if not c.is_deleted),
        "may_comment": comment_services.may_comment(user),
        "form": CommentForm(auto_id="id_comment_%s"),
    }


@register.simple_tag
def hygiene_panel(initiative: Initiative, user) -> dict:
    """Days in step, staleness and the duplicate links of `initiative`; the close-as-
    duplicate form for a CSI manager while it is open. Two queries at most."""
    duplicate_of = (
        Initiative.objects.only("reference", "title", "step").get(pk=initiative.duplicate_of_id)
        if initiative.duplicate_of_id
        else None
    )
    duplicates = list(
        Initiative.objects.filter(duplicate_of=initiative)
        .only("reference", "title", "step")
        .order_by("reference")
    )
    may_close = permissions.may_manage(user) and not initiative.is_final
    return {
        "duplicate_of": duplicate_of,
        "duplicates": duplicates,
        "form": CloseAsDuplicateForm(auto_id="id_duplicate_%s") if may_close else None,
    }
