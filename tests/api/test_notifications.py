"""The API of notifications, preferences and watching: GET/POST /api/v1/notifications/,
GET/PUT/PATCH /api/v1/me/preferences/, GET/POST/DELETE /api/v1/initiatives/{id}/watch/."""

import pytest

from improvement.choices import Delivery, NotificationKind, Step
from improvement.models import Notification, NotificationPreference, Watcher

from .support import client_for

pytestmark = pytest.mark.django_db
Kind = NotificationKind
LIST = "/api/v1/notifications/"
PREFS = "/api/v1/me/preferences/"


def watch(pk: int) -> str:
    return f"/api/v1/initiatives/{pk}/watch/"


def notes(user, n, **kwargs):
    return [
        Notification.objects.create(recipient=user, kind=Kind.MENTION, text=f"n{i}", **kwargs)
        for i in range(n)
    ]


def test_anonymous_and_roleless_are_refused(make_user):
    assert client_for(None).get(LIST).status_code == 401
    assert client_for(None).get(PREFS).status_code == 401
    roleless = client_for(make_user(None))
    assert roleless.get(LIST).status_code == 403
    assert roleless.patch(PREFS, {"mention": "off"}, format="json").status_code == 403
    assert not NotificationPreference.objects.exists()


@pytest.mark.parametrize("n", [1, 9])
def test_the_list_is_mine_paged_in_a_fixed_number_of_queries(
    viewer, team_member, n, django_assert_num_queries
):
    notes(viewer, n)
    notes(team_member, 2)
    api = client_for(viewer)
    # the token with its user, the roles, the count, the page
    with django_assert_num_queries(4):
        response = api.get(LIST)
    assert response.status_code == 200
    assert response.json()["count"] == n
    item = response.json()["results"][0]
    assert set(item) == {"id", "kind", "text", "initiative", "url", "event", "created_at",
                         "read", "read_at", "email_state"}  # fmt: skip


def test_filter_unread_and_mark_read(viewer, team_member):
    first, second, third = notes(viewer, 3)
    (theirs,) = notes(team_member, 1)
    api = client_for(viewer)
    response = api.post(LIST, {"ids": [first.pk, theirs.pk]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"marked": 1, "unread": 2}
    assert api.get(LIST + "?unread=true").json()["count"] == 2
    assert api.get(LIST + "?unread=false").json()["count"] == 1
    assert api.post(LIST, {"all": True}, format="json").json() == {"marked": 2, "unread": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize(
    "body", [{}, {"ids": []}, {"ids": ["x"]}, {"ids": [1], "all": True}, {"all": "maybe"}]
)
def test_bad_mark_read_input_is_400_and_changes_nothing(viewer, body):
    notes(viewer, 2)
    response = client_for(viewer).post(LIST, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"code", "message", "errors"}
    assert Notification.objects.filter(read_at__isnull=True).count() == 2


def test_bad_unread_filter_is_400(viewer):
    assert client_for(viewer).get(LIST + "?unread=perhaps").status_code == 400


def test_preferences_get_patch_put(viewer):
    api = client_for(viewer)
    prefs = api.get(PREFS).json()
    assert set(prefs) == set(Kind.values)
    assert prefs["mention"] == "email" and prefs["comment"] == "in_app"
    response = api.patch(PREFS, {"mention": "digest"}, format="json")
    assert response.status_code == 200 and response.json()["mention"] == "digest"
    everything = dict.fromkeys(Kind.values, Delivery.OFF)
    response = api.put(PREFS, everything, format="json")
    assert response.status_code == 200 and set(response.json().values()) == {"off"}


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {"mention": "loud"}), ("patch", {"nonsense": "email"}),
     ("put", {"mention": "email"}), ("patch", ["mention"])],
)  # fmt: skip
def test_bad_preferences_are_400_and_change_nothing(viewer, method, body):
    response = getattr(client_for(viewer), method)(PREFS, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"code", "message", "errors"}
    assert not NotificationPreference.objects.exists()


def test_watch_and_unwatch(viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    api = client_for(viewer)
    response = api.post(watch(initiative.pk))
    assert response.status_code == 201
    assert response.json()["watching"] is True
    assert api.post(watch(initiative.pk)).status_code == 200
    names = [w["username"] for w in api.get(watch(initiative.pk)).json()["watchers"]]
    assert names == ["victor"]
    response = api.delete(watch(initiative.pk))
    assert response.status_code == 200 and response.json()["watching"] is False
    assert not Watcher.objects.exists()


def test_the_informed_cannot_unwatch(viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    initiative.informed.add(viewer)
    api = client_for(viewer)
    body = api.get(watch(initiative.pk)).json()
    assert body["watching"] is True and body["informed"] is True
    response = api.delete(watch(initiative.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_watching_an_unknown_initiative_is_404(viewer):
    assert client_for(viewer).post(watch(999999)).status_code == 404
    assert not Watcher.objects.exists()
