"""Concurrent writes on PostgreSQL: two real connections racing on one initiative.

Each racer is a thread with Django's per-thread connection. Racers read the initiative
first (so that each believes it is at the same step), wait at a barrier, then call the
service together. The winner holds the row lock a little longer than needed (its event
write is slowed), so the loser's SELECT … FOR UPDATE really waits on it.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/cir pytest tests/services/test_concurrency.py
Skips on SQLite; fails there under CIR_REQUIRE_SERVICES=1 (see conftest).
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection

from improvement import services
from improvement.choices import Decision, EventType, Step
from improvement.exceptions import Conflict
from improvement.models import Event, Initiative, TransitionLog

from .. import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("role_groups"),
]

#: how long the winner keeps the row locked after moving it
HOLD_LOCK_SECONDS = 0.3


@pytest.fixture
def slow_event_write(monkeypatch):
    """Slow the event write inside initiative_transition's transaction (the lock is held)."""
    from improvement.services import initiatives

    real_event_emit = initiatives.event_emit

    def slow(**kwargs):
        time.sleep(HOLD_LOCK_SECONDS)
        return real_event_emit(**kwargs)

    monkeypatch.setattr(initiatives, "event_emit", slow)


def race(*racers: tuple[Callable[[], object], Callable[[object], object]]) -> list:
    """Run each (prepare, act) in its own thread and connection; act starts together.

    Returns what each act returned, or the exception it raised, in racer order.
    """
    barrier = threading.Barrier(len(racers))
    outcomes: list = [None] * len(racers)

    def run(index: int, prepare, act) -> None:
        try:
            prepared = prepare()
            barrier.wait(timeout=10)
            try:
                outcomes[index] = act(prepared)
            except Exception as exc:  # the loser's error is the result under test
                outcomes[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, prepare, act), name=f"racer-{i}")
        for i, (prepare, act) in enumerate(racers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a racer hung (deadlock?)"
    return outcomes


def mover(pk: int, to: str, actor, **inputs):
    """A racer that reads the initiative, then moves it to `to`."""

    def prepare():
        return Initiative.objects.get(pk=pk)

    def act(initiative):
        return services.initiative_transition(initiative=initiative, to=to, actor=actor, **inputs)

    return prepare, act


def split(outcomes: list) -> tuple[list[Initiative], list[Exception]]:
    wins = [o for o in outcomes if isinstance(o, Initiative)]
    losses = [o for o in outcomes if not isinstance(o, Initiative)]
    return wins, losses


def test_the_race_runs_on_postgresql():
    assert connection.vendor == "postgresql"


@pytest.mark.usefixtures("slow_event_write")
def test_two_different_moves_at_once_exactly_one_wins(csi, team_member, initiative_at):
    # given: an initiative in action that may go on to review or back to plan
    initiative = initiative_at(Step.ACTION)
    history_before = Initiative.history.filter(id=initiative.pk).count()

    # when: the team member moves it back to plan while the CSI manager moves it to review
    outcomes = race(
        mover(initiative.pk, Step.PLAN, team_member, comment="Re-plan."),
        mover(initiative.pk, Step.REVIEW, csi),
    )

    # then: one won, the other got a conflict and changed nothing
    wins, losses = split(outcomes)
    assert len(wins) == 1, outcomes
    assert len(losses) == 1 and isinstance(losses[0], Conflict), outcomes
    winner = wins[0]
    row = Initiative.objects.get(pk=initiative.pk)
    assert row.step == winner.step
    (log,) = TransitionLog.objects.filter(initiative=initiative)
    assert (log.from_step, log.to_step) == (Step.ACTION, winner.step)
    assert Initiative.history.filter(id=initiative.pk).count() == history_before + 1
    assert Event.objects.filter(type=EventType.INITIATIVE_TRANSITIONED).count() == 1


@pytest.mark.usefixtures("slow_event_write")
def test_the_same_move_twice_at_once_happens_once(csi, initiative_at):
    initiative = initiative_at(Step.ACTION)

    outcomes = race(
        mover(initiative.pk, Step.REVIEW, csi),
        mover(initiative.pk, Step.REVIEW, csi),
    )

    wins, losses = split(outcomes)
    assert len(wins) == 1 and wins[0].step == Step.REVIEW, outcomes
    assert len(losses) == 1 and isinstance(losses[0], Conflict), outcomes
    assert Initiative.objects.get(pk=initiative.pk).step == Step.REVIEW
    assert TransitionLog.objects.filter(initiative=initiative).count() == 1


@pytest.mark.usefixtures("slow_event_write")
def test_a_concurrent_iteration_is_counted_once(team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    factories.ReviewFactory(initiative=initiative, iteration=1, decision=Decision.ITERATE)

    outcomes = race(
        mover(initiative.pk, Step.PLAN, team_member, comment="Round two."),
        mover(initiative.pk, Step.PLAN, team_member, comment="Round two."),
    )

    wins, losses = split(outcomes)
    assert len(wins) == 1 and len(losses) == 1 and isinstance(losses[0], Conflict), outcomes
    row = Initiative.objects.get(pk=initiative.pk)
    assert (row.step, row.iteration) == (Step.PLAN, 2)
    (log,) = TransitionLog.objects.filter(initiative=initiative)
    assert (log.to_step, log.iteration) == (Step.PLAN, 2)


@pytest.mark.usefixtures("slow_event_write")
def test_cancel_racing_close_leaves_one_ending(csi, make_user, initiative_at):
    other_csi = make_user("csi", username="csi-2")
    initiative = initiative_at(Step.SUSTAIN)

    outcomes = race(
        # an outcome the closing guards accept for an initiative with no KPIs, so whichever
        # racer takes the lock first wins ("successful" would be refused by the guards)
        mover(initiative.pk, Step.CLOSED, csi, outcome="unsuccessful"),
        mover(initiative.pk, Step.CANCELLED, other_csi, reason="r", lessons_learned="l"),
    )

    wins, losses = split(outcomes)
    assert len(wins) == 1 and len(losses) == 1 and isinstance(losses[0], Conflict), outcomes
    row = Initiative.objects.get(pk=initiative.pk)
    assert row.step == wins[0].step
    # the loser's inputs left no trace
    if row.step == Step.CLOSED:
        assert (row.outcome, row.closure_reason) == ("unsuccessful", "")
    else:
        assert (row.outcome, row.closure_reason) == ("", "r")
    assert TransitionLog.objects.filter(initiative=initiative).count() == 1


def test_concurrent_creates_get_distinct_sequential_references(csi):
    racers = [
        (lambda: None, lambda _, n=n: services.initiative_create(actor=csi, title=f"Idea {n}"))
        for n in range(4)
    ]

    outcomes = race(*racers)

    assert all(isinstance(o, Initiative) for o in outcomes), outcomes
    assert sorted(o.reference for o in outcomes) == [
        "CIR-00001",
        "CIR-00002",
        "CIR-00003",
        "CIR-00004",
    ]
    assert Initiative.objects.count() == 4


def test_concurrent_intake_of_one_problem_registers_it_once(integration):
    def create_or_get(_):
        return services.initiative_create_or_get(
            actor=integration,
            title="Recurring VPN drops",
            external_system="servicenow",
            external_id="PRB0040012",
        )

    outcomes = race(*[(lambda: None, create_or_get) for _ in range(3)])

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert len({initiative.pk for initiative, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False, False, True]
    assert Initiative.objects.filter(external_id="PRB0040012").count() == 1
