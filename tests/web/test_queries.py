"""The writes of the initiative page run a fixed number of queries: a move, a step record's
save and a measurement from the HTML form load the initiative alone and redirect, however
many KPIs, measurements and actions the page would show. The initiative page's count stays
the same however many iterations (with their reviews, actions and moves) and KPI revisions
it shows; the pages' other counts are pinned beside their tests.

Pinned on both databases: PostgreSQL stores measurements by COPY, one statement more.
"""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from improvement import services
from improvement.choices import Step
from improvement.models import KPIRevision, Measurement, Review, TransitionLog

from .. import factories
from ..conftest import force_step
from .conftest import page, url

pytestmark = pytest.mark.django_db


def copy_extra() -> int:
    """PostgreSQL stores new points by COPY under a savepoint: one statement more."""
    return 1 if connection.vendor == "postgresql" else 0


@pytest.fixture
def busy(initiative_at, team_member, client_for):
    """busy(step, kpis) → an initiative at `step` with `kpis` KPIs of ten measurements each
    and as many more actions, and the client of its owner (`team_member`)."""

    def make(step: str, kpis: int):
        initiative = initiative_at(step)
        for n in range(kpis - 1):
            factories.KPIFactory(initiative=initiative)
            factories.ActionFactory(initiative=initiative, owner=team_member, title=f"more {n}")
        now = timezone.now()
        for kpi in initiative.kpis.all():
            for days in range(10):
                Measurement.objects.create(
                    kpi=kpi, value=9, measured_at=now - dt.timedelta(days=days + 1)
                )
        return initiative, client_for(team_member)

    return make


@pytest.mark.parametrize("kpis", [1, 4])
def test_a_move_runs_a_fixed_number_of_queries(busy, kpis, django_assert_num_queries):
    # given an initiative whose vision is complete, with more KPIs and measurements or not
    initiative, client = busy(Step.VISION, kpis)
    # when its owner moves it: the session, the user and their roles 3, the initiative 1,
    # the service 19 (lock, the move's guard, the update with its history, the log row,
    # the event); the page is not built for a move that redirects
    with django_assert_num_queries(23):
        response = client.post(
            url("initiative-move", initiative.reference), {"to": "baseline", "from": "vision"}
        )
    # then it moved, and the answer sends the browser to the page
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert initiative.step == Step.BASELINE


@pytest.mark.parametrize("kpis", [1, 4])
def test_saving_a_step_record_runs_a_fixed_number_of_queries(busy, kpis, django_assert_num_queries):
    initiative, client = busy(Step.PLAN, kpis)
    # the session, the user and their roles 3, the initiative 1, its plan 1 (the form's
    # instance), the service 10 (the plan, its validation 3, the update and its history,
    # two savepoint pairs, the initiative's activity stamp)
    version = services.record_version(initiative.plan)
    with django_assert_num_queries(16):
        response = client.post(
            url("record-update", initiative.reference, "plan"),
            {"version": version, "approach": "Pilot first"},
        )
    assert response.status_code == 302
    initiative.plan.refresh_from_db()
    assert initiative.plan.approach == "Pilot first"


@pytest.mark.parametrize("kpis", [1, 4])
def test_recording_a_measurement_runs_a_fixed_number_of_queries(
    busy, kpis, django_assert_num_queries
):
    initiative, client = busy(Step.ACTION, kpis)
    kpi = initiative.kpis.first()
    measured_at = timezone.localtime().replace(second=0, microsecond=0)
    # the session, the user and their roles 3, the initiative 1, the KPI 1, the service 4
    # (savepoint, one upsert, the KPI's data version, release); the point's audit history 2
    # (its id, its history row), and on SQLite the stored points read before the upsert 1;
    # the initiative's activity stamp 1
    audit = 2 if connection.vendor == "postgresql" else 3
    with django_assert_num_queries(10 + copy_extra() + audit):
        response = client.post(
            url("measurement-create", initiative.reference, kpi.pk),
            {"value": "7.5", "measured_at": measured_at.strftime("%Y-%m-%dT%H:%M")},
        )
    assert response.status_code == 302
    assert kpi.measurements.filter(value=7.5, measured_at=measured_at).exists()


@pytest.mark.parametrize("earlier", [1, 4])
def test_the_page_shows_iterations_and_revisions_in_a_fixed_number_of_queries(
    initiative_at, team_member, client_for, earlier, django_assert_num_queries
):
    # given an initiative in step 5 of iteration earlier + 1: each earlier iteration with its
    # review, two actions and the move back that ended it; its KPI revised as often
    initiative = initiative_at(Step.ACTION)
    force_step(initiative, Step.ACTION, iteration=earlier + 1)
    kpi = initiative.kpis.get()
    for n in range(1, earlier + 1):
        Review.objects.create(
            initiative=initiative, iteration=n, decision="iterate", reviewed_by=team_member
        )
        for title in ("Try", "Measure"):
            factories.ActionFactory(initiative=initiative, iteration=n, title=f"{title} {n}")
        TransitionLog.objects.create(
            initiative=initiative, from_step=Step.REVIEW, to_step=Step.PLAN, actor=team_member,
            comment=f"Round {n}", iteration=n + 1,
        )  # fmt: skip
        KPIRevision.objects.create(
            kpi=kpi, kind=KPIRevision.Kind.CHANGED, by=team_member, reason=f"Round {n}",
            changes={"name": [f"KPI {n}", f"KPI {n + 1}"]},
        )  # fmt: skip
    client = client_for(team_member)
    assert f"Round {earlier}" in client.get(page(initiative)).content.decode()
    # then its page runs as many queries as with one earlier iteration (pinned in
    # test_initiative.py for more KPIs, measurements and actions); + the hygiene panel's
    # duplicates 1 and the comment thread 1; the benefits section 1 (tests/web/test_benefits.py)
    with django_assert_num_queries(40):  # + the header's unread count and the watchers
        assert client.get(page(initiative)).status_code == 200
