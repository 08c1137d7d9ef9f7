"""What the smoke test does to the running stack, over HTTP only, as an ITSM tool would.

Each method is one claim about production, checked from outside: the probes answer, the
API hands out tokens, static files are served, webhooks are signed and retried, the
worker computes verdicts quickly, beat's sweep changes a status with the clock alone, a
worker restarted mid-stream loses no check, and Prometheus sees it all.
"""

from __future__ import annotations

import gzip
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from .client import Client
from .common import REPO, Figures, SmokeFailure, say, step, wait_until
from .observations import Observations
from .receiver import WebhookReceiver
from .stack import Stack

#: the latency goal: a verdict that counts a measurement within this many seconds (p95)
VERDICT_GOAL_SECONDS = 2.0
#: a verdict that has not arrived by then never will: the smoke test fails
VERDICT_TIMEOUT_SECONDS = 30.0
#: how far ahead of its measurement the time-driven KPI is due to fall behind
CLOCK_LEAD_SECONDS = 20.0
#: KPIs fed while the worker is stopped and started again
STREAM_KPIS = 10

CREATE_USERS = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from improvement.choices import Role

for username, role, variable in (
    ("smoke-csi", Role.CSI_MANAGER, "SMOKE_CSI_PASSWORD"),
    ("smoke-itsm", Role.ITSM_INTEGRATION, "SMOKE_ITSM_PASSWORD"),
):
    user = get_user_model().objects.create_user(username, password=os.environ[variable])
    user.groups.add(Group.objects.get(name=role))
    print(username, "in", role)
