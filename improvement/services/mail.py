"""Notification emails: one at once per notification, or the daily digest — each once.

A notification to email is `pending`; `notification_email_send` locks its row, sends, and
marks it `sent` in one transaction, so a retried or duplicated task finds it sent and sends
nothing. The digest gathers a user's `digest` notifications under the same lock and marks
them `digested`. Every email has a plain-text body and an HTML alternative, an absolute
link to the item (CIR_BASE_URL) and a one-click List-Unsubscribe (RFC 8058) for its kind.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..choices import DEFAULT_DELIVERY, Delivery, EmailState, NotificationKind
from ..exceptions import InvalidInput
from ..models import Notification, NotificationPreference

log = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "cir.notifications.unsubscribe"
#: the token's pseudo-kind that unsubscribes from the digest
DIGEST = "digest"
#: emails sent per run of the periodic sender
SWEEP_BATCH = 200


def base_url() -> str:
    """The site's address for links in emails (CIR_BASE_URL), without a trailing slash."""
    return str(getattr(settings, "CIR_BASE_URL", "http://localhost:8000")).rstrip("/")


def absolute(path: str) -> str:
    return f"{base_url()}{path}" if path.startswith("/") else path


# --- unsubscribing -----------------------------------------------------------------------


def unsubscribe_token(user_id: int, kind: str) -> str:
    """A signed token that stops the emails of one kind (or the digest) for one user."""
    return signing.dumps({"u": user_id, "k": kind}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(user_id: int, kind: str) -> str:
    return absolute(
        reverse("improvement:notifications-unsubscribe", args=[unsubscribe_token(user_id, kind)])
    )


def token_subject(token: str) -> tuple[int, str]:
    """(user id, kind) of a valid token; InvalidInput for a forged or damaged one."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        user_id, kind = data["u"], data["k"]
    except (signing.BadSignature, KeyError, TypeError) as exc:
        raise InvalidInput("This unsubscribe link is not valid.") from exc
    if not isinstance(user_id, int) or kind not in (*NotificationKind.values, DIGEST):
        raise InvalidInput("This unsubscribe link is not valid.")
    return user_id, kind


def notifications_unsubscribe(*, token: str) -> tuple[int, str]:
    """Stop the emails a token names; the notifications stay in the app.

    The kind's delivery becomes in_app; the digest token moves every kind the user gets by
    digest to in_app. The token is the authority (a mail client posts it without a
    session). Idempotent. Returns (user id, kind).
    """
    from .notifications import preferences_of

    user_id, kind = token_subject(token)
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise InvalidInput("This unsubscribe link is not valid.")
    with transaction.atomic():
        chosen = preferences_of([user_id])[user_id]
        if kind == DIGEST:
            kinds = [
                k
                for k in NotificationKind.values
                if chosen.get(k, DEFAULT_DELIVERY[k]) == Delivery.DIGEST
            ]
        else:
            kinds = [kind] if chosen.get(kind, DEFAULT_DELIVERY[kind]) != Delivery.OFF else []
        for k in kinds:
            NotificationPreference.objects.update_or_create(
                user_id=user_id, kind=k, defaults={"delivery": Delivery.IN_APP}
            )
        # what was waiting for an email of these kinds stays in the app only
        waiting = EmailState.DIGEST if kind == DIGEST else EmailState.PENDING
        Notification.objects.filter(
            recipient_id=user_id, kind__in=kinds, email_state=waiting
        ).update(email_state=EmailState.NONE)
    return user_id, kind


# --- composing ---------------------------------------------------------------------------


def _message(*, to: str, subject: str, template: str, context: dict, unsubscribe: str):
    context = {**context, "base_url": base_url(), "unsubscribe_url": unsubscribe,
               "settings_url": absolute(reverse("improvement:notification-settings"))}  # fmt: skip
    text = render_to_string(f"improvement/email/{template}.txt", context)
    html = render_to_string(f"improvement/email/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def _item(n: Notification) -> dict:
    return {
        "text": n.text,
        "kind": n.get_kind_display(),
        "url": absolute(n.link or reverse("improvement:notifications")),
        "created_at": n.created_at,
    }


# --- sending -----------------------------------------------------------------------------


def notification_email_send(*, notification_id: int) -> bool:
    """Send the email of one pending notification, once; True when it was sent now.

    The row is locked and marked sent in the transaction that sends: a duplicate or
    retried task finds it sent. A send that fails raises and leaves it pending (the task
    retries; the periodic sender catches up).
    """
    with transaction.atomic():
        n = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, email_state=EmailState.PENDING)
            .first()
        )
        if n is None:
            return False
        recipient = n.recipient
        if not recipient.email or not recipient.is_active:
            n.email_state = EmailState.FAILED
            n.save(update_fields=["email_state"])
            return False
        message = _message(
            to=recipient.email,
            subject=f"[CIR] {n.text}",
            template="notification",
            context={"item": _item(n), "user": recipient},
            unsubscribe=unsubscribe_url(recipient.pk, n.kind),
        )
        message.send()
        n.email_state = EmailState.SENT
        n.emailed_at = timezone.now()
        n.save(update_fields=["email_state", "emailed_at"])
    return True


def notification_emails_pending(*, grace_seconds: float = 0) -> list[int]:
    """The pending emails older than the grace period (their own task may still be coming)."""
    cutoff = timezone.now() - dt.timedelta(seconds=grace_seconds)
    return list(
        Notification.objects.filter(email_state=EmailState.PENDING, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def digest_send(*, user_id: int) -> int:
    """Send one user's digest: every notification waiting for it, in one email, once.

    Returns how many notifications it carried (0: nothing was waiting, nothing sent).
    """
    with transaction.atomic():
        items = list(
            Notification.objects.select_for_update()
            .filter(recipient_id=user_id, email_state=EmailState.DIGEST)
            .order_by("created_at", "pk")
        )
        if not items:
            return 0
        recipient = items[0].recipient
        ids = [n.pk for n in items]
        if not recipient.email or not recipient.is_active:
            Notification.objects.filter(pk__in=ids).update(email_state=EmailState.FAILED)
            return 0
        count = len(items)
        message = _message(
            to=recipient.email,
            subject=f"[CIR] Your daily digest: {count} notification{'s' if count != 1 else ''}",
            template="digest",
            context={"items": [_item(n) for n in items], "user": recipient, "count": count},
            unsubscribe=unsubscribe_url(recipient.pk, DIGEST),
        )
        message.send()
        Notification.objects.filter(pk__in=ids).update(
            email_state=EmailState.DIGESTED, emailed_at=timezone.now()
        )
    return count


def digest_recipients() -> list[int]:
    """The users with notifications waiting for the digest."""
    return list(
        Notification.objects.filter(email_state=EmailState.DIGEST)
        .order_by("recipient_id")
        .values_list("recipient_id", flat=True)
        .distinct()
    )
