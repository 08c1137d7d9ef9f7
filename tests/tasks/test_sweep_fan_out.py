"""The scheduled sweep fans out: one kpis_check_range task per id range of due KPIs.

In-process (no broker, the embedded default) the batches run one after the other; with a
broker they go to the queue the sweep came from, and several worker processes share them.
"""

import datetime as dt

import pytest
from django.utils import timezone

from improvement.choices import Step
from improvement.models import KPI, KPICheck, Measurement

from ..conftest import force_step
from ..factories import InitiativeFactory, KPIFactory
from .live import Worker, point_producer_at
from .live import wait_until as _wait_until

NOW = timezone.now()


def _kpis(count: int) -> list[KPI]:
    initiative = force_step(InitiativeFactory(), Step.ACTION)
    kpis = []
    for _ in range(count):
        kpi = KPIFactory(
            initiative=initiative,
            baseline_date=(NOW - dt.timedelta(days=30)).date(),
            target_date=(NOW + dt.timedelta(days=30)).date(),
        )
        Measurement.objects.create(kpi=kpi, value=9.0, measured_at=NOW - dt.timedelta(days=1))
        kpis.append(kpi)
    return kpis


@pytest.mark.django_db
def test_in_process_the_sweep_runs_every_batch_and_then_only_what_is_due(settings):
    from improvement.tasks import kpis_sweep

    settings.CIR_SWEEP_BATCH_SIZE = 2
    kpis = _kpis(5)
    assert kpis_sweep.delay().get() == {"batches": 3, "sent": 3}
    assert (
        KPI.objects.filter(pk__in=[k.pk for k in kpis], checked_version__isnull=True).count() == 0
    )
    assert KPICheck.objects.count() == 5
    # nothing is due a moment later: the next sweep sends nothing, writes nothing
    assert kpis_sweep.delay().get() == {"batches": 0, "sent": 0}
    # a full sweep reads them all again and writes nothing new
    assert kpis_sweep.delay(True).get() == {"batches": 3, "sent": 3}
    assert KPICheck.objects.count() == 5


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_batches_of_one_sweep(configured_broker, queue, restore_celery):
    from improvement.tasks import kpis_sweep

    kpis = _kpis(6)
    workers = [Worker(configured_broker, queue, env={"CIR_SWEEP_BATCH_SIZE": "2"}) for _ in "ab"]
    for worker in workers:
        worker.start()
    try:
        point_producer_at(configured_broker, queue)
        kpis_sweep.apply_async()

        def batches_done() -> int:
            return sum(
                "kpis_check_range" in line and "succeeded" in line
                for worker in workers
                for line in worker.lines
            )

        assert _wait_until(lambda: batches_done() >= 3, timeout=60), "".join(
            workers[0].lines + workers[1].lines
        )
    finally:
        for worker in workers:
            worker.stop()
    assert (
        KPI.objects.filter(pk__in=[k.pk for k in kpis], checked_version__isnull=True).count() == 0
    )
    assert KPICheck.objects.filter(kpi__in=kpis).count() == 6
    # the batches went to this test's queue, not to the default one
    assert not any(
        "kpis_check_range" in line and "raised" in line for w in workers for line in w.lines
    )
