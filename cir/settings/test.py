"""Settings for the test suite: the environment still names the database and broker."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests run tasks in-process unless a test starts a real worker itself.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# no scheduler thread in a test's process: a test runs the periodic jobs when it means to
CIR_EMBEDDED_SCHEDULER = False
# webhooks to private or loopback addresses only when the operator says so
CIR_WEBHOOK_ALLOW_PRIVATE = env.bool("CIR_WEBHOOK_ALLOW_PRIVATE", default=False)
LOGGING = {"version": 1, "disable_existing_loggers": False}
# serve static files from the apps' folders (no collectstatic before tests)
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
