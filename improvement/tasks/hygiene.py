"""Register hygiene on a schedule: flag initiatives that went stale (no activity for
CIR_STALE_DAYS) and report each once (`initiative.stale`); fold the register's running
counts."""

from celery import shared_task

from ..services.hygiene import initiatives_flag_stale as _flag_stale
from ..services.tallies import tallies_fold as _tallies_fold
from .kpis import RETRY

__all__ = ["initiatives_flag_stale", "tallies_fold"]


@shared_task(name="improvement.tasks.initiatives_flag_stale", **RETRY)
def initiatives_flag_stale() -> int:
    """Flag newly stale initiatives; each is reported once until new activity clears it."""
    return _flag_stale()


@shared_task(name="improvement.tasks.tallies_fold", **RETRY)
def tallies_fold() -> int:
    """Fold the register's running counts (one row per key again)."""
    return _tallies_fold()
