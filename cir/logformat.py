"""How CIR's log lines look: one formatter for Django, gunicorn and Celery alike.

LOG_FORMAT=json writes one JSON object per line (time, level, logger, message, process),
for log shippers; "text" (the default) is for people reading a terminal.
"""

import os
from pathlib import Path

import environ

# read here too: Celery's app (cir/celery.py) asks before the settings are loaded
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")

FORMATTERS = {
    "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
}


def console_handler(stream: str = "ext://sys.stderr") -> dict:
    """A dictConfig handler writing to `stream` in the configured format."""
    return {
        "class": "logging.StreamHandler",
        "formatter": "json" if LOG_FORMAT == "json" else "text",
        "stream": stream,
    }


class ClientErrorsWithoutTraceback:
    """A refusal (403), a not-found or a bad request is the client's doing, not a fault: Django
    logs it with the exception's traceback all the same. Keep the one line, drop the
    traceback; server errors (5xx) keep theirs."""

    def filter(self, record) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
