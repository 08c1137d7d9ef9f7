"""The people loop in the API: /api/v1/me/work/, comments, possible duplicates on create."""

import pytest

from improvement.choices import EventType, Step
from improvement.models import Comment, Event

from .. import factories
from .support import World, force_step
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

pytestmark = pytest.mark.django_db


def comments_url(initiative) -> str:
    return f"/api/v1/initiatives/{initiative.pk}/comments/"


# --- my work ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,status", [("anonymous", 401), ("norole", 403), ("viewer", 200), ("owner", 200)]
)
def test_my_work_needs_a_cir_role(world: World, role, status):
    assert world.client(role).get("/api/v1/me/work/").status_code == status


def test_my_work_has_the_page_s_lists(world: World):
    factories.ActionFactory(initiative=world.initiative, owner=world.users["owner"], title="Mine")
    owner = world.client("owner").get("/api/v1/me/work/").json()
    roles = {r["key"]: r for r in owner["roles"]}
    assert {i["reference"] for i in roles["accountable"]["items"]} == {
        world.initiative.reference,
        world.proposed.reference,
        world.in_review.reference,
    }
    assert roles["accountable"]["register_query"] == "accountable=tina"
    assert [a["title"] for a in owner["actions"]["items"]] == ["Mine"]
    assert [i["reference"] for i in owner["reviews_due"]["items"]] == [world.in_review.reference]
    assert owner["triage"] is None and owner["stale"] is None
    csi = world.client("csi").get("/api/v1/me/work/").json()
    assert [i["reference"] for i in csi["triage"]["items"]] == [world.proposed.reference]
    assert csi["triage"]["items"][0]["age_days"] == 0


@pytest.mark.parametrize("extra", [0, 10])
def test_my_work_runs_a_fixed_number_of_queries(world: World, extra, django_assert_num_queries):
    for _ in range(extra):
        i = factories.InitiativeFactory(accountable=world.users["csi"])
        i.informed.add(world.users["csi"])
        factories.ActionFactory(initiative=i, owner=world.users["csi"])
    client = world.client("csi")
    # auth 2 (token, roles); the counts 1, four role lists 4, actions 2, reviews due 1,
    # KPIs in trouble 2, triage and stale 2
    with django_assert_num_queries(14):
        assert client.get("/api/v1/me/work/").status_code == 200


# --- comments ---------------------------------------------------------------------------


def test_post_list_edit_and_delete_a_comment(world: World):
    owner = world.client("owner")
    response = owner.post(
        comments_url(world.initiative), {"body": "Over to you @victor"}, format="json"
    )
    assert response.status_code == 201, response.json()
    comment = response.json()
    assert comment["author"] == "tina" and comment["mentions"] == ["victor"]
    event = Event.objects.get(type=EventType.COMMENT_CREATED)
    assert event.payload["mentions"] == [world.users["viewer"].pk]
    listed = world.client("viewer").get(comments_url(world.initiative)).json()
    assert [c["id"] for c in listed["results"]] == [comment["id"]]
    one = f"{comments_url(world.initiative)}{comment['id']}/"
    edited = owner.patch(one, {"body": "Edited"}, format="json")
    assert edited.status_code == 200 and edited.json()["edited_at"]
    assert world.client("csi").patch(one, {"body": "No"}, format="json").status_code == 403
    assert world.client("outsider").delete(one).status_code == 403
    assert world.client("csi").delete(one).status_code == 204
    gone = world.client("viewer").get(comments_url(world.initiative)).json()["results"][0]
    assert gone["body"] == "" and gone["deleted_by"] == "csi"
    assert Comment.history.filter(id=comment["id"]).count() == 3


@pytest.mark.parametrize(
    "body", [{}, {"body": ""}, {"body": 5}, {"body": "x" * 10_001}, {"body": "a\x00b"}, []]
)
def test_bad_comments_are_400_in_the_error_shape(world: World, body):
    response = world.client("owner").post(comments_url(world.initiative), body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"code", "message", "errors"}
    assert not Comment.objects.exists()


@pytest.mark.parametrize(
    "role,status",
    [("anonymous", 401), ("norole", 403), ("viewer", 403), ("integration", 403), ("outsider", 201)],
)
def test_who_may_comment(world: World, role, status):
    response = world.client(role).post(
        comments_url(world.initiative), {"body": "Hi"}, format="json"
    )
    assert response.status_code == status


def test_comments_of_an_unknown_initiative_are_404(world: World):
    assert world.client("owner").get("/api/v1/initiatives/99999/comments/").status_code == 404


@pytest.mark.parametrize("comments", [1, 20])
def test_listing_comments_runs_a_fixed_number_of_queries(
    world: World, comments, django_assert_num_queries
):
    for n in range(comments):
        c = Comment.objects.create(
            initiative=world.initiative, author=world.users["owner"], body=f"{n}"
        )
        c.mentions.add(world.users["viewer"])
    client = world.client("viewer")
    # auth 2, the initiative 1, count 1, rows 1, mentions 1
    with django_assert_num_queries(6):
        response = client.get(comments_url(world.initiative))
    assert len(response.json()["results"]) == comments


# --- possible duplicates -----------------------------------------------------------------


def test_creating_answers_with_possible_duplicates(world: World):
    similar = factories.InitiativeFactory(title="VPN drop-outs after the client update")
    response = world.client("owner").post(
        "/api/v1/initiatives/",
        {"title": "Recurring VPN drop-outs after client update", "source": "problem"},
        format="json",
    )
    assert response.status_code == 201
    found = response.json()["possible_duplicates"]
    assert [d["reference"] for d in found] == [similar.reference]
    assert 0.3 <= found[0]["similarity"] <= 1 and found[0]["same_record"] is False


def test_the_same_external_record_in_another_case_is_answered_not_duplicated(world: World):
    first = world.client("integration").post(
        "/api/v1/initiatives/",
        {"title": "VPN", "external_system": "servicenow", "external_id": "PRB1"},
        format="json",
    )
    again = world.client("integration").post(
        "/api/v1/initiatives/",
        {"title": "VPN again", "external_system": "ServiceNow", "external_id": "prb1"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["possible_duplicates"] == []


def test_the_detail_shows_days_in_step_stale_and_duplicate_of(world: World):
    force_step(world.proposed, Step.REJECTED, duplicate_of=world.initiative)
    detail = world.client("viewer").get(f"/api/v1/initiatives/{world.proposed.pk}/").json()
    assert detail["duplicate_of"] == world.initiative.pk
    assert detail["days_in_step"] == 0 and detail["is_stale"] is False
