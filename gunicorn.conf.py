"""gunicorn's settings for CIR, read from the environment (gunicorn loads this file from
the working directory by itself, so `gunicorn cir.wsgi` is the whole command).

GUNICORN_BIND     where to listen (default 0.0.0.0:8000)
WEB_CONCURRENCY   worker processes (default 3; about 2 × cores + 1 is the usual rule)
GUNICORN_TIMEOUT  seconds before a silent worker is restarted (default 60)
"""

import os
import tempfile

from cir import logformat

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# requests go to standard output, errors to standard error, both in CIR's log format
# (LOG_FORMAT=json: one JSON object per line, like the app's own lines)
accesslog = "-"
logconfig_dict = {
    "formatters": logformat.FORMATTERS,
    "handlers": {
        "console": logformat.console_handler(),
        "error_console": logformat.console_handler(),
        "access_console": logformat.console_handler("ext://sys.stdout"),
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}
# a worker restarted now and then lets memory that a large request took go back
max_requests = 2000
max_requests_jitter = 200

# Request metrics (/metrics) are counted in each worker process; prometheus_client adds
# them up across the workers from files in one folder. The folder is this server's own.
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cir-gunicorn-metrics-")
)


def on_starting(server):
    """Start from empty metric files (a folder reused after a restart holds stale ones)."""
    os.makedirs(metrics_dir, exist_ok=True)
    for name in os.listdir(metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))


def child_exit(server, worker):
    """A worker that exits stops counting in the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
