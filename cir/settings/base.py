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
    "cir.adminsite.CIRAdminConfig",  # django.contrib.admin, without the integration account
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
    "axes",
    "csp",
    "improvement",
]

MIDDLEWARE = [
    # first: probes answer before the host check and the https redirect (cir/operations.py)
    "cir.operations.OperationsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "improvement.web.middleware.VaryOnHtmxMiddleware",
    # last before the metrics: turns a locked-out sign-in into 429 (cir/lockout.py)
    "axes.middleware.AxesMiddleware",
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
                "improvement.web.context.notifications",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# A web or worker process keeps its PostgreSQL connection for CONN_MAX_AGE seconds across
# requests and tasks (cir/celery.py), checked before reuse: a new connection is a new
# PostgreSQL backend, about 18 ms of a 100 ms sweep batch. SQLite (`make run`) reconnects.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if _SQLITE else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if _SQLITE:
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
LOGIN_REDIRECT_URL = "improvement:my-work"
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
        "NotificationKindEnum": "improvement.choices.NotificationKind",
        "KPIKindEnum": "improvement.choices.KPIKind",
        "NotificationDeliveryEnum": "improvement.choices.Delivery",
        "EmailStateEnum": "improvement.choices.EmailState",
        "RecordKindEnum": "improvement.choices.RecordKind",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
# No broker configured: run tasks in-process so the app works with nothing installed.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
#: the queue tasks are sent to (workers: `celery worker -Q <name>`); a separate name lets
#: several installations or a benchmark share one Redis
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Reliability: a task is acknowledged only when done, so a worker that dies mid-task
# leaves it to be redelivered; tasks are idempotent, so redelivery is harmless. A pool
# process killed outright hands its task back at once (reject_on_worker_lost); a whole
# worker killed outright leaves it unacknowledged in Redis until the visibility timeout.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection before and after every task unless this is set;
# set, it closes them only every this many tasks, and cir/celery.py applies Django's own
# rules instead (CONN_MAX_AGE, a broken connection closed), as for a request.
CELERY_DB_REUSE_MAX = 1000
# The longest task is a first sweep of a large register (100 000 KPIs: about 30 s); a
# webhook attempt is bounded by CIR_WEBHOOK_TIMEOUT per network wait.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=150)
#: the longest a task waits in a worker for its countdown (a retry's back-off); longer
#: waits are left to the periodic jobs, so no message is held past the visibility timeout
CIR_TASK_MAX_COUNTDOWN = env.int("CIR_TASK_MAX_COUNTDOWN", default=60)
#: seconds before Redis hands an unacknowledged task to another worker: longer than a
#: task may wait for its countdown and then run, or a running task would be delivered
#: twice at once
CELERY_VISIBILITY_TIMEOUT = env.int(
    "CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + CIR_TASK_MAX_COUNTDOWN + 90
)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT + CIR_TASK_MAX_COUNTDOWN:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT + "
        "CIR_TASK_MAX_COUNTDOWN, or a running task would be delivered twice."
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=4.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # look for abandoned tasks every 10 s (kombu's default scans every 100 s)
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    "socket_timeout": 5,
    # fail fast when the broker is down: one connection attempt of at most 1 s, no retries
    # (kombu's default waits 2 s then 4 s between attempts: every write blocked ~6 s); a
    # worker's own consuming connection keeps retrying (broker_connection_max_retries)
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=1.0),
    "max_retries": 0,
}
#: seconds a process stops sending tasks after the broker failed once (the circuit
#: breaker of improvement/tasks/publish.py); the periodic jobs catch up meanwhile
CIR_PUBLISH_PAUSE_SECONDS = env.float("CIR_PUBLISH_PAUSE_SECONDS", default=5.0)
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30

# --- ways in: sign-in lockout and Content-Security-Policy -------------------------------
# django-axes counts failed sign-ins per username, from any address, on every door (the
# login page, the admin login, POST /api/v1/auth/token/): CIR_LOGIN_FAILURE_LIMIT failures
# lock the username for CIR_LOGIN_COOLOFF_MINUTES (each failure during the lockout starts it
# again), answered with 429 and Retry-After. Never by address alone: a whole office behind
# one NAT address is not locked out by one person's typos.
AUTHENTICATION_BACKENDS = [
    "cir.lockout.LockoutBackend",  # axes' check; must come first
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("CIR_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("CIR_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CIR_LOGIN_COOLOFF_MINUTES", default=15))
# a username from anywhere, and a username from one address (the latter is what the
# attempt log shows per address; with one failure limit the former decides)
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cir.lockout.lockout_response"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False
# successful sign-ins are recorded (who, when, from where) in the admin's Access logs
AXES_ENABLE_ADMIN = True

#: set by the production settings: seed_demo refuses to create its known-password logins
CIR_PRODUCTION = False

# django-csp: our own origin only, no inline script, no eval. Style attributes only are
# allowed inline (style-src-attr): the register's bars and status colours are computed per
# row; <style> elements and style sheets still come from our origin only (docs/operations.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
#: days without activity after which an open initiative is flagged stale (register hygiene)
CIR_STALE_DAYS = env.int("CIR_STALE_DAYS", default=30)
#: KPIs per task of the fanned-out sweep (docs/kpi-checks.md, The sweep)
CIR_SWEEP_BATCH_SIZE = env.int("CIR_SWEEP_BATCH_SIZE", default=2000)

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
    "Send pending notification emails": (
        "improvement.tasks.notification_emails_pending",
        "CIR_NOTIFY_EMAIL_SECONDS",
    ),
    "Notification reminders": ("improvement.tasks.notifications_remind", "CIR_REMIND_SECONDS"),
    "Flag stale initiatives": ("improvement.tasks.initiatives_flag_stale", "CIR_STALE_SECONDS"),
    "Fold the register's counts": ("improvement.tasks.tallies_fold", "CIR_TALLY_FOLD_SECONDS"),
}
_SCHEDULE_DEFAULTS = {"CIR_SWEEP_SECONDS": "60"} if CIR_EMBEDDED_SCHEDULER else {}
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": timedelta(seconds=float(seconds))}
    for name, (task, variable) in CIR_SCHEDULES.items()
    if (seconds := env.str(variable, default=_SCHEDULE_DEFAULTS.get(variable, "")))
}

# --- notifications and email -----------------------------------------------------------
#: email: EMAIL_URL (django-environ, e.g. smtp+tls://user:password@smtp.example.org:587),
#: or the usual EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
#: EMAIL_USE_TLS / EMAIL_USE_SSL; with neither, emails are written to the console
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
    )
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CIR <cir@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
#: the site's address, for the links in emails (no trailing slash needed)
CIR_BASE_URL = env.str("CIR_BASE_URL", default="http://localhost:8000")
#: days a proposal waits for triage before the CSI managers are reminded
CIR_TRIAGE_DAYS = env.int("CIR_TRIAGE_DAYS", default=5)

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
    "filters": {"client_errors": {"()": "cir.logformat.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": logformat.console_handler()},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # a 403 (PermissionDenied) or 400 is one line in the log, not a traceback
        "django.request": {"filters": ["client_errors"]},
        "django.security": {"filters": ["client_errors"]},
    },
}
