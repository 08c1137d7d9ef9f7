"""Page benchmarks: every page a CSI manager uses, at the small and the large scale.

Both scales live in their own PostgreSQL database, seeded once and kept (a rerun reuses a
database that already holds its scale):

    BENCH=pages make bench                     # small and large, side by side
    PAGES_LARGE=medium BENCH=pages make bench  # iterate on a medium scale instead

The databases are named after DATABASE_URL's: <name>_small and <name>_large (or
PAGES_DB_SMALL / PAGES_DB_LARGE). Each page is requested several times at each scale by
Django's test client, signed in as a CSI manager; the median time, the HTML's size and the
number of queries are printed with the ratio large / small (goal <= 1.5, under 300 KB).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

ROUNDS = int(os.environ.get("PAGES_ROUNDS", "5"))
#: the initiative with a KPI of many points: its points at each scale
HEAVY_POINTS = {"small": 1_000, "medium": 10_000, "large": 100_000}
#: the scale of the "large" side (PAGES_LARGE=medium to iterate quickly)
MEDIUM = {"kpis": 10_000, "points": 100, "initiatives": 10_000}
EXTRAS_MARK = "bench-pages-extras"
HEAVY_REF = "CIR-HEAVY"


def _say(text: str = "") -> None:
    print(text, flush=True)


# --- databases ----------------------------------------------------------------------------


def _database_names() -> dict[str, str]:
    base = connection.settings_dict["NAME"]
    return {
        "small": os.environ.get("PAGES_DB_SMALL", f"{base}_small"),
        "large": os.environ.get("PAGES_DB_LARGE", f"{base}_large"),
    }


def _create_database(name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    db = connection.settings_dict
    admin = psycopg2.connect(
        dbname="postgres", user=db["USER"], password=db.get("PASSWORD") or None,
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
    )  # fmt: skip
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def _use_database(name: str, forget: bool = True) -> None:
    """Point the default connection at another database (and forget what was cached)."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import cache

    conn = connections["default"]
    conn.close()
    conn.settings_dict["NAME"] = name
    if forget:
        ContentType.objects.clear_cache()
        cache.clear()
    conn.ensure_connection()


def _content_types() -> list:
    from django.contrib.contenttypes.models import ContentType

    return list(ContentType.objects.order_by("pk").values_list("pk", "app_label", "model"))


# --- seed ---------------------------------------------------------------------------------


def _columns(table: str) -> list[str]:
    with connection.cursor() as cur:
        return [c.name for c in connection.introspection.get_table_description(cur, table)]


def _seed_history(model_table: str, history_table: str, where: str = "") -> None:
    """One "created" history row per row of `model_table` (set-up, unmeasured)."""
    history_columns = set(_columns(history_table))
    common = [c for c in _columns(model_table) if c in history_columns]
    cols = ", ".join(common)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {history_table} ({cols}, history_date, history_change_reason, "
            f"history_type) SELECT {cols}, now() - (id % 300) * interval '1 hour', NULL, '+' "
            f"FROM {model_table} {where}"
        )


def _seed_heavy(points: int) -> None:
    """One initiative with one KPI of `points` daily-ish points (the chart's worst case)."""
    import io

    from improvement.models import KPI, Initiative

    from .seeding import copy_rows

    initiative = Initiative.objects.filter(reference=HEAVY_REF).first()
    if initiative is None:
        initiative = Initiative.objects.create(
            reference=HEAVY_REF, title="A KPI with many points", value=4, effort=2
        )
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE improvement_initiative SET step = 'action' WHERE id = %s", [initiative.pk]
            )
    today = timezone.localdate()
    kpi, _ = KPI.objects.get_or_create(
        key="bench-heavy",
        defaults=dict(
            initiative=initiative, name="Heavy KPI", direction="decrease", aggregation="mean",
            window_days=30, baseline_value=100, baseline_date=today - dt.timedelta(days=400),
            target_value=80, target_date=today + dt.timedelta(days=100),
            data_changed_at=timezone.now(),
        ),
    )  # fmt: skip
    if kpi.measurements.count() == points:
        return
    with connection.cursor() as cur:
        cur.execute("DELETE FROM improvement_measurement WHERE kpi_id = %s", [kpi.pk])
    now = timezone.now()
    step = dt.timedelta(days=365) / points
    rng = random.Random(3)
    buf = io.StringIO()
    for p in range(points):
        at = now - step * (points - p)
        value = 100 - 15 * p / points + rng.uniform(-5, 5)
        buf.write(f"{kpi.pk}\t{value:.4f}\t{at.isoformat()}\tbench\t\t{now.isoformat()}\n")
    copy_rows(buf)


