"""Load a realistic demo register: `manage.py seed_demo [--password PW]`.

Six demo logins (one per role) and a few more people, the service catalogue, five
organisational goals and thirteen initiatives spread over every state, with KPIs modelled
on real cases and months of measurements, so that the KPI checks show every status.

Everything is written through the services with the acting user, replaying each
initiative's story day by day: the transition log, the audit history, the actions and the
KPI check history read like months of real work. The services stamp rows with "now"; the
replay moves those stamps back to the day of the story (the one thing written directly).
Every fortnight of the story the tools post their measurements and the KPIs are checked
as of that day, so the status history is real too.

Idempotent: users, goals and services are found by name, initiatives by their external
id, KPIs by key; a second run adds nothing and only re-runs the KPI checks (the sweep).
Dates are relative to the day of the first run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.signals import post_save
from django.utils import timezone
from rest_framework.authtoken.models import Token

from improvement import evaluation, services
from improvement.choices import KPIStatus, Role, Step
from improvement.models import KPI, Action, Event, Goal, Initiative, Measurement, Practice, Service
from improvement.selectors import live_kpis

User = get_user_model()
UTC = dt.UTC

DEFAULT_PASSWORD = "cir-demo-2026"

# --- people ----------------------------------------------------------------------------

#: (username, first name, last name, role, is_staff, what they are in the demo)
LOGINS = [
    ("csi", "Carla", "Santos", Role.CSI_MANAGER, True, "runs the register; admin console"),
    ("tina", "Tina", "Okafor", Role.IMPROVEMENT_TEAM, False, "improvement analyst"),
    ("sam", "Sam", "Whitfield", Role.SERVICE_OWNER, False, "owns Online Banking, Payments, Email"),
    ("paula", "Paula", "Reyes", Role.PROCESS_OWNER, False, "owns service desk, incident, change"),
    ("victor", "Victor", "Lund", Role.VIEWER, False, "reads everything"),
    ("servicenow", "ServiceNow", "Integration", Role.ITSM_INTEGRATION, False, "API only (token)"),
]
#: people who appear in RACI and actions but have no demo login (unusable password)
PEOPLE = [
    ("amira", "Amira", "Hughes", Role.SERVICE_OWNER),  # clinical systems: the EPR
    ("omar", "Omar", "Haddad", Role.SERVICE_OWNER),  # network services
    ("lena", "Lena", "Berg", Role.IMPROVEMENT_TEAM),  # service desk team lead
]

# --- catalogue and goals -----------------------------------------------------------------

#: (name, owner, description)
SERVICES = [
    ("Online Banking", "sam", "Retail internet and mobile banking for 1.2 million customers."),
    ("Payments", "sam", "Card and faster-payments processing, with the nightly settlement batch."),
    (
        "Electronic Patient Record",
        "amira",
        "The hospital's clinical record: wards, outpatients and A&E, around the clock.",
    ),
    ("Service Desk", "paula", "First-line support by phone, chat and portal."),
    ("Email", "sam", "On-premises Exchange mail and the SMTP relays."),
    ("Network", "omar", "WAN, branch connectivity, core switching and firewalls."),
]
#: ITIL practices (created by a migration) and the process owner to give them, if unowned
PRACTICE_OWNERS = {
    "Service desk": "paula",
    "Incident management": "paula",
    "Change enablement": "paula",
}
#: code: (title, owner, horizon in days from today, description)
GOALS = {
    "downtime": (
        "Zero unplanned downtime for customer-facing services",
        "sam",
        400,
        "Customers can bank, pay and get care at any hour: every unplanned outage of a "
        "customer-facing service is treated as a defect to remove.",
    ),
    "epr": (
        "Clinicians get records in under 2 seconds",
        "amira",
        220,
        "A patient's record opens in under 2 seconds (95th percentile) on every ward, in "
        "outpatients and in A&E, at any hour.",
    ),
    "first": (
        "Resolve customer issues first time",
        "paula",
        300,
        "Most contacts are resolved at the first contact, without hand-offs or call-backs.",
    ),
    "csat": (
        "Customer satisfaction above 4.2/5",
        "paula",
        300,
        "The post-contact survey averages above 4.2 out of 5, every month.",
    ),
    "change": (
        "Changes land safely: 95 % succeed first time",
        "paula",
        365,
        "At least 95 % of changes succeed without an incident or a rollback; emergency "
        "changes are the exception.",
    ),
}

# --- measurement series -----------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """How a KPI's measurements were produced: a level over time plus seeded noise.

    `levels` are (day, level) anchors (days from today, negative in the past), linear in
    between and flat beyond. Kinds: `gauss` (level + normal noise), `poisson` (a daily
    count with the level as its rate), `events` (one point of value 1 per event, the level
    being events per day), `rolling` (the posted value is the sum of the last `rolling`
    daily gauss values: a tool posting a rolling 30-day total).
    """

    levels: tuple[tuple[int, float], ...]
    noise: float = 0.0
    kind: str = "gauss"
    every: int = 1
    digits: int = 1
    low: float = 0.0
    high: float | None = None
    rolling: int = 0
    stop: int = 0
    #: days without events: a count window's edge falls on it, so the verdict does not
    #: depend on the hour of the day the demo is seeded
    quiet: tuple[int, ...] = ()
    source: str = "servicenow"
    poster: str = "servicenow"
    notes: tuple[tuple[int, str], ...] = ()

    def level(self, day: int) -> float:
        anchors = self.levels
        if day <= anchors[0][0]:
            return anchors[0][1]
        for (d0, v0), (d1, v1) in zip(anchors, anchors[1:], strict=False):
            if day <= d1:
                return v0 + (v1 - v0) * (day - d0) / (d1 - d0)
        return anchors[-1][1]

    def points(self, key: str, today: dt.date) -> list[dict]:
        """The points of this series, oldest first; the same every run (seeded by key)."""
        rng = random.Random(f"cir-demo:{key}")
        start = self.levels[0][0]
        notes = sorted(self.notes)
        result: list[dict] = []
        raw: list[float] = []
        first = start - self.rolling
        for day in range(first, self.stop + 1):
            date = today + dt.timedelta(days=day)
            if self.kind == "events":
                count = _poisson(rng, self.level(day))
                for _ in range(count):
                    at = dt.datetime.combine(date, dt.time(rng.randrange(1, 23)), UTC)
                    at += dt.timedelta(minutes=rng.randrange(60))
                    note = f"P1 INC{rng.randrange(87000, 99999):07d}"
                    if day not in self.quiet:
                        result.append({"measured_at": at, "value": 1.0, "note": note})
                continue
            if self.kind == "poisson":
                value = float(_poisson(rng, self.level(day)))
            else:
                value = self.level(day) + rng.gauss(0, self.noise)
                value = max(self.low, value)
                if self.high is not None:
                    value = min(self.high, value)
            if self.kind == "rolling":
                raw.append(value)
                if day < start:
                    continue
                value = sum(raw[-self.rolling :])
            if (day - start) % self.every:
                continue
            at = dt.datetime.combine(date, dt.time(0, 5), UTC)
            result.append({"measured_at": at, "value": round(value, self.digits), "note": ""})
        result.sort(key=lambda p: p["measured_at"])
        for point in result:
            while notes and notes[0][0] <= (point["measured_at"].date() - today).days:
                point["note"] = notes.pop(0)[1]
        for point in result:
            point["source"] = self.source
        return result


def _poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw (Knuth): small rates only, which is all a daily count needs."""
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


