"""DRF permission glue: the API asks improvement/permissions.py, and nothing else.

Each viewset declares, per action, a role rule (who may call it at all: answered before
the input is read, so a wrong role is a 403 whatever it sends) and an object rule (may
this user do it to this initiative/KPI). Reads need a CIR role (`may_view`). The services
check again: the API only answers earlier and in the same words.

Every rule carries what its refusal says: the role or RACI position that may (SPEC §5),
never a bare "not allowed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import permissions as drf_permissions

from .. import permissions
from ..permissions import EDITORS, NEED_CONTRIBUTOR, NEED_EDIT, NEED_FEED, NEED_VIEW


@dataclass(frozen=True)
class Rule:
    """A rule of improvement/permissions.py and the words of its refusal."""

    check: Callable[..., bool]
    #: who may: the role or RACI position a refused caller needs
    message: str

    def __call__(self, *args) -> bool:
        return bool(self.check(*args))


def _edits(user, obj) -> bool:
    """permissions.may_edit for an initiative, or for the initiative of a KPI/action."""
    return permissions.may_edit(user, getattr(obj, "initiative", obj))


def csi_only(message: str) -> Rule:
    """A CSI manager's action, refused in `message`'s words."""
    return Rule(permissions.may_manage, message)


# the rules the viewsets declare; the checks themselves live in improvement/permissions.py
may_propose = Rule(permissions.may_propose, NEED_CONTRIBUTOR)
may_contribute = Rule(permissions.may_contribute, NEED_EDIT)
may_edit = Rule(_edits, NEED_EDIT)
may_feed = Rule(permissions.may_feed, NEED_FEED)
may_record = Rule(permissions.may_record_measurements, NEED_FEED)

MOVERS = (
    f"Only {EDITORS} may move this initiative; accepting, rejecting, cancelling and closing "
    "are for CSI managers."
)
may_contribute_moves = Rule(permissions.may_contribute, MOVERS)
may_move = Rule(_edits, MOVERS)

KPI_EDITORS = f"Only {EDITORS} may define, change or delete the KPIs of an initiative."
may_contribute_kpis = Rule(permissions.may_contribute, KPI_EDITORS)
may_edit_kpis = Rule(_edits, KPI_EDITORS)

CHECKERS = f"Only {EDITORS}, an ITSM integration or a CSI manager may check this KPI."
may_feed_checks = Rule(permissions.may_feed, CHECKERS)
may_check = Rule(permissions.may_record_measurements, CHECKERS)

may_delete_initiatives = csi_only(
    "Only a CSI manager may delete initiatives, and only while proposed or rejected."
)
may_manage_goals = csi_only("Only a CSI manager may add, change or delete organisational goals.")
may_manage_webhooks = csi_only("Only a CSI manager may read or manage webhooks.")
may_rebaseline = csi_only("Only a CSI manager may re-baseline a KPI after step 3.")

#: what DRF answers when no rule gave its words (a plain callable declared as a rule)
DEFAULT_MESSAGE = "Your role or RACI position does not allow this."


class RegisterPermission(drf_permissions.BasePermission):
    """Authenticated (401), holding a CIR role (403), and the view's rules for the action.

    The view declares `role_rules` and `object_rules`: {action name: rule}. Actions not
    listed need only `may_view`. A refusal answers the rule's message.
    """

    message = DEFAULT_MESSAGE

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not permissions.may_view(user):
            self.message = NEED_VIEW
            return False
        rule = getattr(view, "role_rules", {}).get(getattr(view, "action", None))
        return self._allows(rule, user)

    def has_object_permission(self, request, view, obj) -> bool:
        rule = getattr(view, "object_rules", {}).get(getattr(view, "action", None))
        return self._allows(rule, request.user, obj)

    def _allows(self, rule, *args) -> bool:
        if rule is None or rule(*args):
            return True
        self.message = getattr(rule, "message", DEFAULT_MESSAGE)
        return False


# ITSM records and opportunities (SPEC §9)
may_import_itsm = Rule(
    permissions.may_import_itsm,
    "Only a CSI manager or an ITSM integration may import or push ITSM records.",
)
may_promote = csi_only("Only a CSI manager may promote an opportunity to an initiative.")
