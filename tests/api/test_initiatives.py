"""The register over the API: create (idempotent for ITSM tools), read, filter, change,
delete, move, and the step records, actions and reviews of an initiative."""

from __future__ import annotations

import pytest

from improvement import choices, services
from improvement.api import views
from improvement.models import Initiative, TransitionLog

from .. import factories
from .support import World, client_for
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

PROBLEM = {
    "title": "Recurring VPN drop-outs after client update",
    "source": "problem",
    "external_system": "servicenow",
    "external_id": "PRB0040012",
    "external_url": "https://example.service-now.com/problem.do?sys_id=42",
}


# --- create ---------------------------------------------------------------------------


def test_integration_raises_a_candidate_in_proposed(world: World):
    response = world.client("integration").post("/api/v1/initiatives/", PROBLEM, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["step"] == "proposed"
    assert body["reference"].startswith("CIR-")
    assert body["created_by"] == "servicenow"
    assert body["external_id"] == "PRB0040012"


def test_create_is_idempotent_on_external_system_and_id(world: World):
    client = world.client("integration")
    first = client.post("/api/v1/initiatives/", PROBLEM, format="json")
    again = client.post("/api/v1/initiatives/", PROBLEM | {"title": "Retried"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["title"] == PROBLEM["title"]  # the existing one, unchanged
    assert Initiative.objects.filter(external_id="PRB0040012").count() == 1


def test_same_external_id_in_another_system_is_another_initiative(world: World):
    client = world.client("integration")
    client.post("/api/v1/initiatives/", PROBLEM, format="json")
    other = client.post(
        "/api/v1/initiatives/", PROBLEM | {"external_system": "jira"}, format="json"
    )
    assert other.status_code == 201


def test_create_answers_the_detail_with_allowed_transitions(world: World):
    response = world.client("csi").post("/api/v1/initiatives/", PROBLEM, format="json")
    moves = {t["to"]: t for t in response.json()["allowed_transitions"]}
    assert moves["vision"]["allowed"] is True
    assert moves["rejected"]["requires"] == ["reason"]


def test_csi_manager_sets_priority_on_create(world: World):
    response = world.client("csi").post(
        "/api/v1/initiatives/", PROBLEM | {"priority": "P1"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["priority"] == "P1"


def test_team_member_may_not_set_priority_and_nothing_is_created(world: World):
    response = world.client("owner").post(
        "/api/v1/initiatives/", PROBLEM | {"priority": "P1"}, format="json"
    )
    assert response.status_code == 403
    assert not Initiative.objects.filter(external_id="PRB0040012").exists()


def test_create_with_raci_goals_and_service_by_name(world: World):
    body = PROBLEM | {
        "service": "VPN",
        "goals": [world.goal.pk],
        "accountable": "tina",
        "responsible": ["tina", "otto"],
        "informed": ["victor"],
        "value": 5,
        "effort": 1,
        "urgency": 5,
        "due_date": "2026-12-31",
    }
    response = world.client("csi").post("/api/v1/initiatives/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["service"] == "VPN"
    assert data["goals"] == [world.goal.pk]
    assert sorted(data["responsible"]) == ["otto", "tina"]
    assert data["score"] == 10.0
    assert data["priority"] == "P1"  # derived from the score


# --- read ------------------------------------------------------------------------------


def test_detail_carries_moves_for_the_requesting_user(world: World):
    path = f"/api/v1/initiatives/{world.proposed.pk}/"
    as_team = {t["to"]: t for t in world.client("owner").get(path).json()["allowed_transitions"]}
    as_csi = {t["to"]: t for t in world.client("csi").get(path).json()["allowed_transitions"]}
    assert as_csi["vision"]["allowed"] is True
    assert as_team["vision"]["allowed"] is False
    assert as_team["vision"]["permitted"] is False
    # the refusal names the role that may accept
    assert as_team["vision"]["reasons"] == [
        "Only a CSI manager may accept, reject, cancel or close an initiative."
    ]


def test_detail_lists_unmet_conditions(world: World):
    # given an initiative in vision with nothing written yet
    bare = factories.InitiativeFactory()
    from ..conftest import force_step

    force_step(bare, choices.Step.VISION)
    moves = world.client("csi").get(f"/api/v1/initiatives/{bare.pk}/").json()["allowed_transitions"]
    to_baseline = next(t for t in moves if t["to"] == "baseline")
    assert to_baseline["allowed"] is False
    assert "The vision statement is missing." in to_baseline["reasons"]
    assert "No accountable owner is set." in to_baseline["reasons"]


def test_detail_carries_kpis_with_their_latest_check_and_links(world: World):
    services.kpi_check(kpi=world.kpi)
    client = world.client("viewer")
    data = client.get(f"/api/v1/initiatives/{world.initiative.pk}/").json()
    (kpi,) = data["kpis"]
    assert kpi["key"] == world.kpi.key
    assert kpi["latest_check"]["status"] == world.kpi.checks.get().status
    assert "target_change_pct" not in kpi
    assert set(data["links"]) == {
        "self", "vision", "baseline", "target", "plan", "sustain",
        "actions", "reviews", "transitions", "kpis",
    }  # fmt: skip
    for url in data["links"].values():
        assert client.get(url).status_code == 200, url


def test_detail_query_count_does_not_grow_with_kpis(world: World, django_assert_max_num_queries):
    for _ in range(5):
        services.kpi_check(kpi=factories.KPIFactory(initiative=world.initiative))
    client = world.client("viewer")
    with django_assert_max_num_queries(30):
        response = client.get(f"/api/v1/initiatives/{world.initiative.pk}/")
    assert len(response.json()["kpis"]) == 6


# --- list, filters, pagination ----------------------------------------------------------


def test_filters(world: World):
    client = world.client("viewer")
    world.proposed.goals.add(world.goal)

    def refs(query: str) -> set[str]:
        response = client.get(f"/api/v1/initiatives/?{query}")
        assert response.status_code == 200, response.json()
        return {r["reference"] for r in response.json()["results"]}

    i, p, r = world.initiative.reference, world.proposed.reference, world.in_review.reference
    assert refs("step=vision") == {i}
    assert refs("step=vision&step=review") == {i, r}
    assert refs("source=problem") == {i, p, r}
    assert refs("health=none") == {i, p, r}
    assert refs("service=VPN") == {i, p, r}
    assert refs("priority=P3") == {i, p, r}
    assert refs("priority=P1") == set()
    assert refs("accountable=tina") == {i, p, r}
    assert refs(f"goal={world.goal.pk}") == {p}
    assert refs(f"search={p}") == {p}
    ordered = client.get("/api/v1/initiatives/?ordering=-reference").json()["results"]
    assert [x["reference"] for x in ordered] == sorted([i, p, r], reverse=True)


@pytest.mark.parametrize("extra", [0, 40])
def test_list_page_queries_do_not_grow_with_rows(world: World, extra, django_assert_num_queries):
    for initiative in factories.InitiativeFactory.create_batch(extra):
        initiative.goals.add(world.goal)
        initiative.consulted.add(world.users["viewer"])
    client = world.client("viewer")
    # token, roles, count, page, goals and RACI (one UNION ALL), whatever the number of rows
    with django_assert_num_queries(5):
        response = client.get("/api/v1/initiatives/?limit=100")
    assert len(response.json()["results"]) == 3 + extra


def test_pagination_defaults_to_50_and_caps_at_1000(world: World):
    factories.InitiativeFactory.create_batch(60)
    client = world.client("viewer")
    page = client.get("/api/v1/initiatives/").json()
    assert page["count"] == 63
    assert len(page["results"]) == 50
    assert page["next"].endswith("limit=50&offset=50")
    assert len(client.get("/api/v1/initiatives/?limit=5000").json()["results"]) == 63


# --- change, delete ----------------------------------------------------------------------


def test_owner_patches_fields_goals_and_raci(world: World):
    response = world.client("owner").patch(
        f"/api/v1/initiatives/{world.initiative.pk}/",
        {"title": "Stable VPN", "goals": [world.goal.pk], "consulted": ["victor"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["title"], data["goals"], data["consulted"]) == (
        "Stable VPN",
        [world.goal.pk],
        ["victor"],
    )


def test_priority_is_for_csi_managers(world: World):
    path = f"/api/v1/initiatives/{world.initiative.pk}/"
    assert world.client("owner").patch(path, {"priority": "P1"}, format="json").status_code == 403
    response = world.client("csi").patch(path, {"priority": "P1"}, format="json")
    assert response.json()["priority"] == "P1"
    reset = world.client("csi").patch(path, {"priority": None}, format="json")
    assert reset.status_code == 200


def test_delete_only_while_proposed(world: World):
    client = world.client("csi")
    blocked = client.delete(f"/api/v1/initiatives/{world.initiative.pk}/")
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "conflict"
    assert client.delete(f"/api/v1/initiatives/{world.proposed.pk}/").status_code == 204
    assert client.get(f"/api/v1/initiatives/{world.proposed.pk}/").status_code == 404


# --- transitions -------------------------------------------------------------------------


def test_transition_moves_and_logs(world: World):
    path = f"/api/v1/initiatives/{world.initiative.pk}/transitions/"
    response = world.client("owner").post(
        path, {"to": "baseline", "comment": "Agreed."}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["step"] == "baseline"
    (entry,) = world.client("viewer").get(path).json()["results"]
    assert entry | {"id": 0, "at": ""} == {
        "id": 0, "at": "", "from_step": "vision", "to_step": "baseline",
        "actor": "tina", "comment": "Agreed.", "iteration": 1,
    }  # fmt: skip


def test_a_move_judges_the_next_moves_once(world: World, monkeypatch):
    from improvement.api.serializers import initiatives as module

    judged = []

    def counted(initiative, user):
        judged.append(initiative.step)
        return original(initiative, user)

    original = module.allowed_transitions
    monkeypatch.setattr(module, "allowed_transitions", counted)
    response = world.client("owner").post(
        f"/api/v1/initiatives/{world.initiative.pk}/transitions/", {"to": "baseline"}, format="json"
    )
    assert response.status_code == 200
    assert judged == ["baseline"]


def test_blocked_transition_is_409_with_every_unmet_condition(world: World):
    world.kpi.target_value = None
    world.kpi.save()
    from ..conftest import force_step

    force_step(world.initiative, choices.Step.TARGET)
    response = world.client("owner").post(
        f"/api/v1/initiatives/{world.initiative.pk}/transitions/", {"to": "plan"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transition_blocked"
    assert body["errors"]["conditions"] == [f"KPI '{world.kpi.name}' has no target value."]


def test_reject_needs_a_reason(world: World):
    path = f"/api/v1/initiatives/{world.proposed.pk}/transitions/"
    client = world.client("csi")
    blocked = client.post(path, {"to": "rejected"}, format="json")
    assert blocked.status_code == 409
    assert blocked.json()["errors"]["conditions"] == ["A reason is required."]
    done = client.post(path, {"to": "rejected", "reason": "Duplicate of CIR-00001."}, format="json")
    assert done.json()["step"] == "rejected"
    assert done.json()["closure_reason"] == "Duplicate of CIR-00001."


def test_no_such_move_is_409(world: World):
    response = world.client("csi").post(
        f"/api/v1/initiatives/{world.initiative.pk}/transitions/", {"to": "closed"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["errors"]["conditions"]


def test_concurrent_move_is_a_409_conflict_and_changes_nothing(world: World, monkeypatch):
    # given someone else moves the initiative right after this request read it
    original = views.InitiativeViewSet.get_object

    def get_object_then_lose_the_race(self):
        obj = original(self)
        services.initiative_transition(
            initiative=Initiative.objects.get(pk=obj.pk), to="baseline", actor=world.users["csi"]
        )
        return obj

    monkeypatch.setattr(views.InitiativeViewSet, "get_object", get_object_then_lose_the_race)
    # when this request moves it too
    response = world.client("owner").post(
        f"/api/v1/initiatives/{world.initiative.pk}/transitions/", {"to": "baseline"}, format="json"
    )
    # then exactly one move happened
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert TransitionLog.objects.filter(initiative=world.initiative).count() == 1


# --- step records ----------------------------------------------------------------------


def test_step_record_read_before_it_exists(world: World):
    response = world.client("viewer").get(f"/api/v1/initiatives/{world.proposed.pk}/plan/")
    assert response.status_code == 200
    assert response.json()["approach"] == ""
    assert response.json()["updated_by"] is None


def test_vision_put_sets_the_goals_and_keeps_fields_left_out(world: World):
    path = f"/api/v1/initiatives/{world.initiative.pk}/vision/"
    client = world.client("owner")
    before = client.get(path).json()
    response = client.put(
        path, {"goals": [world.goal.pk], "stakeholders": "Remote staff"}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["goals"] == [world.goal.pk]
    assert data["stakeholders"] == "Remote staff"
    assert data["statement"] == before["statement"]
    assert data["updated_by"] == "tina"
    assert list(world.initiative.goals.values_list("pk", flat=True)) == [world.goal.pk]


@pytest.mark.parametrize(
    "record,body",
    [
        (
            "baseline",
            {"assessment": "9 drops a day", "method": "VPN logs", "assessed_on": "2026-01-05"},
        ),
        ("target", {"objectives": "2 a day by June", "csfs": "Client pinned"}),
        (
            "plan",
            {"approach": "Roll back", "hypotheses": "H1", "checkpoints": "weekly", "risks": "-"},
        ),
        (
            "sustain",
            {
                "embedding": "KB0042",
                "lessons_learned": "Pin clients",
                "monitor_until": "2027-01-01",
            },
        ),
    ],
)
def test_step_record_put_round_trips(world: World, record, body):
    path = f"/api/v1/initiatives/{world.proposed.pk}/{record}/"
    assert world.client("owner").put(path, body, format="json").status_code == 200
    data = world.client("viewer").get(path).json()
    assert {k: data[k] for k in body} == body


@pytest.mark.parametrize("record", ["vision", "baseline", "target", "plan", "sustain"])
@pytest.mark.parametrize("written", [True, False], ids=["written", "new"])
def test_step_record_put_answers_what_a_read_then_shows(world: World, record, written):
    # given a record written before, or none yet
    initiative = world.initiative if written else world.proposed
    path = f"/api/v1/initiatives/{initiative.pk}/{record}/"
    body = {"goals": [world.goal.pk]} if record == "vision" else {}
    # when its owner writes it
    response = world.client("owner").put(path, body, format="json")
    # then the answer is the record as a read shows it
    assert response.status_code == 200, response.json()
    assert response.json() == world.client("viewer").get(path).json()


# --- actions and reviews ---------------------------------------------------------------


def test_actions_create_list_and_complete(world: World):
    client = world.client("owner")
    path = f"/api/v1/initiatives/{world.initiative.pk}/actions/"
    created = client.post(
        path, {"title": "Pin client 4.2", "owner": "otto", "due_date": "2026-12-01"}, format="json"
    )
    assert created.status_code == 201, created.json()
    action = created.json()
    assert (action["owner"], action["iteration"], action["status"]) == ("otto", 1, "planned")
    assert len(client.get(path).json()["results"]) == 2
    done = client.patch(f"/api/v1/actions/{action['id']}/", {"status": "done"}, format="json")
    assert done.json()["completed_at"] is not None


def test_review_is_recorded_once_per_iteration_with_a_kpi_snapshot(world: World):
    # given its KPI reached its target (10 → 8 h, now 7.5 h): "achieved" agrees with the data
    kpi = world.in_review.kpis.get()
    services.measurement_record(
        kpi=kpi,
        actor=world.users["csi"],
        points=[{"value": 7.5, "measured_at": "2026-03-01T09:00Z"}],
    )
    services.kpi_check(kpi=kpi)
    path = f"/api/v1/initiatives/{world.in_review.pk}/reviews/"
    client = world.client("owner")
    first = client.post(path, {"decision": "achieved", "progress_check": "Met."}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["reviewed_by"] == "tina"
    assert first.json()["decision_override"] == ""
    (entry,) = first.json()["kpi_snapshot"]
    assert (entry["kpi"], entry["status"]) == (kpi.key, "achieved")
    second = client.post(path, {"decision": "iterate"}, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"


def test_review_outside_step_6_is_409(world: World):
    response = world.client("owner").post(
        f"/api/v1/initiatives/{world.initiative.pk}/reviews/",
        {"decision": "achieved"},
        format="json",
    )
    assert response.status_code == 409


def test_unknown_initiative_is_404(world: World):
    client = client_for(world.users["csi"])
    for path in ("", "vision/", "actions/", "transitions/"):
        assert client.get(f"/api/v1/initiatives/999999/{path}").status_code == 404


def test_flat_list_rows_equal_the_full_serializer(rf, csi, initiative_at, make_user):
    """The register's list is rendered without DRF fields; it must say exactly the same."""
    from rest_framework.request import Request

    from improvement import selectors
    from improvement.api import serializers as s
    from improvement.models import Initiative
    from tests.factories import GoalFactory

    given = initiative_at("action")
    given.consulted.add(make_user("team", username="zoe"))
    given.consulted.add(make_user("team", username="carol"))
    given.informed.add(make_user("viewer", username="ivan"))
    given.goals.add(GoalFactory(title="Another goal"))
    initiative_at("proposed", due_date=None)
    request = Request(rf.get("/api/v1/initiatives/"))
    initiatives = list(Initiative.objects.order_by("pk"))
    expected = s.InitiativeSerializer(initiatives, many=True, context={"request": request}).data
    rows = s.initiative_rows(
        selectors.initiative_rows(csi).order_by("pk"),
        relations=selectors.initiative_relations(i.pk for i in initiatives),
        detail_url=request.build_absolute_uri("/api/v1/initiatives/"),
    )
    assert [dict(r) for r in expected] == rows
