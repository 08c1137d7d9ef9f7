"""Serializers of the REST API: shapes and input types only, no business rules.

Input is checked strictly so that nothing a client sends reaches the services malformed
(api/fields.py): text must be text, numbers must be finite, unknown fields are refused.
Users are referred to by `username`, services and practices by `name`, goals by id. Rules
of the register (who may, what state, which side of the baseline) are the services'
business; they answer in the same error shape. One module per resource family.
"""

from .accounts import TokenRequestSerializer, TokenSerializer, UserSerializer
from .base import StrictModelSerializer
from .benefits import BenefitRealisationSerializer, BenefitRealiseSerializer, BenefitSerializer
from .goals import GoalSerializer
from .initiatives import (
    AllowedTransitionSerializer,
    InitiativeDetailSerializer,
    InitiativeLinksSerializer,
    InitiativeSerializer,
    TransitionLogSerializer,
    TransitionRequestSerializer,
    initiative_rows,
)
from .kpis import (
    KPICheckSerializer,
    KPIRebaselineSerializer,
    KPIRevisionSerializer,
    KPISerializer,
    MeasurementPointSerializer,
    MeasurementRowSerializer,
    MeasurementSerializer,
    RecordedSerializer,
)
from .records import (
    RECORD_SERIALIZERS,
    ActionSerializer,
    BaselineSerializer,
    PlanSerializer,
    ReviewSerializer,
    StepRecordSerializer,
    SustainSerializer,
    TargetSerializer,
    VisionSerializer,
)
from .webhooks import WebhookAttemptSerializer, WebhookDeliverySerializer, WebhookSerializer

__all__ = [
    "BenefitRealisationSerializer",
    "BenefitRealiseSerializer",
    "BenefitSerializer",
    "RECORD_SERIALIZERS",
    "ActionSerializer",
    "AllowedTransitionSerializer",
    "BaselineSerializer",
    "GoalSerializer",
    "InitiativeDetailSerializer",
    "InitiativeLinksSerializer",
    "InitiativeSerializer",
    "KPICheckSerializer",
    "KPIRebaselineSerializer",
    "KPIRevisionSerializer",
    "KPISerializer",
    "MeasurementPointSerializer",
    "MeasurementRowSerializer",
    "MeasurementSerializer",
    "PlanSerializer",
    "RecordedSerializer",
    "ReviewSerializer",
    "StepRecordSerializer",
    "StrictModelSerializer",
    "SustainSerializer",
    "TargetSerializer",
    "TokenRequestSerializer",
    "TokenSerializer",
    "TransitionLogSerializer",
    "TransitionRequestSerializer",
    "UserSerializer",
    "VisionSerializer",
    "WebhookAttemptSerializer",
    "WebhookDeliverySerializer",
    "WebhookSerializer",
    "initiative_rows",
]
