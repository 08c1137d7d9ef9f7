"""WSGI entry point (gunicorn cir.wsgi; runserver loads it too)."""

import os

from django.core.wsgi import get_wsgi_application

from cir.embedded import start_if_configured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cir.settings.base")
application = get_wsgi_application()
# the embedded default (no broker): the periodic jobs run in this process
start_if_configured()