"""


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_share(at: datetime, baseline_date: date, target_date: date) -> float:
    """How far along its time from A to B a KPI should be at `at`, as CIR reckons it: the
    baseline date counts from midnight UTC at its start, the target date counts whole
    (until midnight UTC at its end), clamped to 0..1."""
    start = datetime.combine(baseline_date, dtime.min, tzinfo=UTC)
    end = datetime.combine(target_date + timedelta(days=1), dtime.min, tzinfo=UTC)
    return min(1.0, max(0.0, (at - start) / (end - start)))


@dataclass
class KPI:
    id: int
    key: str
    posted: int = 0  # measurements posted to it so far


@dataclass
class Stream:
    """Measurements posted by a thread, one at a time, round-robin over KPIs."""

    kpis: list[KPI]
    client: Client
    start: datetime
    limit: int = 600
    posted: int = 0
    error: str = ""
    last_post_at: float = 0.0
    finish: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            for index in range(self.limit):
                if self.finish.is_set() and index % len(self.kpis) == 0:
                    return  # whole rounds only: every KPI gets the same number of points
                kpi = self.kpis[index % len(self.kpis)]
                point = {
                    "value": float(index % 50),
                    "measured_at": _instant(self.start + timedelta(seconds=index)),
                    "source": "smoke-stream",
                }
                self.client.post(f"/api/v1/kpis/{kpi.id}/measurements/", point, expect=(200,))
                kpi.posted += 1
                self.posted += 1
                self.last_post_at = time.monotonic()
                time.sleep(0.05)
            self.error = f"the stream reached its limit of {self.limit} points"
        except Exception as exc:  # reported by the main thread
            self.error = str(exc)


class Scenario(Observations):
    """The flow, step by step; each step fails with a sentence saying what went wrong."""

    def __init__(self, stack: Stack, port: int, metrics_token: str, figures: Figures):
        self.stack = stack
        self.metrics_token = metrics_token
        self.figures = figures
        self.anonymous = Client(port)
        self.csi: Client | None = None
        self.itsm: Client | None = None
        self.receiver = WebhookReceiver()
        self.webhook_id: int | None = None
        self.initiative_id: int | None = None
        self.verdict_kpis: list[KPI] = []
        self.stream_kpis: list[KPI] = []
        self.clock_kpi: KPI | None = None
        self.posted_total = 0

    def run(self) -> None:
        self.probes()
        self.users()
        self.static_files()
        self.webhook_register()
        self.register()
        self.webhook_retry()
        change_at = self.clock_arm()
        self.verdicts()
        self.clock_observe(change_at)
        self.worker_restart()
        self.metrics()
        self.signatures()

    def close(self) -> None:
        self.receiver.stop()

    # --- the processes come up --------------------------------------------------------

    def wait_ready(self, started: float) -> dict:
        """Poll /readyz until it answers 200 (the web process migrates first)."""

        def ready():
            self.stack.require_running()
            try:
                reply = self.anonymous.request("GET", "/readyz")
            except OSError:
                return None  # not listening yet
            return reply.json() if reply.status == 200 else None

        body = wait_until(ready, timeout=180, interval=0.5, what="GET /readyz to answer 200")
        self.figures.add("web ready (migrate + gunicorn)", f"{time.monotonic() - started:.1f} s")
        return body

    def probes(self) -> None:
        step("probes")
        started = time.monotonic()
        self.stack.start("web")
        body = self.wait_ready(started)
        if body.get("status") != "ready":
            raise SmokeFailure(f"/readyz answered 200 with {body}")
        say(f"/readyz 200: {body.get('checks')}")
        # worker and beat start once the schema exists, as they would after their restarts
        self.stack.start("worker")
        self.stack.start("beat")

        reply = self.anonymous.request("GET", "/healthz")
        if reply.status != 200:
            raise SmokeFailure(f"/healthz answered {reply.status}: {reply.excerpt()}")
        say(f"/healthz 200: {reply.excerpt()}")
        # what an orchestrator's probe sends: plain HTTP, the container's own address
        for path in ("/healthz", "/readyz"):
            probe = self.anonymous.request(
                "GET", path, headers={"Host": "10.0.0.7:8000"}, forwarded_https=False
            )
            if probe.status != 200:
                raise SmokeFailure(
                    f"{path} over plain HTTP with a Host not in ALLOWED_HOSTS answered "
                    f"{probe.status} (probes call by address, without TLS): {probe.excerpt()}"
                )
        say("probes answer over plain HTTP whatever the Host")
        # the https redirect is on: without the proxy's header the API is not served
        plain = self.anonymous.request("GET", "/api/v1/users/", forwarded_https=False)
        location = plain.header("Location")
        if plain.status not in (301, 302, 307, 308) or not location.startswith("https://"):
            raise SmokeFailure(
                f"plain HTTP to the API answered {plain.status} (Location {location!r}); "
                "production must redirect it to HTTPS"
            )
        say(f"plain HTTP is redirected: {plain.status} → {location}")

    def users(self) -> None:
        step("users and tokens")
        passwords = {
            "smoke-csi": secrets.token_urlsafe(24),
            "smoke-itsm": secrets.token_urlsafe(24),
        }
        output = self.stack.manage(
            ["shell", "-c", CREATE_USERS],
            {
                "SMOKE_CSI_PASSWORD": passwords["smoke-csi"],
                "SMOKE_ITSM_PASSWORD": passwords["smoke-itsm"],
            },
            "creating the users with manage.py shell",
        )
        for line in output.splitlines():
            if " in " in line:  # the script's own lines, not the shell's banner
                say(f"manage.py shell: {line.strip()}")
        tokens = {}
        for username, password in passwords.items():
            answer = self.anonymous.post(
                "/api/v1/auth/token/", {"username": username, "password": password}, expect=(200,)
            )
            tokens[username] = answer.get("token") or ""
            if not tokens[username]:
                raise SmokeFailure(f"POST /api/v1/auth/token/ gave {username} no token: {answer}")
        self.csi = self.anonymous.as_token(tokens["smoke-csi"])
        self.itsm = self.anonymous.as_token(tokens["smoke-itsm"])
        me = self.itsm.get("/api/v1/users/?limit=1000")
        roles = {u["username"]: u["roles"] for u in me.get("results", me)}
        say(f"tokens issued; roles {roles.get('smoke-csi')} and {roles.get('smoke-itsm')}")
        # the schema is built from every serializer and view: an import that only a
        # development package satisfies shows here
        schema = self.itsm.request("GET", "/api/schema/?format=json")
        if schema.status != 200 or "openapi" not in schema.json():
            raise SmokeFailure(f"GET /api/schema/ answered {schema.status}: {schema.excerpt()}")
        say(f"/api/schema/: OpenAPI {schema.json()['openapi']}, {len(schema.body)} bytes")

    def static_files(self) -> None:
        step("static files (WhiteNoise)")
        css = sorted((REPO / "static").rglob("*.css"))
        if not css:
            raise SmokeFailure("the project has no CSS file under static/")
        own = "/static/" + css[0].relative_to(REPO / "static").as_posix()
        checks = [(own, css[0]), ("/static/admin/css/base.css", None)]
        for path, source in checks:
            reply = self.anonymous.request("GET", path, headers={"Accept": "text/css"})
            kind = reply.header("Content-Type")
            if reply.status != 200 or not kind.startswith("text/css"):
                raise SmokeFailure(f"GET {path} answered {reply.status} ({kind!r})")
            if source is not None and reply.body != Path(source).read_bytes():
                raise SmokeFailure(f"GET {path} did not serve the content of {source}")
            squeezed = self.anonymous.request(
                "GET", path, headers={"Accept": "text/css", "Accept-Encoding": "gzip"}
            )
            encoding = squeezed.header("Content-Encoding")
            if encoding != "gzip" or gzip.decompress(squeezed.body) != reply.body:
                raise SmokeFailure(
                    f"GET {path} with Accept-Encoding: gzip was not served its compressed "
                    f"copy (Content-Encoding {encoding!r}): were the files collected with "
                    "CompressedStaticFilesStorage?"
                )
            say(
                f"{path}: 200 {kind}, {len(reply.body)} bytes, gzip {len(squeezed.body)} "
                f"bytes, Cache-Control {reply.header('Cache-Control')!r}"
            )
        # a page names its files by their hashed copies (the manifest of collectstatic),
        # which are kept for a year: a file the manifest lacks would make every page a 500
        page = self.anonymous.request("GET", "/accounts/login/")
        if page.status != 200:
            raise SmokeFailure(f"GET /accounts/login/ answered {page.status}: {page.excerpt()}")
        hashed = re.findall(rb"/static/[\w/.-]+\.[0-9a-f]{12}\.css", page.body)
        if not hashed:
            raise SmokeFailure("the login page names no hashed stylesheet (no manifest storage?)")
        for path in sorted({h.decode() for h in hashed}):
            reply = self.anonymous.request("GET", path)
            cache = reply.header("Cache-Control")
            if reply.status != 200 or "immutable" not in cache:
                raise SmokeFailure(f"GET {path} answered {reply.status}, Cache-Control {cache!r}")
            say(f"{path} (named by the login page): 200, Cache-Control {cache!r}")

    # --- webhooks -----------------------------------------------------------------------

    def webhook_register(self) -> None:
        step("webhook")
        self.receiver.start()
        webhook = self.csi.post(
            "/api/v1/webhooks/",
            {
                "name": "Smoke receiver",
                "url": self.receiver.url,
                "event_types": ["initiative.created", "kpi.status_changed"],
            },
            expect=(201,),
        )
        secret = webhook.get("secret", "")
        if not secret.startswith("whsec_"):
            raise SmokeFailure(f"the webhook's secret is not a whsec_ secret: {webhook}")
        self.receiver.secret = secret
        self.webhook_id = webhook["id"]
        say(f"webhook {self.webhook_id} → {self.receiver.url} (answers 500 to its first request)")

    def register(self) -> None:
        """The initiative and its KPIs; creating the initiative sends the first event."""
        initiative = self.csi.post(
            "/api/v1/initiatives/",
            {
                "title": "Smoke: first-contact resolution at the service desk",
                "description": "Created by the production smoke test.",
                "source": "monitoring",
            },
            expect=(201,),
        )
        self.initiative_id = initiative["id"]
        say(f"initiative {initiative['reference']} ({initiative['step']})")
        today = datetime.now(UTC).date()
        for number in range(1, 5):
            self.verdict_kpis.append(
                self._kpi(
                    f"smoke-verdict-{number}",
                    f"Verdict latency probe {number}",
                    baseline_date=today - timedelta(days=30),
                    target_date=today + timedelta(days=60),
                    target_value=100.0,
                )
            )
        self.clock_kpi = self._kpi(
            "smoke-clock",
            "Falls behind with the clock",
            baseline_date=today - timedelta(days=1),
            target_date=today + timedelta(days=1),
            target_value=1.0,
            tolerance=0.0,
        )
        for number in range(1, STREAM_KPIS + 1):
            self.stream_kpis.append(
                self._kpi(
                    f"smoke-stream-{number:02d}",
                    f"Stream {number}",
                    baseline_date=today - timedelta(days=30),
                    target_date=today + timedelta(days=60),
                    target_value=100.0,
                )
            )
        say(f"{len(self.verdict_kpis) + 1 + STREAM_KPIS} KPIs defined")

    def _kpi(self, key, name, *, baseline_date, target_date, target_value, tolerance=None) -> KPI:
        data = {
            "initiative": self.initiative_id,
            "key": key,
            "name": name,
            "direction": "increase",
            "baseline_value": 0.0,
            "baseline_date": baseline_date.isoformat(),
            "target_value": target_value,
            "target_date": target_date.isoformat(),
        }
        if tolerance is not None:
            data["tolerance"] = tolerance
        kpi = self.csi.post("/api/v1/kpis/", data, expect=(201,))
        return KPI(id=kpi["id"], key=kpi["key"])

    def webhook_retry(self) -> None:
        """The first delivery failed (500) and the same message was delivered again."""

        def retried():
            self.stack.require_running()
            received = self.receiver.received()
            if not received:
                return None
            first = received[0]
            again = [r for r in received[1:] if r.msg_id == first.msg_id]
            success = next((r for r in again if 200 <= r.answered < 300), None)
            return (first, success) if success else None

        first, success = wait_until(
            retried, timeout=60, interval=0.1, what="the failed webhook delivery to be retried"
        )
        seconds = success.at - first.at
        say(
            f"{first.type or 'event'} {first.msg_id}: attempt 1 answered 500, "
            f"retried {seconds:.2f} s later and answered {success.answered}"
        )
        self.figures.add("webhook: failed attempt → successful retry", f"{seconds:.2f} s")

        def logged():
            page = self.csi.get(f"/api/v1/webhooks/{self.webhook_id}/deliveries/?limit=1000")
            for delivery in page.get("results", page):
                if str(delivery.get("event_id")) == first.msg_id:
                    return delivery if delivery.get("status") == "succeeded" else None
            return None

        delivery = wait_until(
            logged, timeout=15, interval=0.2, what="the delivery to show as succeeded in the API"
        )
        attempts = delivery.get("attempts") or []
        if (
            len(attempts) < 2
            or attempts[0].get("succeeded")
            or attempts[0].get("status_code") != 500
        ):
            raise SmokeFailure(f"the delivery's attempts do not show the failure: {attempts}")
        say(
            f"API: delivery {delivery['id']} succeeded after {delivery['attempt_count']} "
            f"attempts ({', '.join(str(a.get('status_code')) for a in attempts)})"
        )

    # --- verdicts -------------------------------------------------------------------------

    def _kpi_state(self, kpi: KPI) -> dict:
        return self.itsm.get(f"/api/v1/kpis/{kpi.id}/")

    @staticmethod
    def _count(state: dict) -> int:
        return int((state.get("latest_check") or {}).get("measurement_count") or 0)

    def _post_point(self, kpi: KPI, value: float, measured_at: datetime, bulk: bool) -> None:
        point = {"value": value, "measured_at": _instant(measured_at), "source": "smoke"}
        if bulk:  # the bulk endpoint, by key, as monitoring tools send
            answer = self.itsm.post("/api/v1/measurements/", [{"kpi": kpi.key, **point}])
        else:
            answer = self.itsm.post(f"/api/v1/kpis/{kpi.id}/measurements/", point)
        if answer.get("recorded") != 1:
            raise SmokeFailure(f"posting a measurement of {kpi.key} answered {answer}")
        kpi.posted += 1
        self.posted_total += 1

    def clock_arm(self) -> datetime:
        """One measurement that is on track now and falls behind CLOCK_LEAD_SECONDS later."""
        step("a KPI that falls behind with the clock (beat's sweep)")
        kpi = self.clock_kpi
        state = self._kpi_state(kpi)
        baseline = date.fromisoformat(state["baseline_date"])
        target = date.fromisoformat(state["target_date"])
        now = datetime.now(UTC)
        change_at = now + timedelta(seconds=CLOCK_LEAD_SECONDS)
        value = expected_share(change_at, baseline, target)
        self._post_point(kpi, value, now - timedelta(seconds=1), bulk=False)
        say(
            f"{kpi.key}: posted {value:.6f} (the share expected at {_instant(change_at)}); "
            "it should be on_track now and at_risk from then on"
        )

        def on_track():
            state = self._kpi_state(kpi)
            return state if self._count(state) >= 1 else None

        state = wait_until(
            on_track, timeout=VERDICT_TIMEOUT_SECONDS, interval=0.1, what="a verdict"
        )
        if state["status"] != "on_track":
            raise SmokeFailure(
                f"{kpi.key} should be on_track until {_instant(change_at)}, but its first "
                f"check says {state['latest_check']}"
            )
        say(f"{kpi.key}: on_track, expected {state['latest_check']['expected']}")
        return change_at

    def verdicts(self) -> None:
        """20 measurements, one at a time; how soon the API shows a check that counts each."""
        step("verdicts from the worker")
        latencies = []
        for index in range(20):
            kpi = self.verdict_kpis[index % len(self.verdict_kpis)]
            self._post_point(
                kpi, 5.0 + index, datetime.now(UTC) - timedelta(seconds=1), bulk=index % 2 == 1
            )
            posted_at = time.monotonic()

            def counted(kpi=kpi):
                state = self._kpi_state(kpi)
                return time.monotonic() if self._count(state) >= kpi.posted else None

            seen_at = wait_until(
                counted,
                timeout=VERDICT_TIMEOUT_SECONDS,
                interval=0.05,
                what=f"a check of {kpi.key} counting measurement {kpi.posted}",
            )
            latencies.append(seen_at - posted_at)
        _, p95, _ = self.figures.latencies("verdict after a measurement", latencies)
        met = p95 <= VERDICT_GOAL_SECONDS
        line = f"p95 {p95:.2f} s {'≤' if met else '>'} {VERDICT_GOAL_SECONDS:g} s"
        say(f"verdict latency: {'GOAL MET' if met else 'GOAL MISSED'} ({line})")
        self.figures.add("verdict latency goal", f"{'GOAL MET' if met else 'GOAL MISSED'} ({line})")

    def clock_observe(self, change_at: datetime) -> None:
        step("the time-driven change")
        kpi = self.clock_kpi

        def at_risk():
            self.stack.require_running()
            state = self._kpi_state(kpi)
            if state["status"] == "at_risk":
                return state, datetime.now(UTC)
            if state["status"] != "on_track":
                raise SmokeFailure(f"{kpi.key} went {state['status']}: {state['latest_check']}")
            return None

        wait = (change_at - datetime.now(UTC)).total_seconds() + 30
        state, seen = wait_until(
            at_risk, timeout=max(wait, 5), interval=0.25, what=f"{kpi.key} to become at_risk"
        )
        check = state["latest_check"]
        if self._count(state) != 1 or kpi.posted != 1:
            raise SmokeFailure(f"{kpi.key} changed with more than its one measurement: {check}")
        checked_at = _parse_instant(check["checked_at"])
        say(f"{kpi.key}: at_risk ({check['previous_status']} → {check['status']}), no new data")

        def event():
            for received in self.receiver.received():
                data = received.data
                if (
                    received.type == "kpi.status_changed"
                    and data.get("kpi") == kpi.key
                    and data.get("to") == "at_risk"
                ):
                    return received
            return None

        received = wait_until(
            event, timeout=30, interval=0.2, what=f"the kpi.status_changed event of {kpi.key}"
        )
        if received.data.get("from") != "on_track":
            raise SmokeFailure(f"the event says {received.data}")
        changed_at = _parse_instant(received.data["checked_at"])
        if changed_at < change_at:
            raise SmokeFailure(
                f"{kpi.key} fell behind at {_instant(changed_at)}, before the predicted "
                f"{_instant(change_at)}: the KPI maths disagree"
            )
        delay = (changed_at - change_at).total_seconds()
        say(
            f"kpi.status_changed on_track → at_risk received, signature verified; "
            f"checked at +{delay:.2f} s after the predicted instant "
            f"(seen in the API at +{(seen - change_at).total_seconds():.2f} s; "
            f"latest check at {_instant(checked_at)})"
        )
        self.figures.add("time-driven change: predicted → sweep check", f"{delay:.2f} s")

    # --- the worker stops mid-stream ------------------------------------------------------

    def worker_restart(self) -> None:
        step("the worker stops and starts again mid-stream")
        worker = self.stack.processes["worker"]
        stream = Stream(
            kpis=self.stream_kpis,
            client=self.itsm,
            start=datetime.now(UTC) - timedelta(hours=1),
        )
        thread = threading.Thread(target=stream.run, name="measurement-stream", daemon=True)
        thread.start()

        def posted(count: int):
            def probe():
                if stream.error:
                    raise SmokeFailure(f"posting the stream failed: {stream.error}")
                return stream.posted >= count

            return probe

        try:
            wait_until(posted(20), timeout=60, interval=0.05, what="20 points of the stream")
            stopped_after = stream.posted
            shutdown = worker.warm_stop(timeout=30)
            say(f"worker stopped after {stopped_after} points (warm shutdown: {shutdown:.1f} s)")
            self.figures.add("worker warm shutdown", f"{shutdown:.1f} s")
            restored = re.findall(r"Restoring (\d+) unacknowledged", worker.log_path.read_text())
            if restored:
                say(f"the worker handed back {restored[-1]} unacknowledged task(s) to the broker")
            down_from = stream.posted
            wait_until(posted(down_from + 20), timeout=60, interval=0.05, what="points meanwhile")
            say(f"{stream.posted - stopped_after} points posted since the SIGTERM")
            self.stack.start("worker")
            restarted = time.monotonic()
            wait_until(posted(stream.posted + 10), timeout=60, interval=0.05, what="more points")
        finally:
            stream.finish.set()
            thread.join(timeout=60)
        if thread.is_alive() or stream.error:
            raise SmokeFailure(f"the measurement stream did not finish: {stream.error or 'hung'}")
        self.posted_total += stream.posted
        ended = stream.last_post_at
        say(f"{stream.posted} points posted to {len(self.stream_kpis)} KPIs")

        expected = {kpi.id: kpi.posted for kpi in self.stream_kpis}

        def consistent():
            self.stack.require_running()
            page = self.itsm.get(f"/api/v1/kpis/?initiative={self.initiative_id}&limit=1000")
            counts = {row["id"]: self._count(row) for row in page.get("results", page)}
            behind = {k: (counts.get(k), n) for k, n in expected.items() if counts.get(k) != n}
            return time.monotonic() if not behind else None

        done = wait_until(
            consistent,
            timeout=60,
            interval=0.25,
            what="every streamed KPI's latest check to count all of its measurements",
        )
        say(
            f"every KPI's latest check counts all its points: {done - restarted:.1f} s after "
            f"the restart, {max(0.0, done - ended):.1f} s after the last point"
        )
        self.figures.add("recovery after the worker restart", f"{done - restarted:.1f} s")
