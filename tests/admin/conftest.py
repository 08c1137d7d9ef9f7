"""Fixtures of the admin tests: a logged-in CSI manager and a row of every model."""

import datetime as dt

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import Decision, Step
from improvement.models import Initiative, KPICheck, Measurement

from .. import factories


@pytest.fixture
def csi_client(client, csi):
    client.force_login(csi)
    return client


@pytest.fixture
def populated(initiative_at, csi):
    """One row of every model, written the way the app writes them."""
    initiative = initiative_at(Step.REVIEW)
    kpi = initiative.kpis.get()
    # the KPI reached its target (10 → 8, now 7), so the review may say "achieved"
    services.measurement_record(
        kpi=kpi, actor=csi, points=[{"value": 7.0, "measured_at": timezone.now() - dt.timedelta(1)}]
    )
    services.kpi_check(kpi=kpi)
    services.review_create(initiative=initiative, actor=csi, decision=Decision.ACHIEVED)
    services.initiative_transition(initiative=initiative, to=Step.SUSTAIN, actor=csi)
    services.kpi_rebaseline(kpi=kpi, actor=csi, reason="Scope grew to EMEA.", target_value=7.5)
    services.initiative_create(actor=csi, title="Reduce change failure rate")
    Measurement.objects.create(kpi=kpi, value=9.0, measured_at=timezone.now(), source="test")
    KPICheck.objects.create(kpi=kpi, checked_at=timezone.now(), status="on_track", current=9.0)
    initiative.service = factories.ServiceFactory()
    initiative.practice = factories.PracticeFactory()
    Initiative.objects.filter(pk=initiative.pk).update(
        service=initiative.service, practice=initiative.practice
    )
    return initiative
