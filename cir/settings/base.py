"""Settings shared by every environment; every value can come from the environment.

With no configuration at all CIR runs on SQLite with Celery tasks executed in-process,
so that `make run` works on a machine with nothing installed.
"""

from datetime import timedelta
from pathlib import Path

import environ

from cir import logformat

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="cir-insecure-development-key-change-me")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "simple_history",
    "django_prometheus",
    "improvement",
]

MIDDLEWARE = [
    # first: probes answer before the host check and the https redirect (cir/operations.py)
    "cir.operations.OperationsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "cir.urls"
WSGI_APPLICATION = "cir.wsgi.application"
ASGI_APPLICATION = "cir.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the browser, the API and in-process tasks read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "media"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "improvement:register"
LOGOUT_REDIRECT_URL = "login"

# --- REST API -------------------------------------------------------------------------
# The largest request body read: 10 000 measurement rows (the API's most per request) of
# 2 KB each, enough for the longest key and source and a 500-character note in UTF-8. The
# API answers a larger body with 413 in its error shape.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "improvement.api.pagination.LimitOffsetPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "improvement.api.errors.exception_handler",
    # JSON in, nested to a bounded depth; JSON out, whatever the Accept header asks for
    "DEFAULT_PARSER_CLASSES": ["improvement.api.parsers.CIRJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "improvement.api.parsers.JSONContentNegotiation",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CIR — Continual Improvement Register API",
    "DESCRIPTION": "Register improvement initiatives, drive them through the ITIL 4 continual "
    "improvement model, and feed KPI measurements from ITSM tools.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # one name per shared choice set, so the schema has no ambiguous enums
    "ENUM_NAME_OVERRIDES": {
        "StepEnum": "improvement.choices.Step",
        "KPIStatusEnum": "improvement.choices.KPIStatus",
        "ActionStatusEnum": "improvement.choices.ActionStatus",
        "DeliveryStatusEnum": "improvement.webhooks.DeliveryStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
# No broker configured: run tasks in-process so the app works with nothing installed.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Reliability: a task is acknowledged only when done, so a worker that dies mid-task
# leaves it to be redelivered; tasks are idempotent, so redelivery is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=4.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # longer than the hard time limit, so a late-acked task is not redelivered while it runs
    "visibility_timeout": CELERY_TASK_TIME_LIMIT * 2,
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    "max_retries": 2,
}
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30

# --- audit history --------------------------------------------------------------------
# history is a record, not an undo button: reverting would bypass the services
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- CIR ------------------------------------------------------------------------------
#: let webhooks point at private or loopback addresses (for local receivers and tests);
#: on by default only in development (DEBUG), so `make run` can call a receiver on this
#: machine; production and test settings default to off
CIR_WEBHOOK_ALLOW_PRIVATE = env.bool("CIR_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)
#: seconds before a webhook delivery attempt gives up
CIR_WEBHOOK_TIMEOUT = env.float("CIR_WEBHOOK_TIMEOUT", default=5.0)
#: seconds before the first retry of a failed delivery; each next one waits three times longer
CIR_WEBHOOK_BACKOFF_SECONDS = env.float("CIR_WEBHOOK_BACKOFF_SECONDS", default=10.0)
#: how many delivery attempts before an event is given up
CIR_WEBHOOK_MAX_ATTEMPTS = env.int("CIR_WEBHOOK_MAX_ATTEMPTS", default=6)
#: seconds between a measurement's commit and its check (one check serves a burst)
CIR_CHECK_DELAY_SECONDS = env.float("CIR_CHECK_DELAY_SECONDS", default=0.2)

# --- schedules ------------------------------------------------------------------------
#: run the periodic jobs inside the web process (the embedded default: with no broker there
#: is no beat or worker to run them; see cir/embedded.py). Off when a broker is configured.
CIR_EMBEDDED_SCHEDULER = env.bool("CIR_EMBEDDED_SCHEDULER", default=CELERY_TASK_ALWAYS_EAGER)
# The periodic jobs live in the database (django-celery-beat, created by a migration and
# edited in the admin). These variables, when set, force an interval at beat's start,
# overriding the admin (for tests and demos that cannot wait 15 minutes). The embedded
# default sweeps every minute, so a demo shows verdicts moving with time.
CIR_SCHEDULES = {
    # name in the admin: (task, environment variable)
    "Check all live KPIs": ("improvement.tasks.kpis_sweep", "CIR_SWEEP_SECONDS"),
    "Dispatch pending events": (
        "improvement.tasks.events_dispatch_pending",
        "CIR_DISPATCH_SECONDS",
    ),
    "Flag overdue actions": ("improvement.tasks.actions_flag_overdue", "CIR_OVERDUE_SECONDS"),
}
_SCHEDULE_DEFAULTS = {"CIR_SWEEP_SECONDS": "60"} if CIR_EMBEDDED_SCHEDULER else {}
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": timedelta(seconds=float(seconds))}
    for name, (task, variable) in CIR_SCHEDULES.items()
    if (seconds := env.str(variable, default=_SCHEDULE_DEFAULTS.get(variable, "")))
}

# --- operations -----------------------------------------------------------------------
#: /metrics answers a request carrying "Authorization: Bearer <METRICS_TOKEN>", or one from
#: an address in METRICS_ALLOWED_NETWORKS (default: loopback without a token, none with one)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=[] if METRICS_TOKEN else ["127.0.0.0/8", "::1/128"]
)
#: seconds /readyz waits for the broker before it calls it unreachable
READYZ_BROKER_TIMEOUT = env.float("READYZ_BROKER_TIMEOUT", default=2.0)

#: "json" writes one JSON object per log line (for log shippers); "text" is for people
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": logformat.FORMATTERS,
    "handlers": {"console": logformat.console_handler()},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