def _seed_extras(scale_name: str) -> None:
    """What the pages show beyond KPIs and measurements: health and KPI verdicts spread
    over their values, latest checks, actions (a third overdue), events, webhook
    deliveries and history rows; done once per database (a Counter row marks it)."""
    from improvement import choices
    from improvement.models import Counter, Webhook

    _say(f"pages: seeding the rest of the {scale_name} scale ...")
    start = time.perf_counter()
    with connection.cursor() as cur:  # what an interrupted earlier run left
        cur.execute("DELETE FROM improvement_action WHERE title LIKE 'Bench action %%'")
        for table in ("initiative", "kpi", "action"):
            cur.execute(f"TRUNCATE improvement_historical{table}")
        cur.execute("TRUNCATE improvement_event CASCADE")
    health = ",".join(f"'{h}'" for h in choices.Health.values)
    statuses = ",".join(f"'{s}'" for s in choices.KPIStatus.values)
    webhook, _ = Webhook.objects.get_or_create(name="Bench receiver", url="http://127.0.0.1:9/")
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE improvement_initiative SET health = (ARRAY[{health}])"
            f"[1 + (id * 7 % {len(choices.Health.values)})], "
            "due_date = current_date + ((id % 400) - 100)::int"
        )
        cur.execute(
            f"UPDATE improvement_kpi SET status = (ARRAY[{statuses}])"
            f"[1 + (id * 5 % {len(choices.KPIStatus.values)})], last_checked_at = now(), "
            "checked_version = data_changed_at"
        )
        cur.execute("DELETE FROM improvement_kpicheck")
        cur.execute(
            "INSERT INTO improvement_kpicheck (kpi_id, checked_at, data_version, current, "
            "progress, expected, status, previous_status, measurement_count) "
            "SELECT id, now() - interval '1 hour', data_changed_at, 100 + id % 20, 0.5, 0.6, "
            "status, 'no_data', 30 FROM improvement_kpi"
        )
        cur.execute(
            "INSERT INTO improvement_action (initiative_id, title, owner_id, due_date, status, "
            "notes, iteration, created_at, updated_at) "
            "SELECT id, 'Bench action ' || id, accountable_id, "
            "current_date + ((id % 90) - 30)::int, "
            "(ARRAY['planned','in_progress','done'])[1 + id % 3], '', 1, now(), now() "
            "FROM improvement_initiative"
        )
        cur.execute(
            "INSERT INTO improvement_event (id, type, payload, created_at, dispatched_at) "
            "SELECT gen_random_uuid(), 'kpi.status_changed', jsonb_build_object('kpi', id), "
            "now() - id * interval '1 minute', now() FROM improvement_kpi"
        )
        cur.execute(
            "INSERT INTO improvement_webhookdelivery (webhook_id, event_id, status, "
            "attempt_count, attempt_limit, next_attempt_at, delivered_at, created_at, "
            "updated_at) SELECT %s, id, 'succeeded', 1, 6, NULL, now(), created_at, now() "
            "FROM improvement_event",
            [webhook.pk],
        )
    _seed_history("improvement_initiative", "improvement_historicalinitiative")
    _seed_history("improvement_kpi", "improvement_historicalkpi")
    _seed_history("improvement_action", "improvement_historicalaction")
    _seed_heavy(HEAVY_POINTS[scale_name])
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    Counter.objects.create(name=EXTRAS_MARK, value=1)
    _say(f"pages: seeded the rest in {time.perf_counter() - start:.0f} s")


