"""Tasks that check KPIs and flag overdue actions. Each loads fresh rows and calls a service.

Transient database and broker errors are retried with exponential back-off; checks are
idempotent, so a task delivered twice (late acks) leaves the same result.
"""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ..services import checks as kpi_services
from ..services.housekeeping import actions_flag_overdue as _flag_overdue

__all__ = ["actions_flag_overdue", "kpis_check_range", "kpis_check_stale", "kpis_sweep"]

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
    """Check the KPIs whose data changed since their last check (after measurements).

    Coalescing: it checks every live stale KPI at the moment it runs, not only the given
    ones (which are among them unless already checked), so under a burst of posts the
    first task to run serves the points of every task queued behind it, and those find
    nothing left to do (one cheap query each): the worker keeps up with the posts instead
    of running one check per request (docs/performance.md, "Latency under load")."""
    return kpi_services.kpis_check(only_stale=True).checked


@shared_task(name="improvement.tasks.kpis_sweep", bind=True, **RETRY)
def kpis_sweep(self, full: bool = False) -> dict:
    """Fan the sweep out: split the live KPIs to check into id ranges of
    CIR_SWEEP_BATCH_SIZE (2 000) and send a kpis_check_range task for each, to the queue
    this task came from, so every worker takes a share (scheduled by django-celery-beat;
    editable in the admin).

    Only KPIs whose next check has come or whose data changed are checked (the verdicts
    of a full sweep, for a fraction of the work); full=True checks every live KPI. The
    safety net: whatever an enqueue lost while the broker was down is still stale, and a
    batch that is lost stays due, so the next sweep finds both. With no broker the batches
    run here, one after the other.
    """
    from .publish import publish

    size = settings.CIR_SWEEP_BATCH_SIZE
    ranges = kpi_services.sweep_ranges(due_only=not full, batch_size=size)
    queue = (self.request.delivery_info or {}).get("routing_key") or None
    sent = 0
    for low, high in ranges:
        if not publish(kpis_check_range, args=[low, high, full], queue=queue):
            break  # the broker is away: the rest stays due for the next sweep
        sent += 1
    return {"batches": len(ranges), "sent": sent}


@shared_task(name="improvement.tasks.kpis_check_range", **RETRY)
def kpis_check_range(low: int, high: int, full: bool = False) -> dict:
    """One batch of a sweep: the live KPIs low < id <= high that are due (all if full), at
    the moment it runs. Idempotent: run twice, the second run finds nothing new to write."""
    summary = kpi_services.kpis_check(due_only=not full, id_range=(low, high))
    return {"checked": summary.checked, "status_changes": summary.status_changes}


@shared_task(name="improvement.tasks.actions_flag_overdue", **RETRY)
def actions_flag_overdue() -> int:
    """Emit action.overdue for actions that passed their due date unfinished."""
    return _flag_overdue()
