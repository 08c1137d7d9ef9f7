"""List endpoints keep a fixed number of queries whatever the page size (SPEC §4).

Each list is read with 5 and with 50 rows through a real token; the count is pinned.
Queries of every request: the token with its user, and the user's groups (roles).
The writes that clients repeat most are pinned too: a move, measurements (one KPI, or
across KPIs by key), a step record's PUT and a KPI's re-baseline.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from improvement.models import Event, KPICheck, Measurement, TransitionLog, WebhookAttempt
from improvement.models import WebhookDelivery as Delivery

from .. import factories
from .support import World, force_step, point
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
#: auth 2, the KPI with its initiative 1; the service 32: the stored definition 1, the KPI
#: validated once 20 (its initiative, its key's uniqueness, six check constraints in
#: savepoints), the write 8 (savepoints, the update with its history, the revision, the
#: data version), the initiative's health 3; the answer 2 (the KPI read again, its check)
#: + the initiative's activity stamp 1 (register hygiene)
REBASELINE_QUERIES = 38


def _initiatives(w: World, n: int) -> str:
    users = [w.users[r] for r in ("owner", "outsider", "viewer")]
    for i in range(n):
        initiative = factories.InitiativeFactory(accountable=users[i % 3], created_by=users[0])
        initiative.goals.add(w.goal)
        initiative.responsible.add(*users[:2])
        initiative.consulted.add(users[2])
        initiative.informed.add(users[1])
    return "/api/v1/initiatives/?limit=1000"


def _kpis(w: World, n: int) -> str:
    for _ in range(n):
        kpi = factories.KPIFactory(initiative=w.initiative)
        for s in ("no_data", "on_track"):
            KPICheck.objects.create(kpi=kpi, checked_at=timezone.now(), status=s, data_version=T0)
    return "/api/v1/kpis/?limit=1000"


def _goals(w: World, n: int) -> str:
    factories.GoalFactory.create_batch(n, owner=w.users["csi"])
    return "/api/v1/goals/?limit=1000"


def _users(w: World, n: int) -> str:
    for _ in range(n):
        factories.UserFactory(roles=["Viewer", "Improvement team"])
    return "/api/v1/users/?limit=1000"


def _actions(w: World, n: int) -> str:
    for _ in range(n):
        factories.ActionFactory(initiative=w.initiative, owner=w.users["outsider"])
    return f"/api/v1/initiatives/{w.initiative.pk}/actions/?limit=1000"


def _reviews(w: World, n: int) -> str:
    for i in range(n):
        factories.ReviewFactory(
            initiative=w.initiative, iteration=i + 1, reviewed_by=w.users["owner"]
        )
    return f"/api/v1/initiatives/{w.initiative.pk}/reviews/?limit=1000"


def _transitions(w: World, n: int) -> str:
    for _ in range(n):
        TransitionLog.objects.create(
            initiative=w.initiative, from_step="vision", to_step="baseline",
            actor=w.users["owner"], iteration=1,
        )  # fmt: skip
    return f"/api/v1/initiatives/{w.initiative.pk}/transitions/?limit=1000"


def _measurements(w: World, n: int) -> str:
    Measurement.objects.bulk_create(
        Measurement(
            kpi=w.kpi,
            value=i,
            measured_at=T0 + dt.timedelta(hours=i),
            recorded_by=w.users["integration"],
        )
        for i in range(n)
    )
    return f"/api/v1/kpis/{w.kpi.pk}/measurements/?limit=1000"


def _checks(w: World, n: int) -> str:
    for i in range(n):
        KPICheck.objects.create(
            kpi=w.kpi, checked_at=timezone.now(), status="on_track",
            data_version=T0 + dt.timedelta(hours=i),
        )  # fmt: skip
    return f"/api/v1/kpis/{w.kpi.pk}/checks/?limit=1000"


def _webhooks(w: World, n: int) -> str:
    for i in range(n):
        w.webhook.__class__.objects.create(
            name=f"hook {i}", url="https://example.com/", created_by=w.users["csi"]
        )
    return "/api/v1/webhooks/?limit=1000"


def _deliveries(w: World, n: int) -> str:
    for _ in range(n):
        event = Event.objects.create(id=uuid.uuid4(), type="initiative.created", payload={})
        delivery = Delivery.objects.create(webhook=w.webhook, event=event, attempt_count=2)
        for number in (1, 2):
            WebhookAttempt.objects.create(delivery=delivery, number=number, at=timezone.now())
    return f"/api/v1/webhooks/{w.webhook.pk}/deliveries/?limit=1000"


#: (builder, queries): auth 2 + count 1 + rows 1 + one per prefetched relation;
#: nested lists load their initiative / KPI / webhook first (+1)
LISTS = [
    (_initiatives, 5),  # + goals and RACI, one UNION ALL over the link tables
    (_kpis, 5),  # + latest check per KPI, in one windowed query
    (_goals, 4),
    (_users, 5),  # + groups
    (_actions, 5),
    (_reviews, 5),
    (_transitions, 5),
    (_measurements, 4),  # cursor: no count
    (_checks, 5),
    (_webhooks, 4),
    (_deliveries, 6),  # + attempts
]


@pytest.mark.parametrize("rows", [5, 50])
@pytest.mark.parametrize("build,queries", LISTS, ids=[b.__name__.strip("_") for b, _ in LISTS])
def test_list_query_count_is_fixed(world: World, build, queries, rows, django_assert_num_queries):
    path = build(world, rows)
    client = world.client("csi")
    with django_assert_num_queries(queries):
        response = client.get(path)
    assert response.status_code == 200
    assert len(response.json()["results"]) >= rows


# --- writes ----------------------------------------------------------------------------
# Pinned on both databases: PostgreSQL stores measurements by COPY, one statement more.


def copy_extra() -> int:
    """PostgreSQL stores new points by COPY under a savepoint: one statement more."""
    return 1 if connection.vendor == "postgresql" else 0


def audit_read() -> int:
    """SQLite reads the stored points a batch meets before its upsert (the audit of
    overwrites); PostgreSQL only when its COPY meets stored points."""
    return 0 if connection.vendor == "postgresql" else 1


def _points(n: int, **extra) -> list[dict]:
    return [point(at=(T0 + dt.timedelta(hours=i)).isoformat(), **extra) for i in range(n)]


@pytest.mark.parametrize("kpis", [0, 5])
def test_a_move_runs_a_fixed_number_of_queries(world: World, kpis, django_assert_num_queries):
    # given an initiative whose vision is complete, with more KPIs or not
    factories.KPIFactory.create_batch(kpis, initiative=world.initiative)
    path = f"/api/v1/initiatives/{world.initiative.pk}/transitions/"
    # when its owner moves it: auth 2, the initiative 1, the service 19 (lock, the move's
    # guard, the update with its history, the log row, the event), the answer 9 (the
    # moved initiative with its relations and KPIs, and their latest checks; its reviews,
    # whose last proposes the closing outcome, and the goals an integration suggested)
    client = world.client("owner")
    with django_assert_num_queries(31):
        response = client.post(path, {"to": "baseline"}, format="json")
    # then it moved, and its next moves were judged from what was loaded
    assert response.status_code == 200
    assert response.json()["step"] == "baseline"
    assert response.json()["allowed_transitions"]


@pytest.mark.parametrize("points", [1, 50])
def test_recording_measurements_runs_a_fixed_number_of_queries(
    world: World, points, django_assert_num_queries
):
    # auth 2, the KPI 1, savepoint, one upsert, the KPI's data version, release; the
    # audit history of points written one KPI at a time: their ids, their history rows;
    # the initiatives' activity stamp 1
    body = _points(1)[0] if points == 1 else _points(points)
    path = f"/api/v1/kpis/{world.kpi.pk}/measurements/"
    client = world.client("integration")
    with django_assert_num_queries(8 + copy_extra() + audit_read() + 2):
        response = client.post(path, body, format="json")
    assert response.status_code == 200
    assert response.json() == {"recorded": points}


@pytest.mark.parametrize("kpis", [1, 5])
def test_recording_measurements_across_kpis_runs_a_fixed_number_of_queries(
    world: World, kpis, django_assert_num_queries
):
    # auth 2, the KPIs by key 1, savepoint, one upsert, the KPIs' data version, release,
    # the initiatives' activity stamp 1
    keys = [world.kpi.key] + [
        factories.KPIFactory(initiative=world.initiative).key for _ in range(kpis - 1)
    ]
    rows = [{**p, "kpi": key} for key in keys for p in _points(10)]
    client = world.client("integration")
    with django_assert_num_queries(8 + copy_extra() + audit_read()):
        response = client.post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 200
    assert response.json() == {"recorded": len(rows)}


RECORD_WRITES = [
    # auth 2, the initiative 1, the service 10 (the record, its validation 3, the update and
    # its history, two savepoint pairs, the initiative's activity stamp); the answer is the
    # record the service saved
    ("plan", {"approach": "Pilot first"}, 14),
    # the same, the goals given 1 (one per goal), goals.set with the initiative's history
    # twice (removed, added) 25, and the answer's goals 2 (the record's initiative, its goals)
    ("vision", {"statement": "Remote work that holds", "goals": "given"}, 42),
]


@pytest.mark.parametrize("record,body,queries", RECORD_WRITES, ids=[r for r, _, _ in RECORD_WRITES])
def test_writing_a_step_record_runs_a_fixed_number_of_queries(
    world: World, record, body, queries, django_assert_num_queries
):
    if body.get("goals") == "given":
        body = {**body, "goals": [world.goal.pk]}
    path = f"/api/v1/initiatives/{world.initiative.pk}/{record}/"
    client = world.client("owner")
    with django_assert_num_queries(queries):
        response = client.put(path, body, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("fields", [1, 4])
def test_rebaselining_a_kpi_runs_a_fixed_number_of_queries(
    world: World, fields, django_assert_num_queries
):
    # given a KPI locked at step 5
    force_step(world.initiative, "action")
    body = {"reason": "The SLA changed.", "target_value": 7.5}
    if fields == 4:
        body |= {"target_date": "2026-09-30", "baseline_value": 10.5, "tolerance": 0.1}
    path = f"/api/v1/kpis/{world.kpi.pk}/rebaseline/"
    client = world.client("csi")
    # when a CSI manager re-baselines it: as many queries whatever the fields given
    with django_assert_num_queries(REBASELINE_QUERIES):
        response = client.post(path, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["target_value"] == 7.5
