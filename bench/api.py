"""API benchmarks: the initiative list at scale, and bulk measurement ingestion.

Requests go through Django's test client in-process (the whole middleware, auth, DRF and
serializer stack, no network), so the figures compare the two endpoints, not the server.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

REQUESTS = 400


def _say(text: str = "") -> None:
    print(text, flush=True)


def _figure(results: dict, name: str, value, unit: str = "") -> None:
    results[name] = value
    shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    _say(f"  {name:<52} {shown:>14} {unit}")


def _ensure_initiatives(count: int) -> None:
    """Bring the register to `count` initiatives with owners and goals (set-up, unmeasured)."""
    from improvement.models import Goal, Initiative

    from .seeding import bulk_initiatives

    have = Initiative.objects.count()
    if have >= count:
        return
    _say(f"api: adding {count - have:,} initiatives ...")
    bulk_initiatives(count - have)
    users = [get_user_model().objects.get_or_create(username=f"owner{i}")[0] for i in range(20)]
    goals = [Goal.objects.get_or_create(title=f"Bench goal {i}")[0] for i in range(5)]
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE improvement_initiative SET accountable_id = (ARRAY[%s])[1 + (id %% 20)]"
            % ",".join(str(u.pk) for u in users)
        )
        cur.execute(
            "INSERT INTO improvement_initiative_goals (initiative_id, goal_id) "
            # a goal drawn independently of value, effort and urgency (bulk_initiatives
            # sets those from the id modulo 125): a goal's share of the best scored
            # initiatives is then its share of the register, as in a real one
            "SELECT id, (ARRAY[%s])[1 + (id / 125 %% 5)] FROM improvement_initiative "
            "WHERE id %% 3 = 0 ON CONFLICT DO NOTHING" % ",".join(str(g.pk) for g in goals)
        )
        cur.execute("ANALYZE improvement_initiative; ANALYZE improvement_initiative_goals;")


def _latencies(client: Client, paths: list[str], offsets: list[int], headers: dict) -> list:
    """Request each path at each offset, alternating between the paths so that drift on
    the machine hits them alike; returns (median ms, p95 ms, most queries) per path."""
    times: list[list[float]] = [[] for _ in paths]
    queries: list[int] = [0 for _ in paths]
    for offset in offsets:
        for i, path in enumerate(paths):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(f"{path}?limit=50&offset={offset}", **headers)
                times[i].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.content[:300]
            queries[i] = max(queries[i], len(ctx.captured_queries))
    result = []
    for i in range(len(paths)):
        ordered = sorted(times[i])
        result.append(
            (statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1], queries[i])
        )
    return result


def run(scale: dict) -> dict:
    """Run the API section; returns its figures."""
    from improvement.models import Initiative, Measurement

    results: dict = {}
    _say("\n== api")
    _ensure_initiatives(scale["initiatives"])
    user, _ = get_user_model().objects.get_or_create(username="bench-api")
    user.groups.add(Group.objects.get(name="CSI manager"))
    token, _ = Token.objects.get_or_create(user=user)
    headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    n = Initiative.objects.count()
    rng = random.Random(7)
    # half the pages near the top (what people read), half anywhere (what tools page through)
    offsets = [rng.randint(0, 500) for _ in range(REQUESTS // 2)]
    offsets += [rng.randint(0, n - 50) for _ in range(REQUESTS // 2)]
    with override_settings(ROOT_URLCONF="bench.bench_urls", ALLOWED_HOSTS=["*"]):
        client = Client()
        paths = ["/api/v1/initiatives/", "/bench/initiatives-values/"]
        _latencies(client, paths, offsets[:10], headers)  # warm up
        (api_median, api_p95, api_queries), (raw_median, raw_p95, raw_queries) = _latencies(
            client, paths, offsets, headers
        )
        (api_top, _, _), (raw_top, _, _) = _latencies(
            client, paths, offsets[: REQUESTS // 2], headers
        )
        _figure(results, "initiatives in the register", n)
        _figure(results, "list page of 50: median", api_median, "ms")
        _figure(results, "list page of 50: p95", api_p95, "ms")
        _figure(results, "list page of 50 near the top (offset <= 500): median", api_top, "ms")
        _figure(results, "list page of 50: queries per request", api_queries)
        _figure(results, ".values() to JSON, same rows: median", raw_median, "ms")
        _figure(results, ".values() to JSON, same rows: p95", raw_p95, "ms")
        _figure(results, ".values() to JSON near the top: median", raw_top, "ms")
        _figure(results, ".values() to JSON: queries per request", raw_queries)
        _figure(results, "API / .values() (median)", api_median / raw_median, "x (goal <= 2)")
        _figure(
            results, "API / .values() near the top (median)", api_top / raw_top, "x (goal <= 2)"
        )

        # bulk ingestion through the API: 10 requests of 10 000 rows
        keys = [f"bench-{i}" for i in range(min(scale["kpis"], 1000))]
        base = timezone.now() - dt.timedelta(days=800)
        bodies = []
        for r in range(10):
            rows = [
                {"kpi": keys[k % len(keys)], "value": float(k % 89),
                 "measured_at": (base + dt.timedelta(minutes=r * 10_000 + k)).isoformat(),
                 "source": "bench-api"}
                for k in range(10_000)
            ]  # fmt: skip
            bodies.append(json.dumps(rows))
        start = time.perf_counter()
        for body in bodies:
            response = client.post(
                "/api/v1/measurements/", body, content_type="application/json", **headers
            )
            assert response.status_code == 200, response.content[:500]
        elapsed = time.perf_counter() - start
        _figure(results, "bulk ingestion via the API (10 000-row requests)", 100_000 / elapsed,
                "rows/s (goal >= 20 000)")  # fmt: skip
    Measurement.objects.filter(source="bench-api").delete()
    return results