SERIES = {
    # a bank cutting recurring outage downtime by 40 % in six months
    "online-banking-outage-minutes": Series(
        ((-330, 21.0), (-135, 20.7), (-110, 20.0), (-96, 17.5), (-80, 16.0), (-58, 15.0),
         (0, 14.4)),
        noise=4.0, kind="rolling", rolling=30, digits=0, source="dynatrace",
        notes=((-96, "Failover fix live (CHG0031877)"), (-58, "Certificates renewed by ACME")),
    ),  # fmt: skip
    "online-banking-p1-incidents": Series(
        ((-200, 0.27), (-135, 0.27), (-96, 0.2), (-60, 0.16), (0, 0.15)),
        kind="events", quiet=(-30,),
    ),
    # a hospital speeding up its patient record
    "epr-record-open-p95": Series(
        ((-260, 4.8), (-180, 4.8), (-150, 4.75), (-135, 4.4), (-100, 4.3), (-70, 4.1),
         (-55, 3.6), (0, 3.45)),
        noise=0.22, digits=2, source="appdynamics",
        notes=((-135, "Summary cache live"), (-55, "Database on NVMe (CHG0032410)")),
    ),  # fmt: skip
    # a service desk cutting resolution time by 15 % and raising satisfaction by 25 %
    "service-desk-mttr": Series(
        ((-420, 9.7), (-240, 9.6), (-200, 9.35), (-160, 9.05), (-126, 8.9), (-100, 8.5),
         (-60, 7.9), (0, 7.6)),
        noise=0.8, digits=2,
    ),  # fmt: skip
    "service-desk-csat": Series(
        ((-420, 3.4), (-240, 3.4), (-160, 3.52), (-126, 3.6), (-60, 3.85), (0, 3.94)),
        noise=0.07, every=7, digits=2, high=5.0, source="qualtrics",
    ),
    "service-desk-fcr": Series(
        ((-400, 58.0), (-220, 58.0), (-180, 61.5), (-120, 66.5), (-80, 71.0), (-50, 72.8),
         (0, 73.2)),
        noise=2.4, digits=1, high=100.0,
    ),  # fmt: skip
    "service-desk-reopen-rate": Series(
        ((-400, 9.1), (-220, 9.0), (-150, 7.6), (-80, 6.0), (-50, 5.5), (0, 5.3)),
        noise=0.7, digits=1,
    ),
    # change success rate achieved, then lost after closure: reverted
    "payments-change-success": Series(
        ((-460, 86.0), (-290, 86.0), (-220, 89.0), (-160, 93.5), (-135, 97.0), (-42, 97.2),
         (-28, 90.5), (0, 90.0)),
        noise=0.8, every=7, digits=1, high=100.0,
        notes=((-28, "2 failed releases: the new vendor skipped peer review"),),
    ),  # fmt: skip
    # worse since the baseline: regressed
    "network-change-success": Series(
        ((-200, 92.0), (-65, 92.0), (-40, 90.0), (0, 87.6)), noise=1.0, every=7, digits=1,
        high=100.0,
    ),
    "network-change-p1-incidents": Series(
        ((-200, 0.13), (-65, 0.13), (-30, 0.2), (0, 0.24)), kind="poisson", digits=0,
    ),
    "service-desk-password-resets": Series(
        ((-182, 404.0), (0, 412.0)), noise=16.0, every=7, digits=0,
    ),
    "online-banking-release-downtime": Series(
        ((-180, 62.0), (0, 58.0)), noise=14.0, every=14, digits=0, low=25.0,
        source="servicenow-change",
    ),
    "email-patch-compliance": Series(
        ((-262, 44.0), (-200, 45.0), (-150, 64.0), (-90, 77.0), (-72, 78.0)),
        noise=2.5, every=7, digits=0, high=100.0, stop=-85, source="wsus", poster="tina",
    ),
}  # fmt: skip

# --- the initiatives, told as timelines ---------------------------------------------------
#
# Each story is a list of (day, actor, op, data): days from today (negative: past), the
# acting username, and one service call: create (initiative_create), move
# (initiative_transition), update (initiative_update), priority, record
# (step_record_update), kpi, kpi_update, action (named by "ref"), action_update (by "ref"),
# review. Users, goals, services and practices are named; int dates are days from today.
# The first entry creates the initiative; its (external_system, external_id) is the key.

SN = "https://example.service-now.com/nav_to.do?uri=problem.do%3Fsysparm_query%3Dnumber%3D"
JIRA = "https://example.atlassian.net/browse/"

