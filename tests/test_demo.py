"""`manage.py seed_demo`: realistic demo data in every step and every KPI status, loaded
through the services, and safe to run twice.

The seed runs twice once for the whole module (it takes seconds), inside a transaction
that is rolled back after the module's last test.
"""

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from improvement import evaluation, services
from improvement.choices import KPIStatus, Role, Step
from improvement.management.commands.seed_demo import (
    DEFAULT_PASSWORD,
    LIVE_AFTER,
    LIVE_KPI,
    LIVE_SOURCE,
    LOGINS,
)
from improvement.models import (
    KPI,
    Action,
    Event,
    Goal,
    HistoricalInitiative,
    Initiative,
    KPICheck,
    Measurement,
    Review,
    Service,
    TransitionLog,
)

User = get_user_model()

COUNTED = (
    User,
    Token,
    Goal,
    Service,
    Initiative,
    KPI,
    Measurement,
    KPICheck,
    TransitionLog,
    Action,
    Review,
    Event,
    HistoricalInitiative,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The outputs of two runs of seed_demo and the row counts after each."""
    with django_db_blocker.unblock(), transaction.atomic():
        started = timezone.now()
        first, second = io.StringIO(), io.StringIO()
        call_command("seed_demo", stdout=first)
        after_first = counts()
        call_command("seed_demo", stdout=second)
        yield SimpleNamespace(
            started=started,
            first=first.getvalue(),
            second=second.getvalue(),
            after_first=after_first,
            after_second=counts(),
        )
        transaction.set_rollback(True)


def test_running_it_twice_adds_nothing(seeded, db):
    assert seeded.after_first["Initiative"] == 13
    # but the check of the live verdict's point, moved to the second run's time
    rechecked = seeded.after_second.pop("KPICheck") - seeded.after_first.pop("KPICheck")
    assert seeded.after_second == seeded.after_first
    assert rechecked == 1
    assert "nothing added" in seeded.second


def test_a_verdict_moves_with_time_alone_minutes_after_the_seed(seeded, db):
    # given the live KPI as the second run left it, on track now
    kpi = KPI.objects.get(key=LIVE_KPI)
    assert kpi.status == KPIStatus.ON_TRACK
    assert f"KPI '{kpi.name}' of {kpi.initiative.reference} is on track now" in seeded.second

    def status_at(moment):
        return services.kpis_check(kpi_ids=[kpi.pk], at=moment).results[kpi.pk].status

    # then with no new data it is on track just before LIVE_AFTER and at risk after it
    assert status_at(seeded.started + LIVE_AFTER - dt.timedelta(seconds=5)) == "on_track"
    assert status_at(seeded.started + LIVE_AFTER + dt.timedelta(seconds=60)) == "at_risk"
    assert Measurement.objects.filter(kpi=kpi, source=LIVE_SOURCE).count() == 1


def test_every_step_has_an_initiative(seeded, db):
    steps = set(Initiative.objects.values_list("step", flat=True))
    assert steps == set(Step.values)


def test_every_kpi_status_is_shown_after_the_checks(seeded, db):
    statuses = set(KPI.objects.values_list("status", flat=True))
    assert statuses == set(KPIStatus.values)


def test_health_is_the_worst_kpi_status(seeded, db):
    checked = Initiative.objects.filter(kpis__isnull=False).exclude(
        step__in=(Step.REJECTED, Step.CANCELLED)  # no longer checked
    )
    initiatives = list(checked.distinct().prefetch_related("kpis"))
    assert len(initiatives) >= 8
    for initiative in initiatives:
        statuses = [kpi.status for kpi in initiative.kpis.all()]
        assert initiative.health == evaluation.worst_status(statuses), initiative
    # and the demo shows a mixed register: healths other than the best one
    assert {"achieved", "reverted", "at_risk", "regressed"} <= {i.health for i in initiatives}


def test_the_logins_are_printed_and_work(seeded, db):
    for username, _, _, role, _, _ in LOGINS:
        assert f"  {username} " in seeded.first
        user = authenticate(username=username, password=DEFAULT_PASSWORD)
        assert user is not None, username
        assert user.groups.filter(name=role).exists()
    assert DEFAULT_PASSWORD in seeded.first
    assert User.objects.get(username="csi").is_staff
    token = Token.objects.get(user__username="servicenow")
    assert token.key in seeded.first and token.key in seeded.second


def test_the_password_option_sets_the_demo_password(seeded, db):
    out = io.StringIO()

    call_command("seed_demo", "--password", "another-demo-pass", stdout=out)

    assert "another-demo-pass" in out.getvalue()
    assert authenticate(username="tina", password="another-demo-pass") is not None
    assert counts()["Initiative"] == seeded.after_first["Initiative"]


def test_one_initiative_went_round_a_second_iteration(seeded, db):
    initiative = Initiative.objects.get(iteration=2)
    assert initiative.reviews.get(iteration=1).decision == "iterate"
    assert initiative.transitions.filter(
        from_step=Step.REVIEW, to_step=Step.PLAN, iteration=2
    ).exists()
    assert initiative.actions.filter(iteration=2).exists()


def test_one_initiative_moved_back_from_action_to_plan(seeded, db):
    assert TransitionLog.objects.filter(from_step=Step.ACTION, to_step=Step.PLAN).exists()


def test_the_history_lies_in_the_past_with_its_actors(seeded, db):
    # every move is logged by a named user on a day of the story, not on the seeding day
    logs = TransitionLog.objects.all()
    assert logs.count() >= 40
    assert not logs.filter(at__gte=seeded.started).exists()
    assert not logs.filter(to_step__in=[Step.REJECTED, Step.CLOSED]).exclude(
        actor__groups__name=Role.CSI_MANAGER
    )
    assert not HistoricalInitiative.objects.filter(history_user__isnull=True).exists()
    # months of measurements for the charts, with overdue actions on live initiatives
    oldest = Measurement.objects.order_by("measured_at").first().measured_at
    assert (seeded.started - oldest).days > 180
    assert Action.objects.filter(
        due_date__lt=seeded.started.date(), status__in=["planned", "in_progress"]
    ).exclude(initiative__step__in=[Step.CANCELLED, Step.CLOSED, Step.REJECTED])


def test_the_initiative_on_hold_was_held_on_its_story_day(seeded, db):
    held = Initiative.objects.get(step=Step.ON_HOLD)
    # held two days before the seed, in office hours (08:30 UTC): seeded before then,
    # fewer than 48 hours have passed, and days on hold are whole days elapsed
    story_day = seeded.started.astimezone(dt.UTC).date() - dt.timedelta(days=2)
    assert held.held_since.astimezone(dt.UTC).date() == story_day
    now = timezone.now()
    days = (now - held.held_since).days
    assert days in (1, 2)
    # the days on hold count from then, and not as age
    assert held.on_hold_days == days
    assert held.age_days == (now - held.created_at).days - days
