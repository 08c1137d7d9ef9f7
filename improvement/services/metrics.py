"""Operating counters (checks run, status changes, measurements, webhook attempts).

They are kept in the database, in the `Counter` table beside the reference counter, so
that every process sees the same figures: the checks run in Celery workers, deliveries in
workers, measurements arrive at any web process, and Prometheus scrapes one web process.
A counter is added to after the commit of the work it counts (work rolled back is not
counted), in its own short statement, so a busy counter row is never held locked for the
length of a batch.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from ..models import Counter

#: every operating counter: the Counter row's name → (metric, label name, label value, help)
COUNTERS = {
    "kpi_checks": ("cir_kpi_checks_total", None, None, "KPI checks run (each KPI once per check)."),
    "kpi_status_changes": (
        "cir_kpi_status_changes_total", None, None, "KPI checks that changed a KPI's status.",
    ),
    "measurements": (
        "cir_measurements_ingested_total", None, None,
        "Measurements stored (new points and re-sent points that updated one).",
    ),
    "webhook_attempts_succeeded": (
        "cir_webhook_attempts_total", "outcome", "succeeded", "Webhook delivery attempts.",
    ),
    "webhook_attempts_failed": (
        "cir_webhook_attempts_total", "outcome", "failed", "Webhook delivery attempts.",
    ),
    "webhook_deliveries_failed": (
        "cir_webhook_deliveries_given_up_total", None, None,
        "Webhook deliveries given up after their last attempt.",
    ),
}  # fmt: skip


def _add(counts: dict[str, int]) -> None:
    for name, amount in counts.items():
        if not Counter.objects.filter(name=name).update(value=F("value") + amount):
            Counter.objects.bulk_create([Counter(name=name, value=0)], ignore_conflicts=True)
            Counter.objects.filter(name=name).update(value=F("value") + amount)


def metrics_count(**counts: int) -> None:
    """Add to operating counters after the current transaction commits (now, outside one).

    Keys are the names of COUNTERS; zero amounts are skipped. Never raises: a counter that
    could not be written must not fail the work it counts.
    """
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    counts = {name: amount for name, amount in counts.items() if amount}
    if counts:
        transaction.on_commit(lambda: _add(counts), robust=True)
