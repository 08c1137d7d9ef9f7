"""REST API viewsets (SPEC §4): declarations whose writes call the services.

Permissions come from improvement/permissions.py through api/permissions.py (role rules
before the input is read, object rules on the initiative or KPI); querysets are scoped by
the selectors; every error is rendered by api/errors.py in the one shape. List endpoints
load their relations up front, so their query count does not grow with the page size.
One module per resource family; the shared base in views/base.py.
"""

from .accounts import TokenView, UserViewSet
from .benefits import BenefitViewSet
from .goals import GoalViewSet
from .initiatives import InitiativeViewSet
from .itsm import ITSMRecordViewSet, OpportunityViewSet
from .kpis import KPIViewSet, MeasurementViewSet
from .people import CommentViewSet, MyWorkView
from .records import ActionViewSet
from .webhooks import WebhookViewSet

__all__ = [
    "BenefitViewSet",
    "ActionViewSet",
    "CommentViewSet",
    "GoalViewSet",
    "InitiativeViewSet",
    "ITSMRecordViewSet",
    "KPIViewSet",
    "MeasurementViewSet",
    "MyWorkView",
    "OpportunityViewSet",
    "TokenView",
    "UserViewSet",
    "WebhookViewSet",
]