STORIES: list[list[tuple]] = [
    # --- closed, with a KPI that slipped back after closure (reverted) -------------------
    [
        (-300, "tina", "create", {
            "title": "Raise the change success rate for Payments to 95 %",
            "description": "Internal audit finding IA-PAY-07: 14 % of changes to the Payments "
            "platform in the last two quarters failed or were rolled back, three of them "
            "causing P1 incidents during the nightly settlement batch. The audit asks for a "
            "measurable improvement within six months.",
            "source": "audit", "external_system": "jira", "external_id": "ITSM-1301",
            "external_url": f"{JIRA}ITSM-1301", "service": "Payments",
            "practice": "Change enablement", "value": 4, "effort": 3, "urgency": 4,
            "accountable": "sam", "responsible": ["sam", "paula"], "consulted": ["omar"],
            "informed": ["victor"], "due_date": -110,
        }),
        (-296, "csi", "move", {"to": "vision", "comment": "Audit finding: accepted."}),
        (-294, "sam", "record", {
            "record": "vision", "goals": ["change", "downtime"],
            "statement": "Payments changes land without a customer noticing: at least 95 % "
            "succeed first time and none disturbs the settlement batch.",
            "stakeholders": "Internal audit, Payments operations, the card scheme liaison, "
            "the CAB.",
            "expected_value": "Close the audit finding; remove the main cause of late "
            "settlement (penalties of ~£40 000 per late batch).",
            "authority": "Sam Whitfield (service owner); CAB for process changes.",
        }),
        (-292, "sam", "move", {"to": "baseline"}),
        (-290, "sam", "record", {
            "record": "baseline", "assessed_on": -290,
            "assessment": "Two quarters of change records: 212 changes, 30 failed or rolled "
            "back (86 % success). Failures cluster on Friday releases and on changes without "
            "a tested rollback plan.",
            "method": "ServiceNow change records, closure code and linked incidents; weekly "
            "success rate, KPI = mean over 30 days.",
        }),
        (-290, "sam", "kpi", {
            "key": "payments-change-success", "name": "Change success rate (Payments)",
            "unit": "%", "kind": "process", "direction": "increase", "aggregation": "mean",
            "window_days": 30, "baseline_value": 86.0, "baseline_date": -290,
            "csf": "Every change has a tested rollback plan",
        }),
        (-288, "sam", "move", {"to": "target"}),
        (-286, "sam", "record", {
            "record": "target",
            "objectives": "Change success rate for Payments of at least 95 % (30-day mean) "
            "within six months of the baseline, sustained for a quarter.",
            "csfs": "Peer review on every change; no change in the settlement window.",
        }),
        (-286, "sam", "kpi_update", {"key": "payments-change-success", "target_value": 95.0,
                                     "target_date": -110}),
        (-285, "sam", "move", {"to": "plan"}),
        (-284, "paula", "record", {
            "record": "plan",
            "approach": "Tighten the normal-change path for Payments: peer review with "
            "automated pre-checks, a freeze around the settlement batch, and a rollback plan "
            "tested in staging before CAB approval.",
            "hypotheses": "Changes with a tested rollback plan fail less than half as often "
            "(compare the next 50 changes with and without).",
            "checkpoints": "Monthly at the Payments service review.",
            "risks": "Slower delivery for the product teams; the vendor's release process.",
        }),
        (-284, "paula", "action", {"ref": "peer", "title": "Peer review and automated "
                                   "pre-checks for every Payments change",
                                   "owner": "paula", "due_date": -240}),
        (-284, "sam", "action", {"ref": "freeze", "title": "Change freeze 22:00–04:00 around "
                                 "the settlement batch", "owner": "sam", "due_date": -260}),
        (-284, "sam", "action", {"ref": "rollback", "title": "Rollback plan tested in staging "
                                 "before CAB approval", "owner": "sam", "due_date": -220}),
        (-282, "sam", "move", {"to": "action"}),
        (-280, "sam", "action_update", {"ref": "freeze", "status": "in_progress"}),
        (-262, "sam", "action_update", {"ref": "freeze", "status": "done",
                                        "notes": "In the change calendar; the CAB enforces it."}),
        (-270, "paula", "action_update", {"ref": "peer", "status": "in_progress"}),
        (-238, "paula", "action_update", {"ref": "peer", "status": "done"}),
        (-236, "sam", "action_update", {"ref": "rollback", "status": "in_progress"}),
        (-214, "sam", "action_update", {"ref": "rollback", "status": "done"}),
        (-104, "sam", "move", {"to": "review", "comment": "Target date reached."}),
        (-102, "sam", "review", {
            "decision": "achieved",
            "progress_check": "Change success rate 97 % (30-day mean) against a target of "
            "95 %, above target for a month. No settlement delay since the freeze.",
            "value_check": "Audit finding IA-PAY-07 closed by internal audit.",
            "notes": "Hand over to business as usual; keep watching the rate.",
        }),
        (-98, "sam", "move", {"to": "sustain"}),
        (-92, "sam", "record", {
            "record": "sustain", "monitor_until": 120,
            "embedding": "Change model 'Payments normal change' in ServiceNow enforces peer "
            "review and the rollback test; the freeze is in the change calendar; the rate is "
            "on the CAB dashboard.",
            "lessons_learned": "The freeze did most of the work in the first month; the "
            "rollback test caught 11 bad changes before they reached production.",
        }),
        (-60, "csi", "move", {"to": "closed", "outcome": "successful",
                              "comment": "Target met and embedded; audit finding closed."}),
    ],
    # --- review, iteration 2: one KPI achieved, one missed ------------------------------
    [
        (-262, "paula", "create", {
            "title": "Cut service desk resolution time by 15 % and lift satisfaction by 25 %",
            "description": "The quarterly customer survey scored the service desk 3.4 out of "
            "5; the most common complaint was waiting for a fix. Mean time to resolve "
            "incidents is 9.6 hours. Goal: resolve 15 % faster and raise satisfaction by 25 "
            "% within eight months.",
            "source": "survey", "external_system": "jira", "external_id": "ITSM-1420",
            "external_url": f"{JIRA}ITSM-1420", "service": "Service Desk",
            "practice": "Service desk", "value": 4, "effort": 3, "urgency": 4,
            "accountable": "paula", "responsible": ["paula", "tina", "lena"],
            "consulted": ["sam"], "informed": ["victor"], "due_date": -14,
        }),
        (-258, "csi", "move", {"to": "vision", "comment": "Survey result: accepted."}),
        (-255, "paula", "record", {
            "record": "vision", "goals": ["first", "csat"],
            "statement": "Callers get their fix quickly and feel looked after while they wait.",
            "stakeholders": "Staff and customers who contact the desk; service desk agents; "
            "second-line resolver groups.",
            "expected_value": "Fewer repeat calls and complaints; 0.9 h less lost time per "
            "incident for the caller.",
            "authority": "Paula Reyes (service desk process owner).",
        }),
        (-252, "paula", "move", {"to": "baseline"}),
        (-242, "paula", "record", {
            "record": "baseline", "assessed_on": -242,
            "assessment": "Six months of incident data: mean time to resolve 9.6 h; 38 % of "
            "that time is waiting in second-line queues. Survey satisfaction 3.4 / 5.",
            "method": "Daily mean resolution time from ServiceNow; weekly survey mean from "
            "Qualtrics; both KPIs as 30-day means.",
        }),
        (-241, "paula", "kpi", {
            "key": "service-desk-mttr", "name": "Mean time to resolve incidents", "unit": "h",
            "kind": "process", "direction": "decrease", "aggregation": "mean",
            "window_days": 30, "baseline_value": 9.6, "baseline_date": -240,
        }),
        (-241, "paula", "kpi", {
            "key": "service-desk-csat", "name": "Customer satisfaction (post-contact survey)",
            "unit": "/5", "kind": "experience", "direction": "increase",
            "aggregation": "mean", "window_days": 30, "baseline_value": 3.4,
            "baseline_date": -240,
        }),
        (-238, "paula", "move", {"to": "target"}),
        (-237, "paula", "record", {
            "record": "target",
            "objectives": "Mean time to resolve down 15 % (9.6 h → 8.16 h) and satisfaction up "
            "25 % (3.4 → 4.25) as 30-day means, within eight months.",
            "csfs": "Tickets are owned end to end; callers are kept informed.",
        }),
        (-237, "paula", "kpi_update", {"key": "service-desk-mttr", "target_change_pct": -15,
                                       "target_date": -14}),
        (-237, "paula", "kpi_update", {"key": "service-desk-csat", "target_change_pct": 25,
                                       "target_date": -14}),
        (-235, "paula", "move", {"to": "plan"}),
        (-234, "tina", "record", {
            "record": "plan",
            "approach": "Iteration 1: shorten queues — swarm P2/P3 tickets in a daily huddle, "
            "publish the top-20 fixes, auto-assign by category.",
            "hypotheses": "Swarming cuts the second-line wait by a third.",
            "checkpoints": "Fortnightly with the resolver group leads.",
            "risks": "Huddles take agents off the phones at peak time.",
        }),
        (-234, "lena", "action", {"ref": "swarm", "title": "Daily swarming huddle for P2/P3 "
                                  "tickets", "owner": "lena", "due_date": -200}),
        (-234, "tina", "action", {"ref": "kb", "title": "Publish the top-20 fixes as "
                                  "knowledge articles", "owner": "tina", "due_date": -190}),
        (-234, "paula", "action", {"ref": "assign", "title": "Auto-assign tickets by category",
                                   "owner": "paula", "due_date": -180}),
        (-230, "paula", "move", {"to": "action"}),
        (-228, "tina", "action_update", {"ref": "swarm", "status": "in_progress"}),
        (-205, "tina", "action_update", {"ref": "swarm", "status": "done"}),
        (-220, "tina", "action_update", {"ref": "kb", "status": "in_progress"}),
        (-192, "tina", "action_update", {"ref": "kb", "status": "done",
                                         "notes": "KB0010198–KB0010217 published."}),
        (-200, "paula", "action_update", {"ref": "assign", "status": "in_progress"}),
        (-172, "paula", "action_update", {"ref": "assign", "status": "done"}),
        (-128, "paula", "move", {"to": "review", "comment": "Mid-point review."}),
        (-126, "paula", "review", {
            "decision": "iterate",
            "progress_check": "Mean time to resolve 8.75 h, on course for 8.16 h; satisfaction "
            "3.55, only a fifth of the way to 4.25 and falling behind.",
            "value_check": "Still the survey's top complaint; the desk's budget review "
            "depends on it.",
            "notes": "Next round: callers wait between contacts, and updates are terse. "
            "Attack call-backs and communication.",
        }),
        (-124, "paula", "move", {"to": "plan", "comment": "Iteration 2: call-backs and "
                                 "customer updates."}),
        (-122, "tina", "record", {
            "record": "plan",
            "approach": "Iteration 2: call back every P3 caller within 2 hours, send a "
            "plain-language update at every status change, coach agents on ownership.",
            "hypotheses": "Call-backs within 2 hours lift satisfaction by 0.3 on the tickets "
            "that get them (A/B by team for four weeks).",
            "checkpoints": "Weekly survey read-out.",
            "risks": "Call-backs add load in the afternoon peak.",
        }),
        (-122, "lena", "action", {"ref": "callback", "title": "Call back every P3 caller "
                                  "within 2 hours", "owner": "lena", "due_date": -95}),
        (-122, "tina", "action", {"ref": "updates", "title": "Plain-language update at every "
                                  "status change", "owner": "tina", "due_date": -90}),
        (-122, "paula", "action", {"ref": "coach", "title": "Coach agents on ownership and "
                                   "empathy", "owner": "paula", "due_date": -30}),
        (-118, "paula", "move", {"to": "action"}),
        (-116, "tina", "action_update", {"ref": "callback", "status": "in_progress"}),
        (-97, "tina", "action_update", {"ref": "callback", "status": "done"}),
        (-110, "tina", "action_update", {"ref": "updates", "status": "in_progress"}),
        (-88, "tina", "action_update", {"ref": "updates", "status": "done"}),
        (-80, "paula", "action_update", {"ref": "coach", "status": "in_progress",
                                         "notes": "Two of five teams coached."}),
        (-6, "paula", "move", {"to": "review", "comment": "Target date passed: review of "
                               "iteration 2."}),
    ],
    # --- sustain: achieved, and staying achieved ---------------------------------------
    [
        (-232, "tina", "create", {
            "title": "Raise first-contact resolution at the service desk",
            "description": "Agents suggested that a third of the tickets passed to second "
            "line could be resolved at first contact with the right access and a searchable "
            "fix library. First-contact resolution is 58 %, against about 70 % for "
            "comparable desks.",
            "source": "staff_suggestion", "external_system": "jira",
            "external_id": "ITSM-1388", "external_url": f"{JIRA}ITSM-1388",
            "service": "Service Desk", "practice": "Service desk", "value": 4, "effort": 2,
            "urgency": 3, "accountable": "paula", "responsible": ["tina", "lena"],
            "informed": ["victor"], "due_date": -40,
        }),
        (-228, "csi", "move", {"to": "vision"}),
        (-226, "tina", "record", {
            "record": "vision", "goals": ["first", "csat"],
            "statement": "Seven in ten contacts are resolved while the caller is still on "
            "the line.",
            "stakeholders": "Callers, first-line agents, second-line resolver groups.",
            "expected_value": "About 900 fewer escalations a month; second line freed for "
            "problem work.",
            "authority": "Paula Reyes (process owner).",
        }),
        (-224, "tina", "move", {"to": "baseline"}),
        (-221, "tina", "record", {
            "record": "baseline", "assessed_on": -221,
            "assessment": "First-contact resolution 58 %; 9 % of resolved tickets reopen "
            "within 7 days.",
            "method": "Daily figures from ServiceNow; KPIs as 30-day means.",
        }),
        (-220, "tina", "kpi", {
            "key": "service-desk-fcr", "name": "First-contact resolution", "unit": "%",
            "kind": "process", "direction": "increase", "aggregation": "mean",
            "window_days": 30, "baseline_value": 58.0, "baseline_date": -220,
            "target_value": 70.0, "target_date": -50,
        }),
        (-220, "tina", "kpi", {
            "key": "service-desk-reopen-rate", "name": "Tickets reopened within 7 days",
            "unit": "%", "kind": "experience", "direction": "decrease",
            "aggregation": "mean", "window_days": 30, "baseline_value": 9.0,
            "baseline_date": -220, "target_value": 6.0, "target_date": -50,
        }),
        (-218, "tina", "move", {"to": "target"}),
        (-217, "tina", "record", {
            "record": "target",
            "objectives": "First-contact resolution at 70 % and reopen rate at 6 % or less "
            "(30-day means) within six months.",
            "csfs": "First line has the access and knowledge to fix the common issues.",
        }),
        (-216, "tina", "move", {"to": "plan"}),
        (-215, "tina", "record", {
            "record": "plan",
            "approach": "Give first line read access to the admin consoles, build a "
            "searchable fix library, and review escalations weekly.",
            "hypotheses": "Half of escalations are access-bound, not skill-bound.",
            "checkpoints": "Weekly escalation review.",
            "risks": "Access must pass the security review.",
        }),
        (-215, "paula", "action", {"ref": "access", "title": "First-line read access to the "
                                   "banking and EPR admin consoles", "owner": "paula",
                                   "due_date": -180}),
        (-215, "tina", "action", {"ref": "library", "title": "Searchable fix library in the "
                                  "service portal", "owner": "tina", "due_date": -170}),
        (-215, "lena", "action", {"ref": "review", "title": "Weekly 'could we have fixed "
                                  "it?' review of escalations", "owner": "lena",
                                  "due_date": -190}),
        (-212, "tina", "move", {"to": "action"}),
        (-210, "paula", "action_update", {"ref": "access", "status": "in_progress"}),
        (-183, "paula", "action_update", {"ref": "access", "status": "done"}),
        (-205, "tina", "action_update", {"ref": "library", "status": "in_progress"}),
        (-168, "tina", "action_update", {"ref": "library", "status": "done"}),
        (-195, "tina", "action_update", {"ref": "review", "status": "done"}),
        (-46, "tina", "move", {"to": "review"}),
        (-45, "paula", "review", {
            "decision": "achieved",
            "progress_check": "First-contact resolution 71 % (target 70 %) and reopen rate "
            "5.6 % (target 6 %), both on target for over a month.",
            "value_check": "Yes: second line reports 30 % fewer escalations.",
        }),
        (-42, "tina", "move", {"to": "sustain"}),
        (-40, "tina", "record", {
            "record": "sustain", "monitor_until": 140,
            "embedding": "Knowledge article KB0010234 'Resolving at first contact'; the fix "
            "library has an owner and a weekly slot; both KPIs on the service desk "
            "dashboard with an alert below 68 %.",
            "lessons_learned": "Access, not skill, drove most escalations; the weekly review "
            "found a new quick win almost every week.",
        }),
    ],
    # --- cancelled after a review decided to stop ---------------------------------------
    [
        (-215, "tina", "create", {
            "title": "Patch the on-premises Email servers within 14 days",
            "description": "Risk R-112: the Exchange servers and SMTP relays run 60+ days "
            "behind security patches; two relays are on an unsupported OS.",
            "source": "risk", "external_system": "jira", "external_id": "ITSM-1502",
            "external_url": f"{JIRA}ITSM-1502", "service": "Email",
            "practice": "Information security management", "value": 3, "effort": 3,
            "urgency": 4, "accountable": "sam", "responsible": ["tina", "omar"],
        }),
        (-212, "csi", "move", {"to": "vision"}),
        (-210, "tina", "record", {
            "record": "vision", "goals": ["downtime"],
            "statement": "Every Email server carries last month's security patches.",
            "expected_value": "Risk R-112 reduced from high to low.",
        }),
        (-207, "tina", "move", {"to": "baseline"}),
        (-201, "tina", "kpi", {
            "key": "email-patch-compliance", "name": "Email servers patched within 14 days",
            "unit": "%", "kind": "technical", "direction": "increase",
            "aggregation": "latest", "baseline_value": 45.0, "baseline_date": -200,
        }),
        (-199, "tina", "move", {"to": "target"}),
        (-198, "tina", "kpi_update", {"key": "email-patch-compliance", "target_value": 95.0,
                                      "target_date": -20}),
        (-197, "tina", "move", {"to": "plan"}),
        (-196, "tina", "record", {
            "record": "plan",
            "approach": "Patch rings with WSUS, an agreed monthly window, replace the two "
            "unsupported relays.",
        }),
        (-196, "tina", "action", {"ref": "wsus", "title": "Automate patching with WSUS "
                                  "rings", "owner": "omar", "due_date": -150}),
        (-196, "tina", "action", {"ref": "window", "title": "Agree a monthly patch window "
                                  "with the business", "owner": "sam", "due_date": -170}),
        (-196, "tina", "action", {"ref": "relays", "title": "Replace the two unsupported "
                                  "relay servers", "owner": "omar", "due_date": -60}),
        (-191, "tina", "move", {"to": "action"}),
        (-172, "tina", "action_update", {"ref": "window", "status": "done"}),
        (-151, "tina", "action_update", {"ref": "wsus", "status": "done"}),
        (-120, "tina", "action_update", {"ref": "relays", "status": "in_progress"}),
        (-77, "tina", "move", {"to": "review", "comment": "Architecture board decision."}),
        (-75, "tina", "review", {
            "decision": "stop",
            "progress_check": "Patch compliance 76 %, up from 45 %; the relays are not "
            "replaced yet.",
            "value_check": "Email moves to Microsoft 365 next quarter (architecture board); "
            "the on-premises servers will be decommissioned, so reaching 95 % here no "
            "longer pays back.",
        }),
        (-72, "csi", "move", {
            "to": "cancelled",
            "reason": "Superseded: Email moves to Microsoft 365 and the servers will be "
            "decommissioned.",
            "lessons_learned": "Check the architecture roadmap before accepting an "
            "improvement on a platform; the WSUS rings are reused for the file servers.",
        }),
    ],
    # --- action, with one move back to the plan: at risk --------------------------------
    [
        (-200, "tina", "create", {
            "title": "Open patient records in under 2 seconds",
            "description": "Ward managers report that clinicians wait 4–6 seconds for a "
            "patient record to open, worst during the morning ward round; some keep paper "
            "notes as a fallback. Monitoring confirms a 95th percentile of 4.8 s.",
            "source": "customer_feedback", "external_system": "servicenow",
            "external_id": "PRB0040031", "external_url": f"{SN}PRB0040031",
            "service": "Electronic Patient Record",
            "practice": "Capacity and performance management", "value": 5, "effort": 4,
            "urgency": 4, "accountable": "amira", "responsible": ["tina"],
            "consulted": ["omar"], "informed": ["victor", "paula"], "due_date": 60,
        }),
        (-196, "csi", "move", {"to": "vision", "comment": "Clinical safety concern: "
                               "accepted."}),
        (-194, "tina", "record", {
            "record": "vision", "goals": ["epr"],
            "statement": "A clinician opens any patient's record in under 2 seconds, on any "
            "ward, at any hour.",
            "stakeholders": "Clinicians and ward managers, the Chief Clinical Information "
            "Officer, the EPR vendor, infrastructure.",
            "expected_value": "About 25 minutes a day back per ward round team; paper "
            "fallback notes retired.",
            "authority": "Dr Amira Hughes (clinical systems owner).",
        }),
        (-190, "tina", "move", {"to": "baseline"}),
        (-182, "tina", "record", {
            "record": "baseline", "assessed_on": -182,
            "assessment": "Record-open time p95 4.8 s (median 2.9 s) over 80 days of "
            "monitoring; 7:30–10:00 is the worst period. Database I/O wait accounts for "
            "60 % of the time.",
            "method": "Daily 95th percentile from AppDynamics; KPI = median of the last 7 "
            "days.",
        }),
        (-180, "tina", "kpi", {
            "key": "epr-record-open-p95", "name": "Patient record open time (p95)",
            "unit": "s", "kind": "technical", "direction": "decrease",
            "aggregation": "median", "window_days": 7, "baseline_value": 4.8,
            "baseline_date": -180, "csf": "No ward waits on database I/O",
        }),
        (-178, "tina", "move", {"to": "target"}),
        (-176, "tina", "record", {
            "record": "target",
            "objectives": "p95 record-open time of 2.0 s or less (7-day median of the daily "
            "p95) within eight months.",
            "csfs": "Database storage and the interface engine keep up with the ward-round "
            "peak.",
        }),
        (-176, "tina", "kpi_update", {"key": "epr-record-open-p95", "target_value": 2.0,
                                      "target_date": 60}),
        (-170, "tina", "move", {"to": "plan"}),
        (-168, "tina", "record", {
            "record": "plan",
            "approach": "Cache the patient summary on the application tier.",
            "hypotheses": "The summary query is 70 % of the load; caching halves p95.",
            "risks": "Stale summaries: invalidate on every clinical write.",
        }),
        (-168, "tina", "action", {"ref": "cache", "title": "Cache the patient summary on the "
                                  "application tier", "owner": "tina", "due_date": -140}),
        (-160, "tina", "move", {"to": "action"}),
        (-158, "tina", "action_update", {"ref": "cache", "status": "in_progress"}),
        (-136, "tina", "action_update", {"ref": "cache", "status": "done",
                                         "notes": "Live; p95 down 0.4 s only."}),
        (-112, "tina", "move", {"to": "plan", "comment": "Caching gave 0.4 s, not 2 s: "
                                "storage I/O is the real bottleneck. Re-planning."}),
        (-110, "tina", "record", {
            "record": "plan",
            "approach": "Caching (done) plus the real bottleneck: move the EPR database to "
            "NVMe storage, tune the HL7 interface queue, and roll out the thin-client "
            "profile to the wards.",
            "hypotheses": "NVMe storage cuts database I/O wait by 80 %.",
            "checkpoints": "Fortnightly with the vendor and infrastructure.",
            "risks": "The storage move needs a 4-hour downtime window agreed with clinicians.",
        }),
        (-110, "tina", "action", {"ref": "nvme", "title": "Move the EPR database to NVMe "
                                  "storage", "owner": "omar", "due_date": -60}),
        (-110, "tina", "action", {"ref": "hl7", "title": "Tune the HL7 interface queue",
                                  "owner": "tina", "due_date": -14}),
        (-110, "tina", "action", {"ref": "thin", "title": "Thin-client profile on all wards",
                                  "owner": "amira", "due_date": 30}),
        (-104, "tina", "move", {"to": "action"}),
        (-100, "tina", "action_update", {"ref": "nvme", "status": "in_progress"}),
        (-56, "tina", "action_update", {"ref": "nvme", "status": "done",
                                        "notes": "Migrated in the Sunday window."}),
        (-40, "tina", "action_update", {"ref": "hl7", "status": "in_progress",
                                        "notes": "Waiting for the vendor's patch."}),
    ],
    # --- action: the bank's outage minutes, on track -------------------------------------
    [
        (-150, "servicenow", "create", {
            "title": "Cut recurring Online Banking outage downtime by 40 %",
            "description": "Problem PRB0040012 groups 23 incidents in six months in which "
            "Online Banking was unavailable after a database failover or a faulty release. "
            "Unplanned downtime averages about 620 minutes a month; each hour costs an "
            "estimated £85 000 in abandoned transactions and complaint handling.",
            "source": "problem", "external_system": "servicenow",
            "external_id": "PRB0040012", "external_url": f"{SN}PRB0040012",
            "service": "Online Banking", "practice": "Problem management", "value": 5,
            "effort": 3, "urgency": 5,
        }),
        (-148, "csi", "move", {"to": "vision", "comment": "Top recurring problem on a "
                               "customer-facing service."}),
        (-148, "csi", "update", {"accountable": "sam", "responsible": ["sam", "tina"],
                                 "consulted": ["omar", "paula"], "informed": ["victor"],
                                 "due_date": 47}),
        (-148, "csi", "priority", {"priority": "P1"}),
        (-146, "sam", "record", {
            "record": "vision", "goals": ["downtime"],
            "statement": "Online Banking customers never notice a failover or a release.",
            "stakeholders": "Retail customers (1.2 m active), the digital channels team, the "
            "contact centre, operational-resilience reporting to the regulator.",
            "expected_value": "Cut unplanned downtime by 40 % in six months: about 250 fewer "
            "outage minutes a month (~£350 000), and fewer P1 calls for the contact centre.",
            "authority": "Sam Whitfield (service owner); changes through the CAB.",
        }),
        (-140, "sam", "move", {"to": "baseline"}),
        (-136, "sam", "record", {
            "record": "baseline", "assessed_on": -136,
            "assessment": "Six months of incident data: 3 718 minutes of unplanned downtime "
            "over 23 incidents, about 620 minutes a month, and 8 P1 incidents a month. 72 % "
            "of the downtime traces to four causes: the database failover not promoting the "
            "replica, certificate expiry, release rollbacks and a session-service leak.",
            "method": "Rolling 30-day outage minutes from Dynatrace synthetic probes, "
            "reconciled with ServiceNow major incidents; P1 incidents from ServiceNow.",
        }),
        (-135, "sam", "kpi", {
            "key": "online-banking-outage-minutes",
            "name": "Unplanned outage minutes, rolling 30 days", "unit": "min",
            "kind": "technical", "direction": "decrease", "aggregation": "latest",
            "baseline_value": 620.0, "baseline_date": -135,
            "csf": "Failovers complete without customer impact",
        }),
        (-135, "sam", "kpi", {
            "key": "online-banking-p1-incidents", "name": "P1 incidents on Online Banking",
            "unit": "incidents", "kind": "process", "direction": "decrease",
            "aggregation": "count", "window_days": 30, "baseline_value": 8.0,
            "baseline_date": -135,
        }),
        (-133, "sam", "move", {"to": "target"}),
        (-131, "sam", "record", {
            "record": "target",
            "objectives": "Cut unplanned outage minutes by 40 % (620 → 372 a month) within six "
            "months of the baseline, and halve P1 incidents (8 → 4 a month).",
            "csfs": "The replica is promoted automatically; releases roll back in minutes; "
            "certificates never expire unnoticed.",
        }),
        (-131, "sam", "kpi_update", {"key": "online-banking-outage-minutes",
                                     "target_change_pct": -40, "target_date": 47}),
        (-131, "sam", "kpi_update", {"key": "online-banking-p1-incidents",
                                     "target_change_pct": -50, "target_date": 47}),
        (-128, "sam", "move", {"to": "plan"}),
        (-126, "tina", "record", {
            "record": "plan",
            "approach": "Remove the four recurring causes, biggest first, each as a change: "
            "fix the failover script, page on-call from synthetic login checks, automate "
            "certificate renewal, move the banking API to blue/green releases.",
            "hypotheses": "With automatic replica promotion a failover costs < 5 minutes "
            "instead of ~40 (check on the next three failovers).",
            "checkpoints": "Monthly at the service review; a game day after each fix.",
            "risks": "Blue/green needs a second production stack; failover tests only in "
            "the DR window.",
        }),
        (-126, "tina", "action", {"ref": "failover", "title": "Fix the database failover "
                                  "script (PRB0040012 root cause)", "owner": "omar",
                                  "due_date": -95}),
        (-126, "tina", "action", {"ref": "synthetic", "title": "Synthetic login checks from "
                                  "three regions, paging on-call", "owner": "tina",
                                  "due_date": -80}),
        (-126, "tina", "action", {"ref": "certs", "title": "Automate certificate renewal for "
                                  "the banking endpoints", "owner": "omar", "due_date": -60}),
        (-126, "sam", "action", {"ref": "bluegreen", "title": "Blue/green releases for the "
                                 "banking API", "owner": "sam", "due_date": -10}),
        (-126, "tina", "action", {"ref": "gameday", "title": "Monthly failover game day",
                                  "owner": "tina", "due_date": 30}),
        (-120, "sam", "move", {"to": "action"}),
        (-118, "tina", "action_update", {"ref": "failover", "status": "in_progress"}),
        (-97, "tina", "action_update", {"ref": "failover", "status": "done",
                                        "notes": "Replica promotion automated; 38 s failover "
                                        "in the DR test."}),
        (-110, "tina", "action_update", {"ref": "synthetic", "status": "in_progress"}),
        (-82, "tina", "action_update", {"ref": "synthetic", "status": "done"}),
        (-75, "tina", "action_update", {"ref": "certs", "status": "in_progress"}),
        (-59, "tina", "action_update", {"ref": "certs", "status": "done"}),
        (-50, "sam", "action_update", {"ref": "bluegreen", "status": "in_progress",
                                       "notes": "Second stack built; cut-over slipped after "
                                       "the release freeze."}),
    ],
    # --- rejected at intake ----------------------------------------------------------
    [
        (-104, "tina", "create", {
            "title": "Replace the service desk tool",
            "description": "Agents find the current tool slow and want a new ITSM suite.",
            "source": "staff_suggestion", "external_system": "jira",
            "external_id": "ITSM-1755", "external_url": f"{JIRA}ITSM-1755",
            "service": "Service Desk", "value": 2, "effort": 5, "urgency": 2,
        }),
        (-98, "csi", "move", {
            "to": "rejected",
            "reason": "A tool replacement is a procurement project, not a continual "
            "improvement: passed to the ITSM platform roadmap (ITSM-1760). Please raise the "
            "slow screens as separate improvement ideas.",
        }),
    ],
    # --- plan: getting worse while we plan (regressed) ---------------------------------
    [
        (-85, "servicenow", "create", {
            "title": "Stop network changes causing P1 incidents",
            "description": "Major incident INC0091822: a core switch change took down "
            "connectivity for 40 branches for 3 hours. It is the fourth P1 in two months "
            "caused by a network change.",
            "source": "incident", "external_system": "servicenow",
            "external_id": "INC0091822",
            "external_url": "https://example.service-now.com/nav_to.do?uri=incident.do"
            "%3Fsysparm_query%3Dnumber%3DINC0091822",
            "service": "Network", "practice": "Change enablement", "value": 4, "effort": 3,
            "urgency": 5,
        }),
        (-82, "csi", "move", {"to": "vision"}),
        (-82, "csi", "update", {"accountable": "tina", "responsible": ["tina", "omar"],
                                "consulted": ["paula"], "informed": ["sam", "victor"],
                                "due_date": 115}),
        (-78, "tina", "record", {
            "record": "vision", "goals": ["change", "downtime"],
            "statement": "Network changes never take a branch or a service down.",
            "stakeholders": "Branches, network operations, the CAB.",
            "expected_value": "No P1 from network changes; about 120 branch-hours a quarter "
            "of lost trading avoided.",
            "authority": "Omar Haddad (network services owner).",
        }),
        (-75, "tina", "move", {"to": "baseline"}),
        (-66, "tina", "record", {
            "record": "baseline", "assessed_on": -66,
            "assessment": "Network change success 92 % over six months; 4 P1 incidents a "
            "month caused by network changes.",
            "method": "ServiceNow change and incident records; success rate weekly, P1s "
            "daily, both over 30 days.",
        }),
        (-65, "tina", "kpi", {
            "key": "network-change-success", "name": "Network change success rate",
            "unit": "%", "kind": "process", "direction": "increase", "aggregation": "mean",
            "window_days": 30, "baseline_value": 92.0, "baseline_date": -65,
        }),
        (-65, "tina", "kpi", {
            "key": "network-change-p1-incidents",
            "name": "P1 incidents caused by network changes", "unit": "incidents",
            "kind": "technical", "direction": "decrease", "aggregation": "sum",
            "window_days": 30, "baseline_value": 4.0, "baseline_date": -65,
        }),
        (-50, "tina", "move", {"to": "target"}),
        (-48, "tina", "record", {
            "record": "target",
            "objectives": "Network change success at 98 % and at most 1 P1 a month from "
            "network changes within six months.",
        }),
        (-48, "tina", "kpi_update", {"key": "network-change-success", "target_value": 98.0,
                                     "target_date": 115}),
        (-48, "tina", "kpi_update", {"key": "network-change-p1-incidents",
                                     "target_change_pct": -75, "target_date": 115}),
        (-45, "tina", "move", {"to": "plan"}),
        (-40, "tina", "record", {
            "record": "plan",
            "approach": "Automated pre-change checks (configuration diff and reachability) "
            "for core switches and firewalls; peer review of every network change.",
            "risks": "Change volume is rising with the branch refresh; the checks need a lab.",
        }),
        (-40, "tina", "action", {"ref": "prechecks", "title": "Automated pre-change checks "
                                 "for core switches", "owner": "omar", "due_date": 20}),
        (-40, "tina", "action", {"ref": "peer", "title": "Peer review of every firewall and "
                                 "core switch change", "owner": "tina", "due_date": 10}),
    ],
    # --- target: KPI defined, no data yet -----------------------------------------------
    [
        (-42, "sam", "create", {
            "title": "Detect Email outages before users call the service desk",
            "description": "Last quarter 9 of 11 Email incidents were reported by users "
            "before monitoring raised an alert. Mail queue build-ups on the relays go "
            "unnoticed because events are not correlated.",
            "source": "monitoring", "external_system": "jira", "external_id": "ITSM-1932",
            "external_url": f"{JIRA}ITSM-1932", "service": "Email",
            "practice": "Monitoring and event management", "value": 3, "effort": 2,
            "urgency": 3, "accountable": "sam", "responsible": ["sam", "tina"],
            "due_date": 170,
        }),
        (-40, "csi", "move", {"to": "vision"}),
        (-37, "sam", "record", {
            "record": "vision", "goals": ["downtime"],
            "statement": "We know about an Email problem before anyone has to tell us.",
            "expected_value": "Shorter Email outages; fewer calls to the desk.",
        }),
        (-33, "sam", "move", {"to": "baseline"}),
        (-14, "sam", "record", {
            "record": "baseline", "assessed_on": -14,
            "assessment": "Mean time to detect 38 minutes over last quarter's 11 incidents "
            "(manual review of the incident timelines).",
            "method": "From now on, detection times come from the event-correlation rule "
            "(ITSM-1940) through ServiceNow.",
        }),
        (-12, "sam", "kpi", {
            "key": "email-mean-time-to-detect", "name": "Mean time to detect Email incidents",
            "unit": "min", "kind": "technical", "direction": "decrease",
            "aggregation": "mean", "window_days": 90, "baseline_value": 38.0,
            "baseline_date": -12, "csf": "Alerts fire on a queue build-up",
        }),
        (-10, "sam", "move", {"to": "target"}),
        (-8, "sam", "kpi_update", {"key": "email-mean-time-to-detect", "target_value": 10.0,
                                   "target_date": 170}),
        (-8, "sam", "record", {
            "record": "target",
            "objectives": "Mean time to detect Email incidents of 10 minutes or less within "
            "six months.",
        }),
    ],
    # --- baseline: baseline measured, no target yet -----------------------------------
    [
        (-33, "tina", "create", {
            "title": "Self-service password reset to cut service desk contacts",
            "description": "Password resets are 23 % of all service desk contacts, about 410 "
            "a week at roughly £12 of agent time each. Most could be self-service with MFA.",
            "source": "staff_suggestion", "external_system": "jira",
            "external_id": "ITSM-2015", "external_url": f"{JIRA}ITSM-2015",
            "service": "Service Desk", "practice": "Service request management", "value": 3,
            "effort": 2, "urgency": 2, "accountable": "tina", "responsible": ["tina", "lena"],
            "consulted": ["paula"],
        }),
        (-30, "csi", "move", {"to": "vision"}),
        (-27, "tina", "record", {
            "record": "vision", "goals": ["first"],
            "statement": "Nobody waits for the service desk to reset a password.",
            "expected_value": "About £4 900 a week of agent time freed for real issues.",
        }),
        (-22, "tina", "move", {"to": "baseline"}),
        (-14, "tina", "kpi", {
            "key": "service-desk-password-resets", "name": "Password-reset tickets per week",
            "unit": "tickets", "kind": "process", "direction": "decrease",
            "aggregation": "latest", "baseline_value": 410.0, "baseline_date": -14,
        }),
        (-14, "tina", "record", {
            "record": "baseline", "assessed_on": -14,
            "assessment": "410 password-reset tickets a week on average over six months.",
        }),
    ],
    # --- vision: a KPI without a baseline ------------------------------------------------
    [
        (-21, "sam", "create", {
            "title": "Release Online Banking without planned downtime",
            "description": "Every Online Banking release needs a 40–90 minute maintenance "
            "window on Sunday mornings, and customers complain about it.",
            "source": "change", "external_system": "jira", "external_id": "ITSM-2040",
            "external_url": f"{JIRA}ITSM-2040", "service": "Online Banking",
            "practice": "Release management", "value": 4, "effort": 4, "urgency": 2,
            "accountable": "sam", "responsible": ["sam"],
        }),
        (-18, "csi", "move", {"to": "vision"}),
        (-15, "sam", "record", {
            "record": "vision", "goals": ["downtime"],
            "statement": "Customers never see a maintenance page.",
        }),
        (-10, "sam", "kpi", {
            "key": "online-banking-release-downtime", "name": "Planned downtime per release",
            "unit": "min", "kind": "technical", "direction": "decrease",
            "aggregation": "latest",
        }),
    ],
    # --- proposed: raised by a person, and by the ServiceNow integration -----------------
    [
        (-6, "sam", "create", {
            "title": "Tell customers about outages by SMS before they call",
            "description": "31 % of complaints during the last three Online Banking outages "
            "were about not being told. Customers ask for proactive SMS or app "
            "notifications with an estimated fix time.",
            "source": "customer_feedback", "external_system": "jira",
            "external_id": "ITSM-2102", "external_url": f"{JIRA}ITSM-2102",
            "service": "Online Banking", "practice": "Relationship management", "value": 3,
            "effort": 3, "urgency": 3, "accountable": "sam",
        }),
    ],
    [
        (-3, "servicenow", "create", {
            "title": "Recurring disk-space incidents on the Payments batch servers",
            "description": "Problem PRB0040188: 17 incidents in 60 days in which /var/batch "
            "filled up on the settlement servers; twice the nightly batch started late. "
            "Workaround: manual clean-up by the on-call engineer.",
            "source": "problem", "external_system": "servicenow",
            "external_id": "PRB0040188", "external_url": f"{SN}PRB0040188",
            "service": "Payments", "practice": "Problem management", "value": 3,
            "effort": 2, "urgency": 4,
        }),
    ],
]  # fmt: skip

