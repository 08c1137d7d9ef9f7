"""A KPI read through the API shows its verdict and its latest check from one moment
(selectors.one_snapshot), although they are two queries: a check committed between them
(a worker's) is either wholly in the answer or wholly out of it.

A transactional test, beside the other ones that commit from a second connection: its
flush at the end empties every table, the data the migrations put there too."""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from improvement.models import KPI, KPICheck

from ..api.support import client_for
from ..factories import KPIFactory


def _commit_a_check(kpi_id: int) -> None:
    """What a worker does, on a connection of its own: a check and the KPI's verdict."""
    try:
        now = timezone.now()
        KPICheck.objects.create(
            kpi_id=kpi_id, checked_at=now, data_version=now, status="on_track",
            previous_status="no_data", measurement_count=1,
        )  # fmt: skip
        KPI.objects.filter(pk=kpi_id).update(status="on_track", checked_version=now)
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/v1/kpis/{pk}/", "/api/v1/kpis/?limit=5"])
def test_a_check_committed_between_the_two_reads_is_all_in_or_all_out(make_user, path):
    reader = make_user("csi")
    kpi = KPIFactory(status="no_data")
    fired = []

    def between(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not fired and sql.startswith("SELECT") and 'FROM "improvement_kpi"' in sql:
            fired.append(sql)  # the KPIs are read; their latest checks are next
            worker = threading.Thread(target=_commit_a_check, args=[kpi.pk])
            worker.start()
            worker.join()
        return result

    with connection.execute_wrapper(between):
        answer = client_for(reader).get(path.format(pk=kpi.pk))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    row = body["results"][0] if "results" in body else body
    latest = row["latest_check"]
    assert fired
    assert (row["status"], latest and latest["status"]) == ("no_data", None)
