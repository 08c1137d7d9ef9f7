"""WSGI entry point (gunicorn cir.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cir.settings.base")
application = get_wsgi_application()