USER_FIELDS = {"accountable", "owner"}
USER_LIST_FIELDS = {"responsible", "consulted", "informed"}
DATE_FIELDS = {"due_date", "baseline_date", "target_date", "assessed_on", "monitor_until"}
#: timestamps the services set to "now", moved back to the day of the story
STAMP_FIELDS = {"created_at", "updated_at", "at", "history_date", "closed_at", "completed_at",
                "recorded_at"}  # fmt: skip
#: days between the story's checkpoints (measurements posted, KPIs checked)
CHECK_EVERY_DAYS = 14
#: the KPI whose verdict the demo shows moving with time alone, and after how long
LIVE_KPI = "online-banking-outage-minutes"
LIVE_AFTER = dt.timedelta(minutes=3)
#: the source of that point: a later run moves the same point (no new row)
LIVE_SOURCE = "synthetic-probes"


@dataclass
class Story:
    """One initiative being replayed: its stable key, its instance, its actions by ref."""

    key: tuple[str, str]
    entries: list[tuple]
    initiative: Initiative | None = None
    actions: dict = field(default_factory=dict)


def story_key(entries: list[tuple]) -> tuple[str, str]:
    data = entries[0][3]
    return data["external_system"], data["external_id"]


class Command(BaseCommand):
    help = (
        "Load realistic demo data (users for every role, goals, services, initiatives in "
        "every step with KPIs and months of measurements). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"password of the demo logins (default: {DEFAULT_PASSWORD})",
        )

    def handle(self, *args, password: str, **options):
        started = timezone.now()
        seeder = Seeder(now=started, password=password)
        # in-process (eager) tasks log a line each: hundreds, burying the logins table
        trace = logging.getLogger("celery.app.trace")
        level = trace.level
        trace.setLevel(max(level, logging.WARNING))
        try:
            with transaction.atomic():
                seeder.people()
                seeder.catalogue()
                created = seeder.initiatives()
                live = seeder.live_verdict()
                summary = services.kpis_check()  # statuses and health current as of now
        finally:
            trace.setLevel(level)
        elapsed = (timezone.now() - started).total_seconds()
        self._report(seeder, created, summary.checked, elapsed)
        if live is not None:
            self._report_live(*live)

    def _report(self, seeder: Seeder, created: int, checked: int, elapsed: float) -> None:
        out = self.stdout
        keys = [story_key(entries) for entries in STORIES]
        demo = Initiative.objects.filter(
            Q(*[Q(external_system=s, external_id=i) for s, i in keys], _connector=Q.OR)
        )
        steps = Counter(demo.values_list("step", flat=True))
        statuses = Counter(KPI.objects.filter(initiative__in=demo).values_list("status", flat=True))
        if created:
            out.write(f"Demo data loaded: {created} initiatives created in {elapsed:.1f} s.")
        else:
            out.write(f"Demo data already present: nothing added; {checked} KPIs re-checked.")
        out.write("  Steps:  " + ", ".join(f"{s} {steps[s]}" for s in Step.values if steps[s]))
        out.write(
            "  KPIs:   " + ", ".join(f"{s} {statuses[s]}" for s in KPIStatus.values if statuses[s])
        )
        out.write("")
        out.write(f"Demo logins (password: {seeder.password})")
        out.write(f"  {'username':<12}{'role':<18}{'name':<24}notes")
        for username, first, last, role, _, note in LOGINS:
            out.write(f"  {username:<12}{role:<18}{first + ' ' + last:<24}{note}")
        out.write("")
        out.write(f"API token of servicenow: {seeder.token.key}")
        out.write(f"  (send it as the header  Authorization: Token {seeder.token.key})")

    def _report_live(self, kpi: KPI, at: dt.datetime) -> None:
        if settings.CIR_EMBEDDED_SCHEDULER:
            how = "this server sweeps every minute, no broker needed"
        else:
            how = "Celery beat schedules the sweep"
        self.stdout.write("")
        self.stdout.write(
            f"Watch a verdict move with time: KPI '{kpi.name}' of "
            f"{kpi.initiative.reference} is on track now; with no new data it falls behind its "
            f"expected path at {at:%H:%M:%S} UTC and turns at risk at the next sweep ({how})."
        )


