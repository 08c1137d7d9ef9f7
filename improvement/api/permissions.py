"""DRF permission glue: the API asks improvement/permissions.py, and nothing else.

Each viewset declares, per action, a role rule (who may call it at all: answered before
the input is read, so a wrong role is a 403 whatever it sends) and an object rule (may
this user do it to this initiative/KPI). Reads need a CIR role (`may_view`). The services
check again: the API only answers earlier and in the same words.
"""

from __future__ import annotations

from collections.abc import Callable

from rest_framework import permissions as drf_permissions

from .. import permissions

RoleRule = Callable[[object], bool]
ObjectRule = Callable[[object, object], bool]

# the role gates the viewsets declare; the rules themselves live in permissions.py
may_contribute = permissions.may_contribute
may_feed = permissions.may_feed
may_record = permissions.may_record_measurements


def may_edit(user, obj) -> bool:
    """permissions.may_edit for an initiative, or for the initiative of a KPI/action."""
    return permissions.may_edit(user, getattr(obj, "initiative", obj))


class RegisterPermission(drf_permissions.BasePermission):
    """Authenticated (401), holding a CIR role (403), and the view's rules for the action.

    The view declares `role_rules` and `object_rules`: {action name: rule}. Actions not
    listed need only `may_view`.
    """

    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not permissions.may_view(user):
            self.message = "Your account holds no CIR role."
            return False
        rule = getattr(view, "role_rules", {}).get(getattr(view, "action", None))
        return rule is None or bool(rule(user))

    def has_object_permission(self, request, view, obj) -> bool:
        rule = getattr(view, "object_rules", {}).get(getattr(view, "action", None))
        return rule is None or bool(rule(request.user, obj))
