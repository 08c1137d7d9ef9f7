"""The register's running counts (models.Tally) always equal the counts of their tables.

On PostgreSQL the triggers keep them; the randomised test drives the register through
creations, moves, health and scale changes, goal links added and removed, KPIs and
actions created, changed, moved and deleted, initiatives deleted, in single-row and bulk
statements, and compares every tally with a direct count after each round, folded or not.
Elsewhere the readers count directly; the same comparison holds trivially and the pages
read the same shapes.
"""

import datetime as dt
import random

import pytest
from django.db import connection
from django.db.models import Count, Exists, OuterRef

from improvement import choices, selectors
from improvement.models import (
    KPI,
    Action,
    ActionTally,
    Goal,
    GoalTally,
    Initiative,
    KPITally,
    RegisterTally,
)
from improvement.services.tallies import tallies_fold, tallies_rebuild

from ..factories import GoalFactory, InitiativeFactory, KPIFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
STEPS = choices.Step.values
HEALTHS = choices.Health.values
STATUSES = choices.KPIStatus.values
ACTION_STATUSES = choices.ActionStatus.values
#: any step may be set below, closed too (which needs an outcome)
OUTCOME = choices.Outcome.SUCCESSFUL


def _counted() -> dict:
    """Each tally as counted straight from its tables."""
    linked = Exists(Initiative.goals.through.objects.filter(initiative=OuterRef("pk")))
    register = (
        Initiative.objects.annotate(linked=linked)
        .values_list("step", "health", "value", "effort", "linked")
        .annotate(n=Count("id"))
        .order_by()
    )
    goals = (
        Initiative.goals.through.objects.values_list(
            "goal_id", "initiative__step", "initiative__health"
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    kpis = KPI.objects.values_list("status", "initiative__step").annotate(n=Count("id")).order_by()
    actions = (
        Action.objects.values_list("due_date", "status", "initiative__step")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        name: {tuple(r[:-1]): r[-1] for r in rows}
        for name, rows in (
            ("register", register),
            ("goals", goals),
            ("kpis", kpis),
            ("actions", actions),
        )
    }


def _tallied() -> dict:
    """Each tally as its rows say, summed per key."""
    return {
        "register": selectors._summed(
            RegisterTally, ("step", "health", "value", "effort", "linked")
        ),
        "goals": selectors._summed(GoalTally, ("goal_id", "step", "health")),
        "kpis": selectors._summed(KPITally, ("status", "step")),
        "actions": selectors._summed(ActionTally, ("due_date", "status", "step")),
    }


def _round(rng: random.Random, goals: list[Goal]) -> None:
    """A burst of writes of every kind, as single rows and as bulk statements."""
    ids = list(Initiative.objects.values_list("pk", flat=True))
    for _ in range(rng.randint(1, 4)):
        InitiativeFactory(value=rng.randint(1, 5), effort=rng.randint(1, 5))
    ids = list(Initiative.objects.values_list("pk", flat=True))
    some = rng.sample(ids, min(len(ids), rng.randint(1, 6)))
    for pk in some:  # one row a statement
        Initiative.objects.filter(pk=pk).update(
            step=rng.choice(STEPS), health=rng.choice(HEALTHS), value=rng.randint(1, 5),
            outcome=OUTCOME,
        )  # fmt: skip
    # one statement over many rows, some of which change nothing
    Initiative.objects.filter(pk__in=rng.sample(ids, len(ids) // 2)).update(
        health=rng.choice(HEALTHS)
    )
    Initiative.objects.filter(pk__in=rng.sample(ids, len(ids) // 3)).update(
        effort=rng.randint(1, 5), step=rng.choice(STEPS), outcome=OUTCOME
    )
    for pk in rng.sample(ids, min(len(ids), 4)):  # links added, several at once, and removed
        initiative = Initiative.objects.get(pk=pk)
        initiative.goals.add(*rng.sample(goals, rng.randint(1, len(goals))))
    for pk in rng.sample(ids, min(len(ids), 3)):
        initiative = Initiative.objects.get(pk=pk)
        linked = list(initiative.goals.all())
        if linked:
            initiative.goals.remove(*rng.sample(linked, rng.randint(1, len(linked))))
    Initiative.goals.through.objects.filter(goal=rng.choice(goals)).filter(
        initiative_id__in=rng.sample(ids, len(ids) // 4)
    ).delete()
    for pk in rng.sample(ids, min(len(ids), 3)):
        KPIFactory(initiative_id=pk, status=rng.choice(STATUSES))
        Action.objects.create(
            initiative_id=pk,
            title="Do it",
            status=rng.choice(ACTION_STATUSES),
            due_date=rng.choice([None, TODAY + dt.timedelta(days=rng.randint(-5, 5))]),
            iteration=1,
        )
    kpi_ids = list(KPI.objects.values_list("pk", flat=True))
    KPI.objects.filter(pk__in=rng.sample(kpi_ids, len(kpi_ids) // 2)).update(
        status=rng.choice(STATUSES)
    )
    if kpi_ids and rng.random() < 0.5:  # a KPI moved to another initiative
        KPI.objects.filter(pk=rng.choice(kpi_ids)).update(initiative_id=rng.choice(ids))
    action_ids = list(Action.objects.values_list("pk", flat=True))
    Action.objects.filter(pk__in=rng.sample(action_ids, len(action_ids) // 2)).update(
        status=rng.choice(ACTION_STATUSES),
        due_date=TODAY + dt.timedelta(days=rng.randint(-5, 5)),
    )
    if action_ids and rng.random() < 0.5:
        Action.objects.filter(pk=rng.choice(action_ids)).delete()
    if kpi_ids and rng.random() < 0.5:
        KPI.objects.filter(pk=rng.choice(kpi_ids)).delete()
    if len(ids) > 5 and rng.random() < 0.5:  # an initiative deleted with what it holds
        Initiative.objects.get(pk=rng.choice(ids)).delete()


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tallies_equal_the_counts_of_their_tables_after_any_writes(seed):
    rng = random.Random(seed)
    goals = [GoalFactory() for _ in range(3)]
    for _ in range(8):
        InitiativeFactory(value=rng.randint(1, 5), effort=rng.randint(1, 5))
    for n in range(12):
        _round(rng, goals)
        assert _tallied() == _counted(), f"round {n}"
        if rng.random() < 0.4:
            tallies_fold()
            assert _tallied() == _counted(), f"round {n}, folded"
    assert sum(_counted()["register"].values()) == Initiative.objects.count()


@pytest.mark.postgres
def test_folding_leaves_one_row_per_key_and_the_same_sums():
    goals = [GoalFactory() for _ in range(2)]
    for _ in range(5):
        initiative = InitiativeFactory()
        initiative.goals.add(*goals)
        Initiative.objects.filter(pk=initiative.pk).update(health=choices.Health.AT_RISK)
        Initiative.objects.filter(pk=initiative.pk).update(health=choices.Health.ON_TRACK)
    before = _tallied()
    rows_before = RegisterTally.objects.count()

    assert tallies_fold() > 0

    assert _tallied() == before == _counted()
    assert RegisterTally.objects.count() < rows_before
    keys = RegisterTally.objects.values_list("step", "health", "value", "effort", "linked")
    assert len(set(keys)) == len(keys)  # one row per key
    assert not RegisterTally.objects.filter(n=0).exists()


@pytest.mark.postgres
def test_rebuild_repairs_a_tally_changed_by_hand():
    InitiativeFactory.create_batch(3)
    RegisterTally.objects.create(
        step="action", health="none", value=3, effort=3, linked=False, n=40
    )
    assert _tallied() != _counted()

    tallies_rebuild()

    assert _tallied() == _counted()


@pytest.mark.postgres
def test_a_link_cannot_be_changed_in_place():
    goal, other = GoalFactory(), GoalFactory()
    initiative = InitiativeFactory()
    initiative.goals.add(goal)
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        Initiative.goals.through.objects.filter(initiative=initiative).update(goal=other)
    assert list(initiative.goals.all()) == [goal]
    assert _tallied() == _counted()


def test_the_readers_count_the_register_on_any_database(make_user):
    """What the pages read: the same figures from the tallies or from the tables."""
    goal = GoalFactory()
    a = InitiativeFactory(value=5, effort=1)
    a.goals.add(goal)
    InitiativeFactory(value=2, effort=4)
    KPIFactory(initiative=a, status=choices.KPIStatus.AT_RISK)
    Action.objects.create(
        initiative=a, title="Late", status="planned", due_date=TODAY - dt.timedelta(days=2),
        iteration=1,
    )  # fmt: skip
    Action.objects.create(
        initiative=a, title="Done", status="done", due_date=TODAY - dt.timedelta(days=2),
        iteration=1,
    )  # fmt: skip
    visible = selectors.initiatives_visible_to(make_user("viewer"))
    step = str(a.step)

    assert selectors.register_tally(visible) == {
        (step, str(a.health), 5, 1, True): 1,
        (step, str(a.health), 2, 4, False): 1,
    }
    assert selectors.goal_tally(visible) == {(goal.pk, step, str(a.health)): 1}
    assert selectors.kpi_tally(visible) == {("at_risk", step): 1}
    assert selectors.overdue_action_count(visible, TODAY) == 1
    assert selectors.overdue_action_count(visible, TODAY - dt.timedelta(days=2)) == 0


@pytest.mark.postgres
def test_the_fold_runs_every_minute_as_a_periodic_job():
    from django_celery_beat.models import PeriodicTask

    from improvement.tasks import tallies_fold as fold_task

    job = PeriodicTask.objects.get(task="improvement.tasks.tallies_fold")
    assert job.enabled and (job.interval.every, job.interval.period) == (1, "minutes")
    initiative = InitiativeFactory()
    for health in ("at_risk", "on_track", "missed"):
        Initiative.objects.filter(pk=initiative.pk).update(health=health)
    assert fold_task.delay().get() > 0
    assert RegisterTally.objects.count() == len(_counted()["register"])


@pytest.mark.postgres
def test_a_truncated_table_counts_its_tallies_again():
    """TRUNCATE fires none of the row triggers: the tallies are counted again from scratch."""
    goal = GoalFactory()
    for _ in range(3):
        initiative = InitiativeFactory()
        initiative.goals.add(goal)
        KPIFactory(initiative=initiative)
        Action.objects.create(initiative=initiative, title="Do", iteration=1)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's rows checked now
        cursor.execute("TRUNCATE improvement_action, improvement_kpi CASCADE")
    assert _tallied() == _counted()
    assert not _counted()["kpis"] and not _counted()["actions"]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE improvement_initiative_goals")
    assert _tallied() == _counted()
    assert all(not linked for (*_, linked) in _tallied()["register"])
