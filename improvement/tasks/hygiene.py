"""Register hygiene on a schedule: flag initiatives that went stale (no activity for
CIR_STALE_DAYS) and report each once (`initiative.stale`)."""

from celery import shared_task

from ..services.hygiene import initiatives_flag_stale as _flag_stale
from .kpis import RETRY

__all__ = ["initiatives_flag_stale"]


@shared_task(name="improvement.tasks.initiatives_flag_stale", **RETRY)
def initiatives_flag_stale() -> int:
    """Flag newly stale initiatives; each is reported once until new activity clears it."""
    return _flag_stale()
