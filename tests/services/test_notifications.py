"""Notifications: who is told what, once, never the actor; preferences, emails, the digest,
the periodic reminders and unsubscribing (the locmem backend; the real SMTP server in
test_notifications_smtp.py)."""

import datetime as dt

import pytest
from django.core import mail as outbox
from django.utils import timezone

from improvement import services
from improvement.choices import (
    ActionStatus,
    Delivery,
    EmailState,
    EventType,
    NotificationKind,
    Step,
)
from improvement.exceptions import Conflict, Forbidden, InvalidInput
from improvement.models import Event, Notification, NotificationPreference, Watcher
from improvement.services import mail, notifications, watchers
from improvement.services import webhooks as webhook_services
from improvement.services.housekeeping import actions_flag_overdue

from .. import factories
from ..conftest import force_step
from .conftest import at

pytestmark = pytest.mark.django_db
Kind = NotificationKind


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit():` runs the after-commit work (dispatch, routing, emails) at the end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def people(make_user):
    return {
        name: make_user(role, username=name)
        for name, role in (("alice", "team"), ("bob", "team"), ("carol", "viewer"),
                           ("dave", "viewer"), ("mgr", "csi"), ("mgr2", "csi"))
    }  # fmt: skip


def told(kind=None, **filters) -> list[tuple[str, str]]:
    """(recipient, kind) of the notifications, sorted."""
    qs = Notification.objects.filter(**filters)
    if kind:
        qs = qs.filter(kind=kind)
    return sorted((n.recipient.username, n.kind) for n in qs)


def mailed_to() -> list[str]:
    return sorted(address for m in outbox.outbox for address in m.to)


def redispatch(events) -> None:
    """What a retried dispatch task does: the events are dispatched again."""
    Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=None)
    webhook_services.events_dispatch(event_ids=[e.pk for e in events])


# --- assignment ---------------------------------------------------------------------------


def test_an_assignment_tells_each_new_role_holder_once_and_never_the_actor(
    initiative_at, people, commit
):
    initiative = initiative_at(Step.VISION)
    mgr = people["mgr"]
    # when the CSI manager makes alice accountable, bob and themselves responsible, carol
    # informed
    with commit():
        services.initiative_update(
            initiative=initiative, actor=mgr, accountable=people["alice"],
            responsible=[people["bob"], mgr], informed=[people["carol"]],
        )  # fmt: skip
    # then each of them is told once (carol by digest-free email: role_assigned is email)
    assert told(Kind.ROLE_ASSIGNED) == [
        ("alice", Kind.ROLE_ASSIGNED), ("bob", Kind.ROLE_ASSIGNED), ("carol", Kind.ROLE_ASSIGNED)
    ]  # fmt: skip
    assert mailed_to() == ["alice@example.com", "bob@example.com", "carol@example.com"]
    text = Notification.objects.get(recipient=people["alice"]).text
    assert "accountable" in text and initiative.reference in text and "mgr" in text
    # and a retried dispatch and a retried email task create and send nothing new
    events = list(Event.objects.filter(type=EventType.INITIATIVE_ASSIGNED))
    assert len(events) == 1
    with commit():
        redispatch(events)
    for n in Notification.objects.all():
        assert mail.notification_email_send(notification_id=n.pk) is False
    assert Notification.objects.count() == 3
    assert len(outbox.outbox) == 3


def test_saving_the_same_raci_again_tells_nobody(initiative_at, people, commit):
    initiative = initiative_at(Step.VISION)
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"], responsible=[people["bob"]]
        )
    assert told() == [("bob", Kind.ROLE_ASSIGNED)]
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"], responsible=[people["bob"]], title="New"
        )
    assert told() == [("bob", Kind.ROLE_ASSIGNED)]


def test_a_refused_update_records_no_assignment(initiative_at, people, commit):
    initiative = initiative_at(Step.VISION)
    with commit(), pytest.raises(Forbidden):
        services.initiative_update(
            initiative=initiative, actor=people["carol"], accountable=people["alice"]
        )
    assert not Event.objects.filter(type=EventType.INITIATIVE_ASSIGNED).exists()
    assert Notification.objects.count() == 0


# --- moves ----------------------------------------------------------------------------------


def test_acceptance_tells_the_proposer_and_the_team_but_not_the_csi_manager(
    people, commit, team_member
):
    initiative = factories.InitiativeFactory(created_by=people["dave"], accountable=team_member)
    initiative.informed.add(people["carol"])
    Watcher.objects.create(user=people["bob"], initiative=initiative)
    with commit():
        services.initiative_transition(initiative=initiative, to=Step.VISION, actor=people["mgr"])
    assert told(Kind.ACCEPTED) == [
        ("bob", Kind.ACCEPTED), ("carol", Kind.ACCEPTED), ("dave", Kind.ACCEPTED),
        ("tina", Kind.ACCEPTED),
    ]  # fmt: skip
    assert not Notification.objects.filter(recipient=people["mgr"]).exists()


def test_a_step_move_tells_the_team_but_not_the_mover(initiative_at, team_member, people, commit):
    initiative = initiative_at(Step.VISION)  # tina is A and R
    initiative.responsible.add(people["alice"])
    with commit():
        services.initiative_transition(initiative=initiative, to=Step.BASELINE, actor=team_member)
    assert told() == [("alice", Kind.STEP_MOVED)]
    # step_moved is a digest kind by default: no email now, one in the digest
    n = Notification.objects.get()
    assert n.email_state == EmailState.DIGEST
    assert outbox.outbox == []


# --- KPIs ----------------------------------------------------------------------------------


def test_a_kpi_turning_regressed_tells_owner_team_and_watchers_once(kpi, people, commit):
    initiative = kpi.initiative  # tina is A and R
    initiative.informed.add(people["carol"])
    Watcher.objects.create(user=people["dave"], initiative=initiative)
    with commit():
        services.measurement_record(
            kpi=kpi, actor=people["mgr"], points=[{"value": 7.9, "measured_at": at(5)}]
        )
    with commit():
        services.measurement_record(
            kpi=kpi, actor=people["mgr"], points=[{"value": 10.8, "measured_at": at(1)}]
        )
    kpi.refresh_from_db()
    assert kpi.status == "regressed"
    assert told(Kind.KPI_REGRESSED) == [
        ("carol", Kind.KPI_REGRESSED), ("dave", Kind.KPI_REGRESSED), ("tina", Kind.KPI_REGRESSED)
    ]  # fmt: skip
    regressed = [m for m in outbox.outbox if "regressed" in m.subject]
    assert sorted(m.to[0] for m in regressed) == [
        "carol@example.com", "dave@example.com", "tina@example.com"
    ]  # fmt: skip


def test_a_revert_is_told_once_as_reverted(kpi, people, commit):
    with commit():
        services.event_emit(
            type=EventType.KPI_STATUS_CHANGED,
            payload={"kpi": "mttr", "kpi_id": kpi.pk, "name": kpi.name,
                     "initiative_id": kpi.initiative_id, "initiative": "x", "from": "achieved",
                     "to": "reverted"},
        )  # fmt: skip
        services.event_emit(
            type=EventType.KPI_REVERTED,
            payload={"kpi": "mttr", "kpi_id": kpi.pk, "name": kpi.name,
                     "initiative_id": kpi.initiative_id, "initiative": "x", "from": "achieved",
                     "to": "reverted"},
        )  # fmt: skip
    assert told() == [("tina", Kind.KPI_REVERTED)]


# --- actions -------------------------------------------------------------------------------


def test_giving_an_action_an_owner_tells_the_owner_unless_they_gave_it(
    initiative_at, team_member, people, commit
):
    initiative = initiative_at(Step.PLAN)
    with commit():
        action = services.action_create(
            initiative=initiative, actor=team_member, title="Pilot", owner=people["alice"]
        )
        services.action_create(
            initiative=initiative, actor=team_member, title="Mine", owner=team_member
        )
    assert told() == [("alice", Kind.ACTION_ASSIGNED)]
    with commit():
        services.action_update(action=action, actor=team_member, notes="more")
        services.action_update(action=action, actor=team_member, owner=people["bob"])
    assert told() == [("alice", Kind.ACTION_ASSIGNED), ("bob", Kind.ACTION_ASSIGNED)]


def test_an_overdue_action_tells_its_owner_and_the_accountable_once(initiative_at, people, commit):
    initiative = initiative_at(Step.ACTION)  # tina accountable
    factories.ActionFactory(
        initiative=initiative, owner=people["alice"], title="Late",
        due_date=timezone.localdate() - dt.timedelta(days=1), status=ActionStatus.PLANNED,
    )  # fmt: skip
    with commit():
        actions_flag_overdue()
    with commit():
        actions_flag_overdue()
    assert told() == [("alice", Kind.ACTION_OVERDUE), ("tina", Kind.ACTION_OVERDUE)]
    assert mailed_to() == ["alice@example.com", "tina@example.com"]


# --- comments and stale (the events of the discussion feature) ----------------------------


def test_a_comment_tells_the_mentioned_and_the_watchers_once_each_never_the_author(
    initiative_at, people, commit
):
    initiative = initiative_at(Step.PLAN)
    initiative.informed.add(people["carol"], people["bob"])
    Watcher.objects.create(user=people["dave"], initiative=initiative)
    Watcher.objects.create(user=people["alice"], initiative=initiative)
    with commit():
        services.event_emit(
            type=EventType.COMMENT_CREATED,
            payload={"initiative": initiative.pk, "reference": initiative.reference,
                     "comment": 1, "author": people["alice"].pk,
                     "mentions": [people["bob"].pk, people["mgr"].pk], "excerpt": "Look @bob"},
        )  # fmt: skip
    assert told() == [
        ("bob", Kind.MENTION), ("carol", Kind.COMMENT), ("dave", Kind.COMMENT),
        ("mgr", Kind.MENTION),
    ]  # fmt: skip
    assert "alice mentioned you" in Notification.objects.filter(kind=Kind.MENTION).first().text


def test_a_stale_initiative_tells_its_owner(initiative_at, commit):
    initiative = initiative_at(Step.PLAN)
    with commit():
        services.event_emit(
            type=EventType.INITIATIVE_STALE,
            payload={"initiative": initiative.pk, "reference": initiative.reference,
                     "owner": initiative.accountable_id, "days_inactive": 31},
        )  # fmt: skip
    assert told() == [("tina", Kind.STALE)]
    assert "31 days" in Notification.objects.get().text


# --- preferences and the digest ------------------------------------------------------------


def test_preferences_decide_off_in_app_email_and_digest(initiative_at, people, commit):
    initiative = initiative_at(Step.VISION)
    notifications.notification_preferences_set(
        actor=people["alice"], preferences={Kind.ROLE_ASSIGNED: Delivery.OFF}
    )
    notifications.notification_preferences_set(
        actor=people["bob"], preferences={Kind.ROLE_ASSIGNED: Delivery.IN_APP}
    )
    notifications.notification_preferences_set(
        actor=people["carol"], preferences={Kind.ROLE_ASSIGNED: Delivery.DIGEST}
    )
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"],
            responsible=[people["alice"], people["bob"]],
            informed=[people["carol"], people["dave"]],
        )  # fmt: skip
    # alice: nothing; bob: in the app only; carol: waits for the digest; dave: email
    assert told() == [
        ("bob", Kind.ROLE_ASSIGNED), ("carol", Kind.ROLE_ASSIGNED), ("dave", Kind.ROLE_ASSIGNED)
    ]  # fmt: skip
    assert mailed_to() == ["dave@example.com"]
    assert Notification.objects.get(recipient=people["carol"]).email_state == EmailState.DIGEST
    # the digest: one email to carol, once
    assert mail.digest_recipients() == [people["carol"].pk]
    assert mail.digest_send(user_id=people["carol"].pk) == 1
    assert mail.digest_send(user_id=people["carol"].pk) == 0
    digest = outbox.outbox[-1]
    assert digest.to == ["carol@example.com"] and "digest" in digest.subject
    assert initiative.reference in digest.body
    assert mail.digest_recipients() == []


def test_the_digest_task_gathers_each_users_day_in_one_email(initiative_at, people, commit):
    from improvement.tasks import notifications_digest

    initiative = initiative_at(Step.VISION)
    initiative.informed.add(people["carol"])
    with commit():
        services.initiative_transition(initiative=initiative, to=Step.BASELINE, actor=people["mgr"])
    initiative.refresh_from_db()
    with commit():
        services.initiative_transition(initiative=initiative, to=Step.TARGET, actor=people["mgr"])
    assert told() == [("carol", Kind.STEP_MOVED)] * 2 + [("tina", Kind.STEP_MOVED)] * 2
    assert outbox.outbox == []
    assert notifications_digest.apply().get() == {"users": 2, "notifications": 4}
    assert notifications_digest.apply().get() == {"users": 0, "notifications": 0}
    assert mailed_to() == ["carol@example.com", "tina@example.com"]
    assert all("2 notifications" in m.subject for m in outbox.outbox)


@pytest.mark.parametrize(
    "bad",
    [{"nonsense": "email"}, {Kind.MENTION: "loud"}, {Kind.MENTION: None}, ["mention"]],
)
def test_bad_preferences_change_nothing(people, bad):
    with pytest.raises(InvalidInput):
        notifications.notification_preferences_set(actor=people["alice"], preferences=bad)
    assert not NotificationPreference.objects.exists()


def test_preferences_default_and_chosen(people):
    prefs = notifications.preferences_for(people["alice"])
    assert prefs[Kind.MENTION] == Delivery.EMAIL and prefs[Kind.COMMENT] == Delivery.IN_APP
    notifications.notification_preferences_set(
        actor=people["alice"], preferences={Kind.MENTION: Delivery.DIGEST}
    )
    assert notifications.preferences_for(people["alice"])[Kind.MENTION] == Delivery.DIGEST


# --- emails ---------------------------------------------------------------------------------


def test_an_email_has_both_parts_an_absolute_link_and_one_click_unsubscribe(
    initiative_at, people, commit, settings
):
    settings.CIR_BASE_URL = "https://cir.example.org/"
    initiative = initiative_at(Step.VISION)
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"], responsible=[people["bob"]]
        )
    (message,) = outbox.outbox
    link = f"https://cir.example.org/initiatives/{initiative.reference}/"
    assert link in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and link in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://cir.example.org/notifications/unsubscribe/")
    # the one-click link stops these emails, not the notifications in the app
    token = unsubscribe.rstrip("/>").rsplit("/", 1)[-1]
    assert mail.notifications_unsubscribe(token=token) == (people["bob"].pk, Kind.ROLE_ASSIGNED)
    assert notifications.preferences_for(people["bob"])[Kind.ROLE_ASSIGNED] == Delivery.IN_APP


def test_a_forged_unsubscribe_token_is_refused(people):
    token = mail.unsubscribe_token(people["bob"].pk, Kind.MENTION)
    with pytest.raises(InvalidInput):
        mail.notifications_unsubscribe(token=token[:-2] + "xx")
    assert not NotificationPreference.objects.exists()


def test_the_pending_email_sweep_sends_what_a_broker_outage_left(initiative_at, people):
    from improvement.tasks import notification_emails_pending

    # given notifications created while no task could be sent (nothing ran after commit)
    initiative = initiative_at(Step.VISION)
    services.initiative_update(
        initiative=initiative, actor=people["mgr"], responsible=[people["bob"]]
    )
    webhook_services.events_dispatch_pending(grace_seconds=0)
    assert Notification.objects.get().email_state == EmailState.PENDING
    assert outbox.outbox == []
    # when the periodic sender runs (twice)
    assert notification_emails_pending.apply().get() == 1
    assert notification_emails_pending.apply().get() == 0
    # then the email went once
    assert mailed_to() == ["bob@example.com"]
    assert Notification.objects.get().email_state == EmailState.SENT


def test_a_user_without_an_email_address_is_told_in_the_app(initiative_at, people, commit):
    people["bob"].email = ""
    people["bob"].save()
    initiative = initiative_at(Step.VISION)
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"], responsible=[people["bob"]]
        )
    assert Notification.objects.get().email_state == EmailState.NONE
    assert outbox.outbox == []


def test_inactive_users_are_not_told(initiative_at, people, commit):
    people["bob"].is_active = False
    people["bob"].save()
    initiative = initiative_at(Step.VISION)
    with commit():
        services.initiative_update(
            initiative=initiative, actor=people["mgr"], informed=[people["bob"]]
        )
    assert Notification.objects.count() == 0


# --- periodic reminders ---------------------------------------------------------------------


def test_an_action_due_in_two_days_is_reminded_once_per_due_date(initiative_at, people, commit):
    initiative = initiative_at(Step.ACTION)
    today = timezone.localdate()
    action = factories.ActionFactory(
        initiative=initiative, owner=people["alice"], title="Soon",
        due_date=today + dt.timedelta(days=2), status=ActionStatus.PLANNED,
    )  # fmt: skip
    factories.ActionFactory(
        initiative=initiative, owner=people["bob"], title="Later",
        due_date=today + dt.timedelta(days=3), status=ActionStatus.PLANNED,
    )  # fmt: skip
    with commit():
        notifications.notifications_remind(today=today)
    with commit():
        assert notifications.notifications_remind(today=today) == 0
        notifications.notifications_remind(today=today + dt.timedelta(days=1))
    # bob's action came within 2 days on the next day
    assert told(Kind.ACTION_DUE_SOON) == [
        ("alice", Kind.ACTION_DUE_SOON), ("bob", Kind.ACTION_DUE_SOON)
    ]  # fmt: skip
    assert [m.to for m in outbox.outbox if "Action" in m.subject] == [
        ["alice@example.com"], ["bob@example.com"]
    ]  # fmt: skip
    # a new due date re-arms it
    action.due_date = today + dt.timedelta(days=1)
    action.save()
    with commit():
        notifications.notifications_remind(today=today)
    assert told(Kind.ACTION_DUE_SOON).count(("alice", Kind.ACTION_DUE_SOON)) == 2


def test_a_review_is_due_at_step_six_once_per_iteration(initiative_at, commit):
    initiative = initiative_at(Step.REVIEW)
    with commit():
        notifications.notifications_remind()
        notifications.notifications_remind()
    assert told(Kind.REVIEW_DUE) == [("tina", Kind.REVIEW_DUE)]
    force_step(initiative, Step.REVIEW, iteration=2)
    with commit():
        notifications.notifications_remind()
    assert told(Kind.REVIEW_DUE) == [("tina", Kind.REVIEW_DUE)] * 2


def test_a_review_is_due_in_step_five_when_a_kpi_target_date_comes(initiative_at, commit):
    initiative = initiative_at(Step.ACTION)
    kpi = initiative.kpis.get()
    kpi.target_date = timezone.localdate() + dt.timedelta(days=10)
    kpi.save()
    notifications.notifications_remind()
    assert told(Kind.REVIEW_DUE) == []
    notifications.notifications_remind(today=timezone.localdate() + dt.timedelta(days=10))
    assert told(Kind.REVIEW_DUE) == [("tina", Kind.REVIEW_DUE)]


def test_proposals_waiting_for_triage_remind_every_csi_manager_once(people, settings, commit):
    settings.CIR_TRIAGE_DAYS = 3
    old = factories.InitiativeFactory(title="Old idea")
    factories.InitiativeFactory(title="Fresh idea")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=4))
    with commit():
        notifications.notifications_remind()
        notifications.notifications_remind()
    assert told() == [("mgr", Kind.TRIAGE_WAITING), ("mgr2", Kind.TRIAGE_WAITING)]
    assert "Old idea" in Notification.objects.first().text
    assert mailed_to() == ["mgr2@example.com", "mgr@example.com"]


# --- the inbox ------------------------------------------------------------------------------


def test_marking_read_touches_only_the_actors_own(people):
    mine = Notification.objects.create(recipient=people["alice"], kind=Kind.MENTION, text="a")
    other = Notification.objects.create(recipient=people["bob"], kind=Kind.MENTION, text="b")
    assert (
        notifications.notifications_mark_read(actor=people["alice"], ids=[mine.pk, other.pk]) == 1
    )
    other.refresh_from_db()
    assert other.read_at is None
    assert notifications.notifications_mark_read(actor=people["bob"]) == 1
    with pytest.raises(InvalidInput):
        notifications.notifications_mark_read(actor=people["bob"], ids=["x"])


# --- watchers -------------------------------------------------------------------------------


def test_following_and_unfollowing(initiative_at, people):
    initiative = initiative_at(Step.PLAN)
    assert watchers.initiative_watch(actor=people["carol"], initiative=initiative) is True
    assert watchers.initiative_watch(actor=people["carol"], initiative=initiative) is False
    assert Watcher.objects.filter(initiative=initiative).count() == 1
    assert watchers.initiative_unwatch(actor=people["carol"], initiative=initiative) is True
    assert watchers.initiative_unwatch(actor=people["carol"], initiative=initiative) is False


def test_the_informed_cannot_unfollow(initiative_at, people):
    initiative = initiative_at(Step.PLAN)
    initiative.informed.add(people["carol"])
    with pytest.raises(Conflict):
        watchers.initiative_unwatch(actor=people["carol"], initiative=initiative)


def test_a_user_without_a_role_cannot_follow(initiative_at, make_user):
    initiative = initiative_at(Step.PLAN)
    with pytest.raises(Forbidden):
        watchers.initiative_watch(actor=make_user(None), initiative=initiative)
    assert not Watcher.objects.exists()


def test_routing_of_many_events_is_set_based(initiative_at, people, django_assert_num_queries):
    # given KPI events of 2 or 8 initiatives, each with an owner and an Informed
    def events_of(n):
        out = []
        for _ in range(n):
            initiative = initiative_at(Step.ACTION)
            initiative.informed.add(people["carol"])
            out.append(
                Event.objects.create(
                    id=__import__("uuid").uuid4(),
                    type=EventType.KPI_STATUS_CHANGED,
                    payload={"initiative_id": initiative.pk, "name": "K", "to": "regressed"},
                )  # fmt: skip
            )
        return out

    for n in (2, 8):
        events = events_of(n)
        # initiatives, responsible, informed, watchers, users, preferences, existing, insert
        with django_assert_num_queries(8):
            created = notifications.notifications_route(events=events)
        assert created == 2 * n