def seed_scale(scale_name: str, scale: dict, seed) -> None:
    """Bring the current database to `scale` (KPIs and measurements by run.seed, the
    register by the API bench's helper, the rest here); a database already seeded is kept."""
    from improvement.models import KPI, Counter, Initiative, Measurement

    from .api import _ensure_initiatives

    heavy = HEAVY_POINTS[scale_name]
    if (
        Counter.objects.filter(name=EXTRAS_MARK).exists()
        and KPI.objects.count() == scale["kpis"] + 1
        and Initiative.objects.count() == scale["initiatives"] + 1
        and Measurement.objects.count() == scale["kpis"] * scale["points"] + heavy
    ):
        _say(f"pages: reusing the {scale_name} scale in {connection.settings_dict['NAME']}")
        return
    Counter.objects.filter(name=EXTRAS_MARK).delete()
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM improvement_measurement WHERE kpi_id IN "
            "(SELECT id FROM improvement_kpi WHERE key = 'bench-heavy')"
        )
    KPI.objects.filter(key="bench-heavy").delete()
    Initiative.objects.filter(reference=HEAVY_REF).delete()
    seed(scale)  # returns at once when the KPIs and measurements are there
    _ensure_initiatives(scale["initiatives"])
    _seed_extras(scale_name)


# --- pages --------------------------------------------------------------------------------


def _pages() -> list[tuple[str, str]]:
    """(name, path) of every page measured, in the current database."""
    from improvement.models import KPI, Event, Initiative, KPICheck, Measurement, WebhookDelivery

    register = reverse("improvement:register")
    first = KPI.objects.order_by("initiative_id").values_list("initiative_id", flat=True)[:1]
    initiative = Initiative.objects.get(pk=first[0])
    heavy = Initiative.objects.get(reference=HEAVY_REF)
    kpi = KPI.objects.filter(initiative=initiative).order_by("pk").first()
    measurement = Measurement.objects.filter(kpi=kpi).order_by("-measured_at").first()

    def admin(model, view="changelist", *args):
        return reverse(f"admin:improvement_{model._meta.model_name}_{view}", args=args)

    return [
        ("register", register),
        ("register, all, filtered, by due date", f"{register}?scope=all&health=at_risk"
         "&health=missed&ordering=-due_date&per_page=100"),
        ("register, searched", f"{register}?scope=all&search=Improvement+4"),
        ("register, by title, page 3", f"{register}?scope=all&ordering=title&page=3"),
        ("register, by owner", f"{register}?ordering=owner"),
        ("portfolio", reverse("improvement:portfolio")),
        ("goals", reverse("improvement:goals")),
        (f"initiative, {kpi and initiative.kpis.count()} KPIs",
         reverse("improvement:initiative", args=[initiative.reference])),
        ("initiative, a KPI of many points",
         reverse("improvement:initiative", args=[heavy.reference])),
        ("admin: initiatives", admin(Initiative)),
        ("admin: initiatives, searched", admin(Initiative) + "?q=CIR-0004"),
        ("admin: initiative change form", admin(Initiative, "change", initiative.pk)),
        ("admin: initiative history", admin(Initiative, "history", initiative.pk)),
        ("admin: KPIs", admin(KPI)),
        ("admin: KPI change form", admin(KPI, "change", kpi.pk)),
        ("admin: KPI history", admin(KPI, "history", kpi.pk)),
        ("admin: measurements", admin(Measurement)),
        ("admin: measurements of one KPI", admin(Measurement) + f"?kpi__id__exact={kpi.pk}"),
        ("admin: measurement change form", admin(Measurement, "change", measurement.pk)),
        ("admin: checks", admin(KPICheck)),
        ("admin: events", admin(Event)),
        ("admin: webhook deliveries", admin(WebhookDelivery)),
    ]  # fmt: skip


