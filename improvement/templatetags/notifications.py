"""Template tags of notifications: the watchers panel and the header's unread count."""

from django import template

from .. import selectors

register = template.Library()


@register.simple_tag
def watchers_panel(initiative, user) -> dict:
    """The initiative's watchers and the user's place among them, for _watchers.html."""
    watchers = selectors.watchers_of(initiative)
    mine = next((w for w in watchers if w["user"].pk == user.pk), None)
    return {
        "watchers": watchers,
        "following": bool(mine and mine["following"]),
        "informed": bool(mine and mine["informed"]),
    }
