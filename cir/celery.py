"""The Celery application. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import setup_logging

from cir import logformat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cir.settings.base")

app = Celery("cir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


if logformat.LOG_FORMAT == "json":

    @setup_logging.connect
    def log_as_django_does(**kwargs) -> None:
        """LOG_FORMAT=json: worker and beat log through Django's LOGGING (JSON lines), not
        in Celery's own format (connecting here stops Celery from setting up its own)."""
        from logging.config import dictConfig

        from django.conf import settings

        dictConfig(settings.LOGGING)
