"""Every write of the register goes through a function here (STYLE rule 1).

Functions are keyword-only, take the acting user, check permissions, validate, write
in one transaction and schedule side effects with transaction.on_commit. One module per
aggregate: initiatives (and their step records, actions, reviews), kpis (definitions),
measurements (ingest), checks (the verdict engine), catalogue (goals, services,
practices), webhooks (events out), housekeeping (periodic writes), metrics (counters).
"""

from .benefits import benefit_create, benefit_delete, benefit_realise, benefit_update
from .catalogue import (
    goal_create,
    goal_delete,
    goal_update,
    practice_save,
    service_save,
)
from .checks import initiative_refresh_health, kpi_check, kpi_schedule_check, kpis_check
from .common import event_emit
from .imports import import_mapping_save, measurements_import, register_import
from .initiatives import (
    action_create,
    action_update,
    initiative_create,
    initiative_create_or_get,
    initiative_delete,
    initiative_set_priority,
    initiative_transition,
    initiative_update,
    record_version,
    review_create,
    step_record_update,
)
from .kpis import kpi_create, kpi_delete, kpi_rebaseline, kpi_update
from .measurements import (
    measurement_correct,
    measurement_delete,
    measurement_points_problems,
    measurement_record,
    measurements_record_bulk,
)
from .webhooks import (
    event_dispatch,
    events_dispatch,
    events_dispatch_pending,
    webhook_create,
    webhook_delete,
    webhook_deliver,
    webhook_delivery_retry,
    webhook_rotate_secret,
    webhook_update,
)

__all__ = [
    "benefit_create",
    "benefit_delete",
    "benefit_realise",
    "benefit_update",
    "action_create",
    "action_update",
    "event_emit",
    "goal_create",
    "goal_delete",
    "goal_update",
    "initiative_create",
    "initiative_create_or_get",
    "initiative_delete",
    "initiative_set_priority",
    "initiative_transition",
    "initiative_update",
    "import_mapping_save",
    "kpi_create",
    "kpi_delete",
    "kpi_rebaseline",
    "kpi_update",
    "initiative_refresh_health",
    "kpi_check",
    "kpi_schedule_check",
    "kpis_check",
    "measurement_correct",
    "measurement_delete",
    "measurement_points_problems",
    "measurement_record",
    "measurements_import",
    "measurements_record_bulk",
    "practice_save",
    "register_import",
    "record_version",
    "review_create",
    "service_save",
    "step_record_update",
    "event_dispatch",
    "events_dispatch",
    "events_dispatch_pending",
    "webhook_create",
    "webhook_delete",
    "webhook_deliver",
    "webhook_delivery_retry",
    "webhook_rotate_secret",
    "webhook_update",
]
