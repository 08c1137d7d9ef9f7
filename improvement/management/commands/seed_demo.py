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
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.signals import post_save
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from improvement import evaluation, services
from improvement.choices import KPIStatus, Step
from improvement.models import KPI, Action, Event, Goal, Initiative, Measurement, Practice, Service
from improvement.selectors import live_kpis

User = get_user_model()
UTC = dt.UTC

DEFAULT_PASSWORD = "cir-demo-2026"

#: the demo's people, catalogue, goals, KPI series and stories (a data file beside this one)
DATA = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text(encoding="utf-8"))

#: (username, first name, last name, role, is_staff, what they are in the demo)
LOGINS = [
    (p["username"], p["first_name"], p["last_name"], p["role"], p["is_staff"], p["note"])
    for p in DATA["logins"]
]
#: people who appear in RACI and actions but have no demo login (unusable password)
PEOPLE = [(p["username"], p["first_name"], p["last_name"], p["role"]) for p in DATA["people"]]
#: (name, owner, description)
SERVICES = [(s["name"], s["owner"], s["description"]) for s in DATA["services"]]
#: ITIL practices (created by a migration) and the process owner to give them, if unowned
PRACTICE_OWNERS: dict[str, str] = DATA["practice_owners"]
#: code: (title, owner, horizon in days from today, description)
GOALS = {
    code: (g["title"], g["owner"], g["horizon_days"], g["description"])
    for code, g in DATA["goals"].items()
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


def _series(fields: dict) -> Series:
    tuples = {"levels", "notes", "quiet"}
    return Series(
        **{
            name: tuple(tuple(v) if isinstance(v, list) else v for v in value)
            if name in tuples
            else value
            for name, value in fields.items()
        }
    )


#: how each KPI's measurements were produced, by KPI key
SERIES = {key: _series(fields) for key, fields in DATA["series"].items()}

#: each initiative's story: (day, acting username, operation, the call's data) entries
STORIES: list[list[tuple]] = [
    [
        (e["day"], e["by"], e["op"], {k: v for k, v in e.items() if k not in ("day", "by", "op")})
        for e in story
    ]
    for story in DATA["stories"]
]

USER_FIELDS = {"accountable", "owner"}
USER_LIST_FIELDS = {"responsible", "consulted", "informed"}
DATE_FIELDS = {
    "due_date", "baseline_date", "target_date", "assessed_on", "monitor_until", "resume_by"
}  # fmt: skip
#: timestamps the services set to "now", moved back to the day of the story
STAMP_FIELDS = {"created_at", "updated_at", "at", "history_date", "closed_at", "completed_at",
                "held_since", "recorded_at"}  # fmt: skip
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
        parser.add_argument(
            "--force",
            action="store_true",
            help="seed even under production settings (creates logins with a known password)",
        )

    def handle(self, *args, password: str, force: bool = False, **options):
        if settings.CIR_PRODUCTION and not force:
            raise CommandError(
                "Refusing to seed the demo under production settings: it creates staff "
                "and team logins with a known password. Use --force on a demo "
                "instance only."
            )
        started = timezone.now()
        seeder = Seeder(now=started, password=password)
        # in-process (eager) tasks log a line each: hundreds, burying the logins table
        trace = logging.getLogger("celery.app.trace")
        level = trace.level
        trace.setLevel(max(level, logging.WARNING))
        try:
            # the demo's made-up history fills the inboxes but mails no one: in-process,
            # the notification emails sent after commit go nowhere (a worker, when a broker
            # is configured, sends with its own settings)
            with (
                override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
                transaction.atomic(),
            ):
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
                initiative=initiative, actor=actor, **self._resolve(data)
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
