"""What every part of the smoke test shares: the failure, the progress lines, bounded waits
and the figures printed at the end."""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

#: the repository root: every command runs here, as in the image (WORKDIR /app, COPY . .)
REPO = Path(__file__).resolve().parent.parent

_STARTED = time.monotonic()

T = TypeVar("T")


class SmokeFailure(Exception):
    """The stack did not do what production needs; the message says what, in words."""


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the smoke test started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def step(title: str) -> None:
    """The heading of one part of the scenario."""
    print(f"\n== {title}", flush=True)


def elapsed() -> float:
    return time.monotonic() - _STARTED


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    what: str,
) -> T:
    """Call `probe` until it returns something other than None (or False); return that.

    Every wait of the smoke test goes through here, so none can hang: after `timeout`
    seconds it fails, naming `what` it was waiting for.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (nearest rank), the way latency goals are usually read."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


class Figures:
    """The numbers the smoke test measured, printed together at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(self, label: str, value: str) -> None:
        self.rows.append((label, value))

    def latencies(self, label: str, seconds: list[float]) -> tuple[float, float, float]:
        p50 = statistics.median(seconds)
        p95 = percentile(seconds, 95)
        worst = max(seconds)
        self.add(label, f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {worst:.2f} s (n={len(seconds)})")
        return p50, p95, worst

    def print(self) -> None:
        if not self.rows:
            return
        width = max(len(label) for label, _ in self.rows)
        print("\n== figures", flush=True)
        for label, value in self.rows:
            print(f"  {label.ljust(width)}  {value}")
        sys.stdout.flush()
