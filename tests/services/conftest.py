"""What the service tests share: a clock, and a KPI with a baseline and a target."""

import datetime as dt

import pytest
from django.utils import timezone

from improvement.choices import Step

from ..factories import KPIFactory

NOW = timezone.now()


def at(days_ago: float) -> dt.datetime:
    """An instant `days_ago` days before the tests' NOW."""
    return NOW - dt.timedelta(days=days_ago)


@pytest.fixture
def kpi(initiative_at):
    """A 'decrease' KPI: baseline 10 sixty days ago, target 8 in 120 days (latest value)."""
    initiative = initiative_at(Step.ACTION)
    initiative.kpis.all().delete()
    return KPIFactory(
        initiative=initiative, key="mttr", name="Mean time to resolve",
        baseline_value=10.0, baseline_date=(NOW - dt.timedelta(days=60)).date(),
        target_value=8.0, target_date=(NOW + dt.timedelta(days=120)).date(),
    )  # fmt: skip
