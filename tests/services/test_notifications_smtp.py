"""Notification emails through a real SMTP server (aiosmtpd on 127.0.0.1, started here):
who received which mail, once; the actor nothing; the headers and both parts; a retried
task sends nothing new."""

import contextlib
import email
import email.policy
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core.mail.utils import DNS_NAME

from improvement import services
from improvement.choices import EventType, Step
from improvement.models import Event, Notification
from improvement.services import mail
from improvement.services import webhooks as webhook_services
from improvement.tasks import notification_email_send, notification_emails_pending

from ..conftest import free_port

pytestmark = pytest.mark.django_db


class Sink:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self) -> list[str]:
        return sorted(r for rcpts, _ in self.messages for r in rcpts)


@contextlib.contextmanager
def smtp_server():
    """An SMTP server on a free loopback port (tests run side by side): its Sink, whose
    `port` it listens on."""
    sink = Sink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp(settings, monkeypatch):
    # the machine's name as Django's SMTP client greets with it: no DNS look-up in tests
    monkeypatch.setattr(DNS_NAME, "_fqdn", "localhost", raising=False)
    with smtp_server() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.CIR_BASE_URL = "https://cir.example.org"
        settings.DEFAULT_FROM_EMAIL = "CIR <cir@example.org>"
        yield sink


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_an_assignment_reaches_each_assignee_once_through_smtp(
    smtp, initiative_at, make_user, commit
):
    # given an initiative and a CSI manager who assigns alice, bob and themselves
    initiative = initiative_at(Step.VISION)
    mgr = make_user("csi", username="mgr")
    alice = make_user("team", username="alice")
    bob = make_user("viewer", username="bob")
    with commit():
        services.initiative_update(
            initiative=initiative, actor=mgr, accountable=alice, responsible=[mgr],
            informed=[bob],
        )  # fmt: skip
    # then alice and bob got one mail each through the SMTP server, the actor none
    assert smtp.to() == ["alice@example.com", "bob@example.com"]
    rcpts, message = next(m for m in smtp.messages if m[0] == ["alice@example.com"])
    assert message["From"] == "CIR <cir@example.org>"
    assert message["Subject"].strip().startswith("[CIR] mgr made you accountable on")
    # (a long header is folded on the wire: its value starts after the fold's space)
    assert (
        message["List-Unsubscribe"]
        .strip()
        .startswith("<https://cir.example.org/notifications/unsubscribe/")
    )
    assert message["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://cir.example.org/initiatives/{initiative.reference}/"
    assert link in plain and link in html
    assert "accountable" in plain
    # and a retried email task, a retried dispatch and the periodic sender send nothing new
    for n in Notification.objects.all():
        assert notification_email_send.apply(args=[n.pk]).get() is False
    events = Event.objects.filter(type=EventType.INITIATIVE_ASSIGNED)
    events.update(dispatched_at=None)
    with commit():
        webhook_services.events_dispatch(event_ids=[e.pk for e in events])
    assert notification_emails_pending.apply().get() == 0
    assert smtp.to() == ["alice@example.com", "bob@example.com"]


def test_a_mention_and_a_kpi_turning_regressed_reach_the_right_people_once(
    smtp, initiative_at, make_user, commit
):
    initiative = initiative_at(Step.ACTION)  # tina: accountable and responsible
    author = make_user("team", username="alice")
    mentioned = make_user("viewer", username="bob")
    watcher = make_user("viewer", username="carol")
    initiative.informed.add(watcher)
    with commit():
        services.event_emit(
            type=EventType.COMMENT_CREATED,
            payload={"initiative": initiative.pk, "reference": initiative.reference,
                     "comment": 7, "author": author.pk, "mentions": [mentioned.pk],
                     "excerpt": "What do you think, @bob?"},
        )  # fmt: skip
    # the mention by email (default), carol's comment notification in the app only
    assert smtp.to() == ["bob@example.com"]
    assert "alice mentioned you" in smtp.messages[0][1]["Subject"]
    kpi = initiative.kpis.get()
    with commit():
        services.event_emit(
            type=EventType.KPI_STATUS_CHANGED,
            payload={"kpi": kpi.key, "kpi_id": kpi.pk, "name": kpi.name,
                     "initiative_id": initiative.pk, "initiative": initiative.reference,
                     "from": "on_track", "to": "regressed"},
        )  # fmt: skip
    assert smtp.to() == ["bob@example.com", "carol@example.com", "tina@example.com"]


def test_a_digest_is_one_mail_with_both_parts(smtp, initiative_at, make_user, commit):
    initiative = initiative_at(Step.VISION)
    mgr = make_user("csi", username="mgr")
    with commit():
        services.initiative_transition(initiative=initiative, to=Step.BASELINE, actor=mgr)
    assert smtp.messages == []  # step moves go to the digest by default
    assert mail.digest_send(user_id=initiative.accountable_id) == 1
    assert mail.digest_send(user_id=initiative.accountable_id) == 0
    ((rcpts, message),) = smtp.messages
    assert rcpts == ["tina@example.com"]
    assert message["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"
    assert initiative.reference in message.get_body(("plain",)).get_content()
    assert initiative.reference in message.get_body(("html",)).get_content()
