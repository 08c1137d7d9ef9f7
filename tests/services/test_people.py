"""Comments, activity and staleness, days in step, duplicates (services and reads)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from improvement import services, worklists
from improvement.choices import EventType, Step
from improvement.exceptions import Conflict, Forbidden, InvalidInput
from improvement.models import Comment, Event, Initiative, TransitionLog
from improvement.services import comments as comment_services
from improvement.services import hygiene

from .. import factories
from ..conftest import force_step

pytestmark = pytest.mark.django_db


def events(kind):
    return list(Event.objects.filter(type=kind).order_by("created_at"))


def age(initiative, days, **fields):
    """Make the initiative's last activity (and step entry) `days` old."""
    then = timezone.now() - dt.timedelta(days=days)
    Initiative.objects.filter(pk=initiative.pk).update(
        last_activity_at=then, step_entered_at=then, **fields
    )
    initiative.refresh_from_db()
    return initiative


# --- comments ---------------------------------------------------------------------------


def test_a_comment_records_its_mentions_and_one_event(initiative_at, team_member, make_user):
    initiative = initiative_at(Step.PLAN)
    viewer = make_user("viewer", username="vera")
    make_user(None, username="nobody")  # no CIR role: may not see the initiative
    make_user("viewer", username="gone", is_active=False)
    body = "Ping @vera, @nobody, @gone and @ghost — see https://example.org/x. " + "y" * 300
    comment = comment_services.comment_create(initiative=initiative, actor=team_member, body=body)
    assert list(comment.mentions.all()) == [viewer]
    [event] = events(EventType.COMMENT_CREATED)
    assert event.payload == {
        "initiative": initiative.pk,
        "reference": initiative.reference,
        "comment": comment.pk,
        "author": team_member.pk,
        "mentions": [viewer.pk],
        "excerpt": body[:200],
    }


def test_mentions_are_not_read_inside_an_email_address():
    assert comment_services.mentioned_usernames("mail tina@example.org and @victor.") == ["victor"]


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001, "nul\x00", 42])
def test_a_bad_comment_is_refused_and_nothing_is_written(initiative_at, team_member, body):
    initiative = initiative_at(Step.PLAN)
    with pytest.raises(InvalidInput):
        comment_services.comment_create(initiative=initiative, actor=team_member, body=body)
    assert not Comment.objects.exists() and not events(EventType.COMMENT_CREATED)


def test_a_viewer_reads_but_does_not_comment(initiative_at, viewer):
    with pytest.raises(Forbidden):
        comment_services.comment_create(
            initiative=initiative_at(Step.PLAN), actor=viewer, body="Hello"
        )
    assert not Comment.objects.exists()


def test_edits_and_deletes_are_kept_in_the_history(initiative_at, team_member, csi, make_user):
    initiative = initiative_at(Step.PLAN)
    other = make_user("team", username="otto")
    comment = comment_services.comment_create(
        initiative=initiative, actor=team_member, body="First"
    )
    # only the author edits
    with pytest.raises(Forbidden):
        comment_services.comment_update(comment=comment, actor=csi, body="Not mine")
    comment_services.comment_update(comment=comment, actor=team_member, body="Second")
    # another team member may not delete it; a CSI manager may
    with pytest.raises(Forbidden):
        comment_services.comment_delete(comment=comment, actor=other)
    comment_services.comment_delete(comment=comment, actor=csi)
    comment.refresh_from_db()
    assert comment.is_deleted and comment.deleted_by == csi and comment.edited_at
    history = list(comment.history.order_by("history_date").values_list("body", "history_user"))
    assert history == [("First", team_member.pk), ("Second", team_member.pk), ("Second", csi.pk)]
    with pytest.raises(Conflict):
        comment_services.comment_update(comment=comment, actor=team_member, body="Third")
    # one event only: for the new comment
    assert len(events(EventType.COMMENT_CREATED)) == 1


# --- days in step and activity -------------------------------------------------------------


def test_a_move_restarts_days_in_step_and_counts_as_activity(initiative_at, team_member):
    initiative = age(initiative_at(Step.VISION), 40, stale_since=timezone.now())
    assert initiative.days_in_step == 40 and initiative.is_stale
    moved = services.initiative_transition(initiative=initiative, to="baseline", actor=team_member)
    moved.refresh_from_db()
    assert moved.days_in_step == 0 and not moved.is_stale and moved.stale_since is None
    logged = TransitionLog.objects.get(initiative=moved).at
    assert abs(moved.step_entered_at - logged) < dt.timedelta(seconds=5)


@pytest.mark.parametrize(
    "write",
    ["comment", "action", "record", "measurement", "update"],
)
def test_each_kind_of_activity_refreshes_the_last_activity(
    initiative_at, team_member, write, run_on_commit
):
    initiative = age(initiative_at(Step.ACTION), 45)
    before = initiative.last_activity_at
    if write == "comment":
        comment_services.comment_create(initiative=initiative, actor=team_member, body="Hi")
    elif write == "action":
        services.action_create(initiative=initiative, actor=team_member, title="More")
    elif write == "record":
        services.step_record_update(
            initiative=initiative, record="plan", actor=team_member, approach="Changed"
        )
    elif write == "measurement":
        services.measurement_record(
            kpi=initiative.kpis.get(),
            actor=team_member,
            points=[{"value": 3, "measured_at": timezone.now().isoformat()}],
        )
    else:
        services.initiative_update(initiative=initiative, actor=team_member, urgency=5)
    initiative.refresh_from_db()
    assert initiative.last_activity_at > before + dt.timedelta(days=44)
    assert not initiative.is_stale