def _measure(client: Client, pages: list[tuple[str, str]], times: dict, found: dict) -> None:
    """Each page once: its time (ms) appended to `times`, its bytes and queries in `found`."""
    for name, path in pages:
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(path)
            body = b"".join(response) if response.streaming else response.content
            elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {body[:300]!r}")
        times.setdefault(name, []).append(elapsed)
        found[name] = {"bytes": len(body), "queries": len(ctx.captured_queries)}


def _client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-csi", defaults={"is_staff": True}
    )
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name="CSI manager"))
    client = Client()
    client.force_login(user)
    return client


def run(scales: dict, seed) -> dict:
    """The pages section: seed (or reuse) both databases, then time every page at each."""
    from django.core.management import call_command

    _say("\n== pages")
    names = _database_names()
    large_name = os.environ.get("PAGES_LARGE", "large")
    sides = {
        "small": ("small", scales["small"]),
        "large": (large_name, MEDIUM if large_name == "medium" else scales[large_name]),
    }
    original = connection.settings_dict["NAME"]
    storage = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    clients: dict[str, Client] = {}
    pages: dict[str, list] = {}
    times: dict[str, dict] = {side: {} for side in sides}
    found: dict[str, dict] = {side: {} for side in sides}
    try:
        with override_settings(
            ALLOWED_HOSTS=["*"], STORAGES={"default": {"BACKEND":
            "django.core.files.storage.FileSystemStorage"}, "staticfiles": storage},
        ):  # fmt: skip
            content_types = {}
            for side, (scale_name, scale) in sides.items():
                _create_database(names[side])
                _use_database(names[side])
                call_command("migrate", verbosity=0)
                seed_scale(scale_name, scale, seed)
                clients[side], pages[side] = _client(), _pages()
                content_types[side] = _content_types()
            # both databases were migrated alike: the content types cached for one serve
            # the other, so switching costs no request a query
            if content_types["small"] != content_types["large"]:
                raise RuntimeError("the two databases' content types differ: drop one")
            # the sides in turn, a round at a time, so drift on the machine hits both alike
            for n in range(ROUNDS + 1):  # the first round warms the caches up
                for side in sides:
                    _use_database(names[side], forget=False)
                    if n == 0:
                        _measure(clients[side], pages[side], {}, {})
                    else:
                        _measure(clients[side], pages[side], times[side], found[side])
    finally:
        _use_database(original)
    measured = {
        side: {name: {**found[side][name], "ms": statistics.median(times[side][name])}
               for name in found[side]}
        for side in sides
    }  # fmt: skip
    results: dict = {"rounds": ROUNDS, "large scale": large_name}
    _say(f"  median of {ROUNDS} requests per page and scale, the two scales in turn")
    _say(f"  {'page':<42} {'small ms':>9} {'large ms':>9} {'ratio':>6} {'KB':>7} {'queries':>9}")
    for name, small in measured["small"].items():
        large = measured["large"][name]
        ratio = large["ms"] / small["ms"]
        queries = f"{small['queries']}/{large['queries']}"
        flag = "" if ratio <= 1.5 and large["bytes"] <= 300_000 else "  <-- over"
        _say(
            f"  {name:<42} {small['ms']:>9.1f} {large['ms']:>9.1f} {ratio:>6.2f} "
            f"{large['bytes'] / 1000:>7.0f} {queries:>9}{flag}"
        )
        results[name] = {
            "small ms": round(small["ms"], 1), "large ms": round(large["ms"], 1),
            "ratio": round(ratio, 2), "small bytes": small["bytes"],
            "large bytes": large["bytes"], "small queries": small["queries"],
            "large queries": large["queries"],
        }  # fmt: skip
    return results
