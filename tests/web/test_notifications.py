"""The browser's notifications: the inbox and its header count, mark read (plain and htmx),
the preferences page, one-click unsubscribe, and the watch button on the initiative page."""

import pytest

from improvement.choices import Delivery, NotificationKind, Step
from improvement.models import Notification, NotificationPreference, Watcher
from improvement.services import mail

from .conftest import HTMX, page, text, url

pytestmark = pytest.mark.django_db
Kind = NotificationKind


def notes(user, n, **kwargs):
    return [
        Notification.objects.create(
            recipient=user, kind=Kind.MENTION, text=f"Note {i}", link="/", **kwargs
        )
        for i in range(n)
    ]


def test_anonymous_users_are_sent_to_sign_in(client):
    for name in ("notifications", "notification-settings"):
        response = client.get(url(name))
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post(url("notifications-read")).status_code == 302
    assert not Notification.objects.exists()


def test_a_user_without_a_browser_role_is_refused(client_for, integration):
    client = client_for(integration)
    assert client.get(url("notifications")).status_code == 403
    assert client.get(url("notification-settings")).status_code == 403


def test_the_header_shows_the_unread_count(client_for, viewer, team_member):
    notes(viewer, 3)
    notes(team_member, 5)
    body = text(client_for(viewer).get(url("register")))
    assert 'aria-label="3 unread"' in body


@pytest.mark.parametrize("n", [1, 12])
def test_the_inbox_lists_only_mine_in_a_fixed_number_of_queries(
    client_for, viewer, team_member, n, django_assert_num_queries
):
    notes(viewer, n)
    notes(team_member, 2)
    client = client_for(viewer)
    # the session, the user, their roles, the page of notifications (count + rows), the
    # unread count of the header
    with django_assert_num_queries(6):
        response = client.get(url("notifications"))
    assert response.status_code == 200
    assert text(response).count('class="notification notification--unread"') == n


def test_mark_one_read_with_htmx_and_all_read_with_a_plain_post(client_for, viewer, team_member):
    first, second = notes(viewer, 2)
    (theirs,) = notes(team_member, 1)
    client = client_for(viewer)
    response = client.post(url("notification-read", first.pk), **HTMX)
    assert response.status_code == 200
    assert "notification--unread" not in text(response)
    # the header's count follows (out of band): one unread left
    assert 'hx-swap-oob="true"' in text(response) and 'aria-label="1 unread"' in text(response)
    first.refresh_from_db()
    assert first.read_at is not None
    # someone else's notification is untouched (htmx: 404, nothing to show)
    client.post(url("notification-read", theirs.pk))
    assert client.post(url("notification-read", theirs.pk), **HTMX).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = client.post(url("notifications-read"))
    assert response.status_code == 302
    assert not Notification.objects.filter(recipient=viewer, read_at__isnull=True).exists()
    assert text(client.get(url("notifications") + "?unread=1")).count("notification--unread") == 0


def test_the_settings_page_saves_preferences(client_for, viewer):
    client = client_for(viewer)
    response = client.get(url("notification-settings"))
    assert response.status_code == 200
    assert '<label for="id_mention">' in text(response)
    data = {kind: Delivery.IN_APP for kind in Kind.values} | {Kind.MENTION: Delivery.DIGEST}
    response = client.post(url("notification-settings"), data)
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=viewer, kind=Kind.MENTION).delivery == "digest"


def test_bad_settings_are_a_form_error_and_change_nothing(client_for, viewer):
    data = {kind: Delivery.IN_APP for kind in Kind.values} | {Kind.MENTION: "shout"}
    response = client_for(viewer).post(url("notification-settings"), data)
    assert response.status_code == 422
    assert "Select a valid choice" in text(response)
    assert not NotificationPreference.objects.exists()


def test_one_click_unsubscribe_needs_no_session(client, viewer):
    token = mail.unsubscribe_token(viewer.pk, Kind.MENTION)
    assert "Stop the emails" in text(client.get(url("notifications-unsubscribe", token)))
    # RFC 8058: the mail client posts List-Unsubscribe=One-Click, with no CSRF token
    client.handler.enforce_csrf_checks = True
    response = client.post(
        url("notifications-unsubscribe", token), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert NotificationPreference.objects.get(user=viewer, kind=Kind.MENTION).delivery == "in_app"


def test_a_forged_unsubscribe_link_is_refused(client, viewer):
    token = mail.unsubscribe_token(viewer.pk, Kind.MENTION)[:-3] + "abc"
    assert client.post(url("notifications-unsubscribe", token)).status_code == 400
    assert not NotificationPreference.objects.exists()


def test_the_watch_button_follows_and_unfollows(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(viewer)
    assert "Watch this initiative" in text(client.get(page(initiative)))
    response = client.post(url("initiative-watch", initiative.reference), {"follow": "1"}, **HTMX)
    assert response.status_code == 200
    assert "Stop watching" in text(response)
    assert Watcher.objects.filter(user=viewer, initiative=initiative).exists()
    response = client.post(url("initiative-watch", initiative.reference), {"follow": "0"})
    assert response.status_code == 302
    assert not Watcher.objects.exists()


def test_the_informed_are_shown_as_watchers_and_cannot_unfollow(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    initiative.informed.add(viewer)
    client = client_for(viewer)
    body = text(client.get(page(initiative)))
    assert "You are Informed, so you watch it" in body
    response = client.post(url("initiative-watch", initiative.reference), {"follow": "0"}, **HTMX)
    assert response.status_code == 409
    assert "remove you from the Informed list" in text(response)


def test_watching_an_unknown_initiative_is_404(client_for, viewer):
    assert (
        client_for(viewer).post(url("initiative-watch", "CIR-NOPE"), {"follow": "1"}).status_code
        == 404
    )
    assert not Watcher.objects.exists()