# --- stale -------------------------------------------------------------------------------


def test_stale_initiatives_are_reported_once_until_they_are_active_again(
    initiative_at, team_member, settings
):
    settings.CIR_STALE_DAYS = 30
    quiet = age(initiative_at(Step.PLAN), 31)
    age(initiative_at(Step.PLAN), 29)  # not yet stale
    age(initiative_at(Step.CLOSED), 90)  # ended: never stale
    age(initiative_at(Step.ON_HOLD, held_from=Step.PLAN), 90)  # on hold on purpose
    assert hygiene.initiatives_flag_stale() == 1
    [event] = events(EventType.INITIATIVE_STALE)
    assert event.payload == {
        "initiative": quiet.pk,
        "reference": quiet.reference,
        "owner": team_member.pk,
        "days_inactive": 31,
    }
    # a second run reports nothing new
    assert hygiene.initiatives_flag_stale() == 0
    # activity clears the flag; going stale again reports it again
    comment_services.comment_create(initiative=quiet, actor=team_member, body="Still on it")
    assert hygiene.initiatives_flag_stale() == 0
    age(quiet, 35)
    assert hygiene.initiatives_flag_stale() == 1
    assert len(events(EventType.INITIATIVE_STALE)) == 2


def test_the_stale_days_come_from_the_setting(initiative_at, settings):
    initiative = age(initiative_at(Step.PLAN), 8)
    settings.CIR_STALE_DAYS = 30
    assert not initiative.is_stale
    settings.CIR_STALE_DAYS = 7
    assert initiative.is_stale
    assert hygiene.initiatives_flag_stale() == 1


# --- duplicates --------------------------------------------------------------------------


def test_similar_titles_and_the_same_record_are_possible_duplicates(csi):
    vpn = factories.InitiativeFactory(title="Recurring VPN drop-outs after the client update")
    record = factories.InitiativeFactory(
        title="Something else entirely", external_system="servicenow", external_id="PRB0040012"
    )
    factories.InitiativeFactory(title="Faster payroll restores")
    closed = force_step(
        factories.InitiativeFactory(title="Recurring VPN drop-outs after the update"), Step.CLOSED
    )
    found = worklists.possible_duplicates(
        csi,
        title="VPN drop-outs after client update",
        external_system="ServiceNow",
        external_id="prb0040012",
    )
    refs = [i.reference for i in found]
    assert refs[0] == record.reference and found[0].same_record
    assert vpn.reference in refs and closed.reference not in refs
    assert len(refs) == 2


def test_an_unrelated_title_finds_no_duplicate(csi):
    factories.InitiativeFactory(title="Recurring VPN drop-outs after the client update")
    assert worklists.possible_duplicates(csi, title="Payroll restore time") == []


def test_the_portable_similarity_is_pg_trgm_s():
    # pg_trgm: similarity('word', 'two words') = 0.36363637
    assert worklists.similarity("word", "two words") == pytest.approx(4 / 11)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT similarity(%s, %s)", ["VPN drop-outs", "vpn dropouts daily"])
            expected = cursor.fetchone()[0]
        assert worklists.similarity("VPN drop-outs", "vpn dropouts daily") == pytest.approx(
            expected, abs=1e-6
        )


def test_a_csi_manager_closes_a_duplicate_with_the_link_kept_on_both(csi, initiative_at):
    keeper = initiative_at(Step.PLAN)
    dup = initiative_at(Step.VISION)
    proposed = factories.InitiativeFactory()
    closed = hygiene.initiative_close_as_duplicate(
        initiative=dup, actor=csi, duplicate_of=keeper, reason="Same VPN issue."
    )
    assert closed.step == Step.CANCELLED and closed.duplicate_of == keeper
    assert list(keeper.duplicates.all()) == [closed]
    log = TransitionLog.objects.get(initiative=closed)
    assert log.comment.startswith(f"Duplicate of {keeper.reference}.")
    assert closed.history.first().duplicate_of_id == keeper.pk
    # a proposed one is rejected
    assert (
        hygiene.initiative_close_as_duplicate(
            initiative=proposed, actor=csi, duplicate_of=keeper
        ).step
        == Step.REJECTED
    )


def test_closing_as_a_duplicate_is_refused_cleanly(csi, team_member, initiative_at, state_of):
    keeper = initiative_at(Step.PLAN)
    dup = initiative_at(Step.VISION)
    before = state_of(dup)
    with pytest.raises(Forbidden):
        hygiene.initiative_close_as_duplicate(
            initiative=dup, actor=team_member, duplicate_of=keeper
        )
    with pytest.raises(InvalidInput):
        hygiene.initiative_close_as_duplicate(initiative=dup, actor=csi, duplicate_of=dup)
    ended = initiative_at(Step.CANCELLED)
    with pytest.raises(InvalidInput):
        hygiene.initiative_close_as_duplicate(initiative=dup, actor=csi, duplicate_of=ended)
    assert state_of(dup) == before


def test_the_periodic_job_is_scheduled_and_flags_stale_initiatives(initiative_at, settings):
    from django_celery_beat.models import PeriodicTask

    from improvement import tasks

    job = PeriodicTask.objects.get(name="Flag stale initiatives")
    assert job.task == "improvement.tasks.initiatives_flag_stale" and job.enabled
    assert "Flag stale initiatives" in settings.CIR_SCHEDULES
    age(initiative_at(Step.PLAN), 60)
    assert tasks.initiatives_flag_stale.apply().get() == 1
    assert tasks.initiatives_flag_stale.apply().get() == 0
