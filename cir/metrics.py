"""The Prometheus exposition of /metrics (served by cir/operations.py).

Two parts, written one after the other:
- this server's request figures from django-prometheus (latency by view and method,
  responses by status, ...). Under gunicorn they are added up over its worker processes
  (PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py);
- CIR's own figures, read from the database at scrape time so they are the same whichever
  process answers and include what the Celery workers did: KPI checks and status changes,
  measurements ingested, webhook attempts by outcome, deliveries given up, events and
  deliveries pending.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-export)
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class RegisterCollector:
    """CIR's figures as metric families (a collector prometheus_client asks at each scrape)."""

    def collect(self):
        from improvement.selectors import operating_figures
        from improvement.services.metrics import COUNTERS

        figures = operating_figures()
        families: dict[str, CounterMetricFamily] = {}
        for name, (metric, label, label_value, help_text) in COUNTERS.items():
            family_name = metric.removesuffix("_total")
            if family_name not in families:
                families[family_name] = CounterMetricFamily(
                    family_name, help_text, labels=[label] if label else None
                )
            families[family_name].add_metric([label_value] if label else [], figures[name])
        yield from families.values()
        yield GaugeMetricFamily(
            "cir_events_pending",
            "Outbound events recorded but not yet handed to webhook delivery.",
            value=figures["events_pending"],
        )
        yield GaugeMetricFamily(
            "cir_webhook_deliveries_pending",
            "Webhook deliveries waiting for their first attempt or a retry.",
            value=figures["deliveries_pending"],
        )


def exposition() -> bytes:
    """The whole /metrics body."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)
    else:
        process = PROCESS_REGISTRY
    register = CollectorRegistry(auto_describe=False)
    register.register(RegisterCollector())
    return generate_latest(process) + generate_latest(register)
