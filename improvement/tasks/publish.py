"""Sending tasks to the broker without letting a broker outage hold up a request.

Every task published after a commit goes through `publish`. It never raises for broker
trouble: the change is committed, and what the task would have done is caught up by the
periodic jobs (the sweep checks every live KPI whose data changed; the dispatcher sends
events never dispatched and deliveries overdue). A failed publish opens a circuit breaker:
for CIR_PUBLISH_PAUSE_SECONDS this process does not try the broker again, so a request
during an outage pays nothing for it; the first publish after the pause tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from django.conf import settings

__all__ = ["CircuitBreaker", "breaker", "publish"]

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed (publish) until a failure; then open (skip) for `pause` seconds. Per process,
    thread-safe; `pause` is read when it opens, so settings overridden in tests apply."""

    def __init__(self, pause: Callable[[], float], clock: Callable[[], float] = time.monotonic):
        self._pause = pause
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0
        #: publishes skipped while open, since the process started (for logs and tests)
        self.skipped = 0

    def allows(self) -> bool:
        """True when a publish may be tried now; counts the ones it refuses."""
        with self._lock:
            if self._clock() >= self._open_until:
                return True
            self.skipped += 1
            return False

    def open(self) -> None:
        """A publish failed: refuse publishes for the pause."""
        with self._lock:
            self._open_until = self._clock() + self._pause()

    def close(self) -> None:
        """A publish succeeded (or a test starts afresh): allow publishes again."""
        with self._lock:
            self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._clock() < self._open_until


breaker = CircuitBreaker(pause=lambda: float(settings.CIR_PUBLISH_PAUSE_SECONDS))

_broker_errors: tuple[type[BaseException], ...] | None = None


def _is_broker_error(exc: BaseException) -> bool:
    """The errors of the broker's transport (connection refused, timeouts, a Redis that
    went away), not those of the task's own arguments."""
    global _broker_errors
    if _broker_errors is None:
        from kombu.exceptions import OperationalError

        from cir.celery import app

        with app.connection_for_write() as connection:  # does not connect
            _broker_errors = (
                OperationalError,
                OSError,
                *connection.connection_errors,
                *connection.channel_errors,
            )
    return isinstance(exc, _broker_errors)


def publish(
    task, *, args: Sequence = (), countdown: float | None = None, queue: str | None = None
) -> bool:
    """Send `task` with `args` to the broker (to `queue`, default the task's own); True
    when it was sent (or run in-process).

    One connection attempt, no retry (CELERY_BROKER_TRANSPORT_OPTIONS); on broker trouble
    logs, opens the breaker and returns False instead of raising. With no broker (tasks
    run in-process) the task runs now and its errors propagate, as before.
    """
    if task.app.conf.task_always_eager:
        task.apply_async(args=list(args), countdown=countdown)
        return True
    if not breaker.allows():
        log.debug("broker paused after a failure: %s not sent", task.name)
        return False
    options = {"queue": queue} if queue else {}
    try:
        task.apply_async(args=list(args), countdown=countdown, retry=False, **options)
    except Exception as exc:
        if not _is_broker_error(exc):
            raise
        breaker.open()
        log.warning(
            "broker unreachable, %s not sent; no task is sent for %s s, the periodic jobs "
            "catch up (%s: %s)",
            task.name,
            settings.CIR_PUBLISH_PAUSE_SECONDS,
            type(exc).__name__,
            exc,
        )
        return False
    return True
