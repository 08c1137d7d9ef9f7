"""The import of an ITSM export started from the browser, run in a worker (or in-process),
and the periodic job that sends again the imports the broker never got."""

from celery import shared_task

from ..services import itsm as itsm_services
from .kpis import RETRY

__all__ = ["itsm_import_run", "itsm_imports_start_queued"]


# a large export takes longer than the default limits of a check
@shared_task(name="improvement.tasks.itsm_import_run", time_limit=3600, soft_time_limit=3500,
             **RETRY)  # fmt: skip
def itsm_import_run(import_id: int) -> None:
    """Run a kept import; a finished one is left as it is (a redelivery does nothing)."""
    itsm_services.itsm_import_run(import_id=import_id)


@shared_task(name="improvement.tasks.itsm_imports_start_queued", **RETRY)
def itsm_imports_start_queued() -> int:
    """Send again the imports left queued: started while the broker was down."""
    return itsm_services.itsm_imports_start_queued()
