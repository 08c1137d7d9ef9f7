"""The periodic jobs run inside the web process when there is no broker (the embedded default).

With nothing configured CIR runs its tasks in-process (Celery's eager mode), so no worker
and no beat exist to run the schedules: the KPI sweep (time-driven verdicts such as
on_track → missed when a target date passes), the dispatch of pending events and webhook
retries, and the overdue-action job would never fire. Here, a thread runs Celery beat's
own service with the same database schedules (django-celery-beat, editable in the admin)
and applies each due task in-process, as the eager mode does for every other task.

One scheduler per database: the first web process to take a lock file runs it; the others
(several gunicorn workers without a broker) try again now and then, so one takes over when
that process goes. With a broker configured this is off: beat and the workers do the work.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

#: seconds between tries of a process that did not get the lock
RETRY_LOCK_SECONDS = 30
#: the longest beat sleeps between looks at the schedule (a changed schedule waits this long)
MAX_INTERVAL_SECONDS = 5

_started = False
_start_lock = threading.Lock()


def lock_path() -> Path:
    """The lock file of this database's scheduler (one per database, in the temp folder)."""
    database = settings.DATABASES["default"]
    key = f"{database['ENGINE']}|{database.get('HOST', '')}|{database['NAME']}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cir-embedded-scheduler-{digest}.lock"


def _take_lock(path: Path):
    """An open file holding the exclusive lock, or None when another process has it."""
    handle = open(path, "a")  # noqa: SIM115  (held open for the life of the process)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _run() -> None:
    from celery import beat

    from cir.celery import app

    path = lock_path()
    handle = _take_lock(path)
    while handle is None:
        time.sleep(RETRY_LOCK_SECONDS)
        handle = _take_lock(path)
    # the tasks must be known here, or beat would send them to a broker nobody reads
    app.loader.import_default_modules()
    import improvement.tasks  # noqa: F401

    log.info("embedded scheduler: running the periodic jobs in this process (pid %s)", os.getpid())
    # the schedules of the database (the admin's), as `celery beat` reads them
    service = beat.Service(
        app, max_interval=MAX_INTERVAL_SECONDS, scheduler_cls=app.conf.beat_scheduler
    )
    try:
        service.start()
    finally:
        handle.close()


def start_if_configured() -> bool:
    """Start the scheduler thread once, when CIR_EMBEDDED_SCHEDULER is on; True if started."""
    global _started
    if not getattr(settings, "CIR_EMBEDDED_SCHEDULER", False):
        return False
    with _start_lock:
        if _started:
            return False
        _started = True
    threading.Thread(target=_run, name="cir-embedded-scheduler", daemon=True).start()
    return True