class Seeder:
    """Writes the demo through the services, replaying each story at its own dates."""

    def __init__(self, *, now: dt.datetime, password: str):
        self.now = now
        self.today = now.astimezone(UTC).date()
        self.password = password
        self.users: dict[str, models.Model] = {}
        self.goals: dict[str, Goal] = {}
        self.services: dict[str, Service] = {}
        self.kpis: dict[str, KPI] = {}
        self.pending: dict[str, list[dict]] = {}
        self.token: Token | None = None
        #: model → its timestamp fields that the services set to "now"
        self.stamped: dict[type[models.Model], list[str]] = {}
        for model in apps.get_app_config("improvement").get_models():
            names = [
                f.name
                for f in model._meta.concrete_fields
                if f.name in STAMP_FIELDS and isinstance(f, models.DateTimeField)
            ]
            if names and not model.__name__.startswith("Webhook"):
                self.stamped[model] = names

    # --- people, catalogue, goals -----------------------------------------------------

    def people(self) -> None:
        """The demo logins (password ensured, so the printed table is always right)."""
        logins = [
            self._person(username, first, last, role, is_staff=staff)
            for username, first, last, role, staff, _ in LOGINS
        ]
        # one hash for all demo logins: hashing is slow on purpose (~0.5 s each), and
        # comparing a stored hash with a known good one needs no hashing at all
        shared = None
        for user in logins:
            if shared is not None and user.password == shared:
                continue
            if user.has_usable_password() and user.check_password(self.password):
                shared = shared or user.password
                continue
            shared = shared or make_password(self.password)
            user.password = shared
            user.save(update_fields=["password"])
        for username, first, last, role in PEOPLE:
            self._person(username, first, last, role)
        self.token, _ = Token.objects.get_or_create(user=self.users["servicenow"])

    def _person(self, username, first, last, role, *, is_staff=False):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                is_staff=is_staff,
            )
            user.set_unusable_password()
            user.save()
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        self.users[username] = user
        return user

    def catalogue(self) -> None:
        """Services with owners, owners for a few practices, and the goals."""
        # there is no service for the catalogue (it is admin-maintained reference data)
        for name, owner, description in SERVICES:
            self.services[name], _ = Service.objects.get_or_create(
                name=name, defaults={"owner": self.users[owner], "description": description}
            )
        for name, owner in PRACTICE_OWNERS.items():
            # only where nobody has set an owner yet: never overwrite a real one
            Practice.objects.filter(name=name, owner__isnull=True).update(owner=self.users[owner])
        csi = self.users["csi"]
        for code, (title, owner, horizon, description) in GOALS.items():
            goal = Goal.objects.filter(title=title).first()
            if goal is None:
                with self.happened(self._moment(-320)):
                    goal = services.goal_create(
                        actor=csi,
                        title=title,
                        description=description,
                        owner=self.users[owner],
                        horizon=self.today + dt.timedelta(days=horizon),
                    )
            self.goals[code] = goal

    # --- the stories ------------------------------------------------------------------

    def initiatives(self) -> int:
        """Replay every story not in the database yet, all on one timeline. Returns how
        many initiatives were created."""
        stories = []
        for entries in STORIES:
            key = story_key(entries)
            if not Initiative.objects.filter(external_system=key[0], external_id=key[1]).exists():
                stories.append(Story(key=key, entries=entries))
        #: (when, 0 for a checkpoint and 1 for a story entry, what happens)
        beats: list[tuple[dt.datetime, int, Callable[[], None]]] = []
        for number, story in enumerate(stories):
            # a story is listed by thread (each action from start to finish); it happens
            # by day, and within a day in the order listed
            entries = sorted(story.entries, key=lambda entry: entry[0])
            for slot, (day, actor, op, data) in enumerate(entries):
                moment = self._moment(day, slot, number)
                beats.append((moment, 1, self._beat(story, actor, op, data)))
        if not stories:
            return 0
        first = min(moment for moment, _, _ in beats).date()
        day = (first - self.today).days
        while day < 0:
            if day % CHECK_EVERY_DAYS == 0:
                moment = dt.datetime.combine(self.today + dt.timedelta(days=day), dt.time(6), UTC)
                beats.append((moment, 0, self._checkpoint(moment)))
            day += 1
        beats.sort(key=lambda beat: (beat[0], beat[1]))
        for moment, kind, run in beats:
            with self.happened(moment, bulk=kind == 0):
                run()
        self._checkpoint(self.now, check=False)()  # the last days' points; handle() checks
        return len(stories)

    def live_verdict(self) -> tuple[KPI, dt.datetime] | None:
        """Record a point of LIVE_KPI just inside its on-track band, so that time alone
        turns it at risk LIVE_AFTER from now: the demo shows the scheduled sweep at work.
        Done again at every run (the same point, a new value). Returns the KPI and when it
        falls behind, or None when the story left the KPI where no such point exists."""
        kpi = KPI.objects.filter(key=LIVE_KPI).select_related("initiative").first()
        if kpi is None or kpi.initiative.step != Step.ACTION or kpi.aggregation != "latest":
            return None
        now = timezone.now()
        at = now + LIVE_AFTER
        expected = evaluation.compute_expected(at, kpi.baseline_date, kpi.target_date)
        if expected is None or not kpi.tolerance < expected < 1:
            return None
        # on track while progress >= expected - tolerance: exactly that at `at`
        progress = expected - kpi.tolerance
        value = kpi.baseline_value + progress * (kpi.target_value - kpi.baseline_value)
        earlier = (
            kpi.measurements.filter(source=LIVE_SOURCE)
            .order_by("-measured_at")
            .values_list("measured_at", flat=True)
            .first()
        )
        services.measurement_record(
            kpi=kpi, actor=self.users["servicenow"],
            points=[{"value": value, "measured_at": earlier or now, "source": LIVE_SOURCE,
                     "note": "Rolling 30-day outage minutes from the synthetic probes."}],
        )  # fmt: skip
        return kpi, at

    def _moment(self, day: int, slot: int = 0, number: int = 0) -> dt.datetime:
        """Office hours of the story's day; a story's entries keep their order."""
        start = dt.datetime.combine(self.today + dt.timedelta(days=day), dt.time(8, 30), UTC)
        return start + dt.timedelta(minutes=3 * slot, seconds=number)

    def _beat(self, story: Story, actor: str, op: str, data: dict) -> Callable[[], None]:
        def run() -> None:
            self._apply(story, self.users[actor], op, dict(data))

        return run

    def _apply(self, story: Story, actor, op: str, data: dict) -> None:
        # fresh rows each time: an instance kept in memory would save its old "now"
        # stamps (and an old health) back over the replayed ones
        initiative = story.initiative = (
            Initiative.objects.get(pk=story.initiative.pk) if story.initiative else None
        )
        if op == "create":
            story.initiative = services.initiative_create(actor=actor, **self._resolve(data))
        elif op == "move":
            story.initiative = services.initiative_transition(
                initiative=initiative, actor=actor, **data
            )
        elif op == "update":
            services.initiative_update(initiative=initiative, actor=actor, **self._resolve(data))
        elif op == "priority":
            services.initiative_set_priority(initiative=initiative, actor=actor, **data)
        elif op == "record":
            services.step_record_update(initiative=initiative, actor=actor, **self._resolve(data))
        elif op == "kpi":
            kpi = services.kpi_create(initiative=initiative, actor=actor, **self._resolve(data))
            self.kpis[kpi.key] = kpi
            # a new KPI's first verdict may equal its default status (no_data): no status
            # change would refresh the health then
            services.initiative_refresh_health(initiative=initiative)
            series = SERIES.get(kpi.key)
            if series is not None:
                self.pending[kpi.key] = [
                    p for p in series.points(kpi.key, self.today) if p["measured_at"] <= self.now
                ]
        elif op == "kpi_update":
            kpi = KPI.objects.get(key=data.pop("key"))
            self.kpis[kpi.key] = services.kpi_update(kpi=kpi, actor=actor, **self._resolve(data))
        elif op == "action":
            ref = data.pop("ref")
            story.actions[ref] = services.action_create(
                initiative=initiative, actor=actor, **self._resolve(data)
            )
        elif op == "action_update":
            action = Action.objects.get(pk=story.actions[data.pop("ref")].pk)
            services.action_update(action=action, actor=actor, **self._resolve(data))
        elif op == "review":
            services.review_create(initiative=initiative, actor=actor, **data)
        else:
            raise ValueError(f"unknown op {op!r}")

    def _resolve(self, data: dict) -> dict:
        """Names to objects: users, goals, services, practices; day offsets to dates."""
        resolved = {}
        for name, value in data.items():
            if name in USER_FIELDS:
                value = self.users[value] if value else None
            elif name in USER_LIST_FIELDS:
                value = [self.users[u] for u in value]
            elif name == "goals":
                value = [self.goals[g] for g in value]
            elif name == "service":
                value = self.services[value]
            elif name == "practice":
                value = Practice.objects.get(name=value)
            elif name in DATE_FIELDS and isinstance(value, int):
                value = self.today + dt.timedelta(days=value)
            resolved[name] = value
        return resolved

    def _checkpoint(self, moment: dt.datetime, *, check: bool = True) -> Callable[[], None]:
        """The tools post what was measured since the last time, then the KPIs are checked
        as of `moment` (a sweep every fortnight of the story)."""

        def run() -> None:
            ids = [k.pk for k in self.kpis.values()]
            live = dict(live_kpis(moment).filter(pk__in=ids).values_list("key", "pk"))
            batches: dict[str, list[dict]] = {}
            for key, points in self.pending.items():
                if key not in live:
                    continue  # the tools stop feeding a cancelled initiative
                due = [p for p in points if p["measured_at"] <= moment]
                self.pending[key] = points[len(due) :]
                batches.setdefault(SERIES[key].poster, []).extend(p | {"kpi": key} for p in due)
            for poster, rows in batches.items():
                if rows:
                    services.measurements_record_bulk(actor=self.users[poster], rows=rows)
            if live and check:
                services.kpis_check(kpi_ids=list(live.values()), at=moment)

        return run

    @contextmanager
    def happened(self, moment: dt.datetime, *, bulk: bool = False) -> Iterator[None]:
        """Move the "now" stamps of every row written in the block back to `moment`.

        The services stamp created/updated times, transition and history dates with the
        clock; a demo of months of work needs them on the days the story tells. Only the
        tables written in the block are visited: those saved (post_save), plus with `bulk`
        the two that recording and checking measurements fill in bulk.
        """
        started = timezone.now()
        touched: set[type[models.Model]] = {Measurement, Event} if bulk else set()

        def saved(sender, **kwargs) -> None:
            touched.add(sender)

        post_save.connect(saved, weak=False, dispatch_uid="seed_demo_happened")
        try:
            yield
        finally:
            post_save.disconnect(dispatch_uid="seed_demo_happened")
        when = Value(moment, output_field=models.DateTimeField())
        for model in touched:
            names = self.stamped.get(model)
            if not names:
                continue
            recent = Q()
            for name in names:
                recent |= Q(**{f"{name}__gte": started})
            model._default_manager.filter(recent).update(
                **{
                    name: Case(When(**{f"{name}__gte": started}, then=when), default=F(name))
                    for name in names
                }
            )
