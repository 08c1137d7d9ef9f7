"""Context processors of the browser wing: the unread count of the page header."""

from __future__ import annotations

from django.utils.functional import cached_property

from .. import selectors


class UnreadCount:
    """The signed-in user's unread notifications, counted only when a page shows it (one
    COUNT on the partial index; htmx parts and the admin never ask)."""

    def __init__(self, user):
        self._user = user

    @cached_property
    def count(self) -> int:
        if not self._user.is_authenticated:
            return 0
        return selectors.unread_count(self._user)


def notifications(request) -> dict:
    return {"notifications_unread": UnreadCount(request.user)}
