"""Notifications with real parts: a Celery worker process, Redis, PostgreSQL and an SMTP
server (aiosmtpd) — an assignment committed here reaches each assignee's mailbox once
through the worker, never the actor, and a duplicated email task sends nothing new."""

import pytest

from improvement import services
from improvement.choices import Step
from improvement.models import Notification

from ..conftest import force_step
from ..factories import InitiativeFactory, UserFactory
from ..services.test_notifications_smtp import smtp_server
from .live import Worker, point_producer_at, wait_until

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp():
    with smtp_server() as sink:
        yield sink


def test_an_assignment_is_mailed_once_by_the_worker(
    configured_broker, queue, restore_celery, role_groups, smtp
):
    mgr = UserFactory(username="mgr-live", roles=["CSI manager"])
    alice = UserFactory(username="alice-live", roles=["Improvement team"])
    bob = UserFactory(username="bob-live", roles=["Viewer"])
    initiative = force_step(InitiativeFactory(accountable=mgr), Step.VISION)
    worker = Worker(
        configured_broker, queue,
        env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", "CIR_BASE_URL": "https://cir.test",
             # the email tasks the worker sends after routing come back to it
             "CELERY_TASK_DEFAULT_QUEUE": queue},
    )  # fmt: skip
    worker.start()
    try:
        point_producer_at(configured_broker, queue)
        # when the CSI manager gives alice and themselves a role and informs bob
        services.initiative_update(
            initiative=initiative, actor=mgr, responsible=[alice, mgr], informed=[bob]
        )
        # then the worker routes the event and mails alice and bob, once each
        arrived = wait_until(lambda: len(smtp.messages) >= 2, 90)
        assert arrived, "no mail arrived:\n" + "".join(worker.lines)
        # a duplicated email task (a redelivery) sends nothing new
        from improvement.tasks import notification_email_send

        def sends_done() -> int:
            return sum(
                "notification_email_send" in line and "succeeded" in line for line in worker.lines
            )

        assert wait_until(lambda: sends_done() >= 2, 30)
        for n in Notification.objects.all():
            notification_email_send.apply_async(args=[n.pk])
        assert wait_until(lambda: sends_done() >= 4, 30), "".join(worker.lines)
    finally:
        worker.stop()
    assert smtp.to() == ["alice-live@example.com", "bob-live@example.com"]
    (_, message) = next(m for m in smtp.messages if m[0] == ["alice-live@example.com"])
    assert "https://cir.test/initiatives/" in message.get_body(("plain",)).get_content()
    assert set(Notification.objects.values_list("email_state", flat=True)) == {"sent"}
