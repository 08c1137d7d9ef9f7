import pytest

from improvement import services
from improvement.choices import Step


@pytest.mark.django_db
def test_initiative_walks_from_review_to_sustain(initiative_at, team_member):
    initiative = initiative_at(Step.REVIEW)
    from tests.factories import ReviewFactory

    ReviewFactory(initiative=initiative, iteration=1, decision="achieved")
    moved = services.initiative_transition(initiative=initiative, to="sustain", actor=team_member)
    assert moved.step == Step.SUSTAIN
    assert initiative.step == Step.REVIEW  # the caller's copy is untouched
