"""The state diagram in docs/ is drawn from the code."""

from pathlib import Path

from improvement.choices import Step
from improvement.management.commands.workflow_diagram import workflow_dot

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_committed_diagram_matches_the_state_machine_in_the_code():
    assert (DOCS / "workflow.dot").read_text() == workflow_dot(), (
        "docs/workflow.dot is stale: run `make diagram` and commit docs/workflow.*"
    )


def test_diagram_has_every_state_and_the_back_moves():
    dot = workflow_dot()
    for step in Step:
        assert f"  {step.value} [label=" in dot
    assert 'review -> plan [label="Next iteration: back to the plan", style=dashed' in dot
    assert 'action -> target [label="Back to the target", style=dashed' in dot
