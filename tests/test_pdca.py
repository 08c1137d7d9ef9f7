"""The PDCA mapping (SPEC §10): Plan = steps 1–4, Do = 5, Check = 6, Act = 7 and closed;
proposed, on hold, rejected and cancelled are outside the cycle."""

import pytest

from improvement import choices
from improvement.choices import PDCAPhase, Step

EXPECTED = {
    Step.PROPOSED: PDCAPhase.NONE,
    Step.VISION: PDCAPhase.PLAN,
    Step.BASELINE: PDCAPhase.PLAN,
    Step.TARGET: PDCAPhase.PLAN,
    Step.PLAN: PDCAPhase.PLAN,
    Step.ACTION: PDCAPhase.DO,
    Step.REVIEW: PDCAPhase.CHECK,
    Step.SUSTAIN: PDCAPhase.ACT,
    Step.CLOSED: PDCAPhase.ACT,
    Step.ON_HOLD: PDCAPhase.NONE,
    Step.REJECTED: PDCAPhase.NONE,
    Step.CANCELLED: PDCAPhase.NONE,
}


def test_every_state_is_listed_here():
    assert set(EXPECTED) == set(Step)


@pytest.mark.parametrize("step", list(Step))
def test_each_state_maps_to_its_phase(step):
    assert choices.pdca_phase(step) == EXPECTED[step]
    assert choices.pdca_phase(step.value) == EXPECTED[step]  # a plain string too


def test_the_phases_partition_the_states():
    listed = [s for steps in choices.PDCA_STEPS.values() for s in steps]
    assert sorted(listed) == sorted(Step)  # each state in exactly one phase


def test_the_cycle_runs_plan_do_check_act():
    assert [p.label for p in choices.PDCA_CYCLE] == ["Plan", "Do", "Check", "Act"]


def test_an_unknown_state_has_no_phase():
    with pytest.raises(KeyError):
        choices.pdca_phase("nowhere")
