"""Concurrent uploads on PostgreSQL: the same new points sent at once in different orders.

Each upload runs in its own thread and connection. Two transactions inserting the same
new (kpi, measured_at) points in different orders each wait for a point the other wrote:
PostgreSQL breaks the deadlock by failing one, which the service tries again.

Run: DATABASE_URL=postgres://... pytest tests/services/test_measurements_concurrency.py
Skips on SQLite (its writes are serialised); fails there under CIR_REQUIRE_SERVICES=1.
"""

import datetime as dt
import random
import threading

import pytest
from django.db import connection

from improvement import services
from improvement.models import Measurement

from .. import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("role_groups"),
]

UPLOADS = 24
POINTS = 2000
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def test_concurrent_uploads_of_the_same_new_points_all_succeed(make_user):
    # given two KPIs and the same 2 x 200 new points, shuffled differently for each upload
    integration = make_user("integration", username="servicenow")
    initiative = factories.InitiativeFactory()
    kpis = [factories.KPIFactory(initiative=initiative, key=f"load-{n}") for n in range(2)]
    rows = [
        {
            "kpi": kpi.key,
            "value": float(i),
            "measured_at": (T0 + dt.timedelta(minutes=i)).isoformat(),
        }
        for kpi in kpis
        for i in range(POINTS)
    ]
    orders = [random.Random(n).sample(rows, len(rows)) for n in range(UPLOADS)]
    barrier = threading.Barrier(UPLOADS)
    outcomes: list = [None] * UPLOADS

    def upload(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = services.measurements_record_bulk(
                actor=integration, rows=orders[index]
            )
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc
        finally:
            connection.close()

    # when they are all sent at once
    threads = [threading.Thread(target=upload, args=(n,)) for n in range(UPLOADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an upload hung"
    # then every upload is recorded, and each point once
    assert outcomes == [len(rows)] * UPLOADS
    assert Measurement.objects.count() == len(rows)
