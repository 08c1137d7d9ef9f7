"""Tasks that check KPIs and flag overdue actions. Each loads fresh rows and calls a service.

Transient database and broker errors are retried with exponential back-off; checks are
idempotent, so a task delivered twice (late acks) leaves the same result.
"""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ..services import checks as kpi_services
from ..services.housekeeping import actions_flag_overdue as _flag_overdue

__all__ = ["actions_flag_overdue", "kpis_check_stale", "kpis_sweep"]

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": settings.CIR_TASK_MAX_COUNTDOWN,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(name="improvement.tasks.kpis_check_stale", **RETRY)
def kpis_check_stale(kpi_ids: list[int]) -> int:
    """Check the given KPIs whose data changed since their last check (after measurements)."""
    return kpi_services.kpis_check(kpi_ids=kpi_ids, only_stale=True).checked


@shared_task(name="improvement.tasks.kpis_sweep", **RETRY)
def kpis_sweep() -> dict:
    """Re-check every live KPI (scheduled by django-celery-beat; editable in the admin).

    The safety net: whatever an enqueue lost while the broker was down, the sweep finds.
    """
    summary = kpi_services.kpis_check()
    return {"checked": summary.checked, "status_changes": summary.status_changes}


@shared_task(name="improvement.tasks.actions_flag_overdue", **RETRY)
def actions_flag_overdue() -> int:
    """Emit action.overdue for actions that passed their due date unfinished."""
    return _flag_overdue()
