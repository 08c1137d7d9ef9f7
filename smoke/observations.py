"""What the smoke test reads back at the end: the Prometheus figures and every webhook
delivery's signature (a mixin of the scenario, which holds the clients and receiver)."""

from __future__ import annotations

from .common import SmokeFailure, say, step


class Observations:
    """The scenario's last checks; it provides anonymous, metrics_token, receiver, figures."""

    def metrics(self) -> None:
        step("metrics")
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            reply = self.anonymous.request("GET", "/metrics", headers=headers)
            if reply.status not in (401, 403, 404):
                raise SmokeFailure(
                    f"GET /metrics {'with a wrong token' if headers else 'without a token'} "
                    f"answered {reply.status}; it must be refused"
                )
        say("/metrics refuses a request without the token or with a wrong one")
        reply = self.anonymous.request(
            "GET", "/metrics", headers={"Authorization": f"Bearer {self.metrics_token}"}
        )
        if reply.status != 200 or not reply.header("Content-Type").startswith("text/plain"):
            raise SmokeFailure(
                f"GET /metrics with the token answered {reply.status} "
                f"({reply.header('Content-Type')!r}): {reply.excerpt()}"
            )
        samples = parse_prometheus(reply.body.decode())
        missing = []
        totals = {}
        for name in (
            "cir_kpi_checks_total",
            "cir_kpi_status_changes_total",
            "cir_measurements_ingested_total",
            "cir_webhook_attempts_total",
        ):
            rows = samples.get(name, [])
            if not rows:
                missing.append(name)
                continue
            totals[name] = sum(value for _, value in rows)
            if totals[name] <= 0:
                raise SmokeFailure(f"{name} is {totals[name]:g} after the flow; it must be > 0")
        if "cir_events_pending" not in samples:
            missing.append("cir_events_pending")
        histogram = [n for n in samples if n.startswith("django_http_requests_latency_seconds")]
        if not any(n.endswith("_bucket") for n in histogram):
            missing.append("django_http_requests_latency_seconds… (a histogram)")
        if missing:
            raise SmokeFailure(f"/metrics lacks {', '.join(missing)}")
        outcomes = {}
        for labels, value in samples["cir_webhook_attempts_total"]:
            if "outcome" not in labels:
                raise SmokeFailure(f"cir_webhook_attempts_total without an outcome label: {labels}")
            outcomes[labels["outcome"]] = outcomes.get(labels["outcome"], 0) + value
        pending = sum(value for _, value in samples["cir_events_pending"])
        for name, total in totals.items():
            say(f"{name} = {total:g}")
        say(f"cir_webhook_attempts_total by outcome: {outcomes}; cir_events_pending = {pending:g}")
        say(f"request latency histogram: {', '.join(sorted(histogram))}")
        if totals["cir_measurements_ingested_total"] < self.posted_total:
            say(
                f"NOTE: cir_measurements_ingested_total is "
                f"{totals['cir_measurements_ingested_total']:g}, below the {self.posted_total} "
                "measurements this run posted"
            )
        if len([v for v in outcomes.values() if v > 0]) < 2:
            say("NOTE: the failed first webhook attempt and the successes share one outcome")
        self.figures.add(
            "counters",
            ", ".join(f"{n.removeprefix('cir_')} {v:g}" for n, v in totals.items()),
        )

    def signatures(self) -> None:
        step("webhook signatures")
        received = self.receiver.received()
        bad = [r for r in received if r.event is None]
        if bad:
            details = "; ".join(f"#{r.number} {r.msg_id}: {r.error}" for r in bad[:5])
            raise SmokeFailure(f"{len(bad)} of {len(received)} deliveries unverified: {details}")
        kinds = {}
        for r in received:
            kinds[r.type] = kinds.get(r.type, 0) + 1
        say(f"all {len(received)} deliveries verified with standardwebhooks: {kinds}")
        self.figures.add("webhook deliveries received (all verified)", str(len(received)))


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of the Prometheus text format by name: [(labels, value)]."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            label_text, _, value_text = rest.rpartition("}")
        else:
            name, _, value_text = line.partition(" ")
            label_text = ""
        labels = {}
        for pair in _split_labels(label_text):
            key, _, raw = pair.partition("=")
            labels[key.strip()] = raw.strip().strip('"')
        try:
            value = float(value_text.split()[0])
        except (ValueError, IndexError):
            continue
        samples.setdefault(name.strip(), []).append((labels, value))
    return samples


def _split_labels(text: str) -> list[str]:
    """Split `a="x",b="y,z"` on the commas outside quotes."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == '"':
            current += char
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts
