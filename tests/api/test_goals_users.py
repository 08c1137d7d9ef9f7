"""Goals (CSI managers write) and users (referred to by username everywhere)."""

from __future__ import annotations

import pytest

from improvement.models import Goal

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)


def test_csi_manager_manages_goals(world: World):
    client = world.client("csi")
    created = client.post(
        "/api/v1/goals/",
        {"title": "Happy customers", "owner": "victor", "horizon": "2027-12-31"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    goal = created.json()
    assert (goal["owner"], goal["horizon"], goal["active"]) == ("victor", "2027-12-31", True)
    retired = client.patch(f"/api/v1/goals/{goal['id']}/", {"active": False}, format="json")
    assert retired.json()["active"] is False


def test_goal_titles_are_unique(world: World):
    response = world.client("csi").post(
        "/api/v1/goals/", {"title": world.goal.title}, format="json"
    )
    assert response.status_code == 400
    assert "title" in response.json()["errors"]


def test_a_goal_no_initiative_serves_is_deleted(world: World):
    response = world.client("csi").delete(f"/api/v1/goals/{world.goal.pk}/")
    assert response.status_code == 204
    assert not Goal.objects.filter(pk=world.goal.pk).exists()


def test_a_goal_in_use_is_kept_and_the_answer_says_to_retire_it(world: World):
    world.proposed.goals.add(world.goal)
    response = world.client("csi").delete(f"/api/v1/goals/{world.goal.pk}/")
    assert response.status_code == 409
    assert "active = false" in response.json()["message"]
    assert Goal.objects.filter(pk=world.goal.pk).exists()


def test_users_show_username_name_and_roles(world: World):
    data = world.client("viewer").get("/api/v1/users/").json()
    by_name = {u["username"]: u for u in data["results"]}
    assert by_name["csi"]["roles"] == ["CSI manager"]
    assert by_name["servicenow"]["roles"] == ["ITSM integration"]
    assert by_name["nobody"]["roles"] == []
    assert set(by_name["tina"]) == {"id", "username", "name", "roles"}


@pytest.mark.parametrize("role,expected", [("Viewer", ["victor"]), ("CSI manager", ["csi"])])
def test_users_filter_by_role(world: World, role, expected):
    data = world.client("viewer").get("/api/v1/users/", {"role": role}).json()
    assert [u["username"] for u in data["results"]] == expected


def test_users_filter_by_username(world: World):
    data = world.client("viewer").get("/api/v1/users/?username=tina").json()
    assert [u["username"] for u in data["results"]] == ["tina"]
