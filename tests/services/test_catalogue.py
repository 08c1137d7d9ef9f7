"""The catalogue (services/catalogue.py): goals, services, practices."""

import pytest

from improvement import services
from improvement.exceptions import InvalidInput
from improvement.models import (
    Goal,
)

pytestmark = pytest.mark.django_db


def test_goal_title_is_unique(csi):
    services.goal_create(actor=csi, title="Resilience")
    with pytest.raises(InvalidInput) as exc:
        services.goal_create(actor=csi, title="Resilience")
    assert list(exc.value.errors) == ["title"]
    assert Goal.objects.count() == 1
