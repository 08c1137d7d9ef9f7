"""Tasks that send notification emails and run the periodic reminders and the digest.

Routing needs no task of its own: it runs with the webhook fan-out of the events
(`events_dispatch`, and the periodic `events_dispatch_pending` catches up after a broker
outage). `notification_email_send` runs after the commit that created a notification;
`notification_emails_pending` (every minute) sends what a broker outage left behind;
`notifications_remind` (hourly) makes the reminders; `notifications_digest` (daily) sends
each user's digest. All are idempotent: a task run twice sends nothing twice.
"""

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ..services import mail
from ..services import notifications as notification_services

__all__ = [
    "notification_email_send",
    "notification_emails_pending",
    "notifications_digest",
    "notifications_remind",
]

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError, smtplib.SMTPException)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 10,
    "retry_backoff_max": settings.CIR_TASK_MAX_COUNTDOWN,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="improvement.tasks.notification_email_send", **RETRY)
def notification_email_send(notification_id: int) -> bool:
    """Send one notification's email (once); True when it was sent by this run."""
    return mail.notification_email_send(notification_id=notification_id)


@shared_task(bind=True, name="improvement.tasks.notification_emails_pending")
def notification_emails_pending(self) -> int:
    """Send the emails still pending (a broker outage, a failed SMTP server); how many.

    One failure does not stop the others; it stays pending for the next run.
    """
    eager = self.request.is_eager or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    sent = 0
    for notification_id in mail.notification_emails_pending(grace_seconds=0 if eager else 60):
        try:
            sent += mail.notification_email_send(notification_id=notification_id)
        except Exception:  # the SMTP server is down: keep it pending, try the next run
            log.warning("could not send notification email %s", notification_id, exc_info=True)
            break
    return sent


@shared_task(name="improvement.tasks.notifications_remind", **RETRY)
def notifications_remind() -> int:
    """Actions due in 2 days, reviews due, proposals waiting for triage (each once)."""
    return notification_services.notifications_remind()


@shared_task(name="improvement.tasks.notifications_digest")
def notifications_digest() -> dict:
    """One digest email per user with notifications waiting for it (each sent once)."""
    users = sent = 0
    for user_id in mail.digest_recipients():
        try:
            carried = mail.digest_send(user_id=user_id)
        except Exception:  # left waiting for the next run
            log.warning("could not send the digest of user %s", user_id, exc_info=True)
            continue
        users += bool(carried)
        sent += carried
    return {"users": users, "notifications": sent}
