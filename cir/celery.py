"""The Celery application. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun
from django.db import close_old_connections

from cir import logformat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cir.settings.base")

app = Celery("cir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def task_db_connections(sender=None, **kwargs) -> None:
    """Before and after a task, its database connections are treated as a request's are:
    one that is broken, or older than CONN_MAX_AGE, is closed; the others serve the next
    task (checked first: CONN_HEALTH_CHECKS). Celery's own rule, a new connection for every
    task, is relaxed by CELERY_DB_REUSE_MAX. A task run in-process (eager) is left alone:
    it runs inside its caller's request or transaction."""
    if getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


if logformat.LOG_FORMAT == "json":

    @setup_logging.connect
    def log_as_django_does(**kwargs) -> None:
        """LOG_FORMAT=json: worker and beat log through Django's LOGGING (JSON lines), not
        in Celery's own format (connecting here stops Celery from setting up its own)."""
        from logging.config import dictConfig

        from django.conf import settings

        dictConfig(settings.LOGGING)
