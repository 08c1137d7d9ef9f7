"""Notifications: who is told what, from the event stream and from periodic reminders.

Routing runs in the same transaction as the webhook fan-out of the events
(services.webhooks.events_dispatch): the events are locked and marked dispatched once, so
the periodic catch-up (`events_dispatch_pending`) also covers notifications, and a retried
task creates nothing twice (a notification is unique per event, recipient and kind).
Periodic reminders (an action due in 2 days, a review due, a proposal waiting for triage)
are unique per recipient, kind and key. Nobody is told of their own change.

Each user's preference per kind (NotificationPreference, else DEFAULT_DELIVERY) decides:
off (nothing), in the app, in the app + an email at once, in the app + the daily digest.
Emails are sent after commit by services.mail.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from ..choices import (
    DEFAULT_DELIVERY,
    FINAL_STEPS,
    OPEN_ACTION_STATUSES,
    Delivery,
    EmailState,
    EventType,
    KPIStatus,
    NotificationKind,
    Role,
    Step,
)
from ..exceptions import InvalidInput
from ..models import (
    KPI,
    Action,
    Event,
    Initiative,
    Notification,
    NotificationPreference,
    Review,
    Watcher,
)

User = get_user_model()
Kind = NotificationKind

#: the KPI verdicts that notify, and the kind they make
KPI_KINDS = {
    KPIStatus.AT_RISK: Kind.KPI_AT_RISK,
    KPIStatus.REGRESSED: Kind.KPI_REGRESSED,
    KPIStatus.MISSED: Kind.KPI_MISSED,
}
ROLE_NAMES = {
    "accountable": "accountable",
    "responsible": "responsible",
    "consulted": "consulted",
    "informed": "informed",
}


def triage_days() -> int:
    """How many days a proposal waits before the CSI managers are reminded (CIR_TRIAGE_DAYS)."""
    return max(1, int(getattr(settings, "CIR_TRIAGE_DAYS", 5)))


# --- who ---------------------------------------------------------------------------------


class _People:
    """The people of a set of initiatives, read in a fixed number of statements."""

    def __init__(self, initiative_ids: Iterable[int]):
        ids = set(initiative_ids)
        self.initiatives = {
            i["id"]: i
            for i in Initiative.objects.filter(pk__in=ids).values(
                "id", "reference", "title", "accountable_id", "created_by_id"
            )
        }
        self.responsible: dict[int, set[int]] = defaultdict(set)
        self.watchers: dict[int, set[int]] = defaultdict(set)
        for row in Initiative.responsible.through.objects.filter(initiative_id__in=ids).values(
            "initiative_id", "user_id"
        ):
            self.responsible[row["initiative_id"]].add(row["user_id"])
        for row in Initiative.informed.through.objects.filter(initiative_id__in=ids).values(
            "initiative_id", "user_id"
        ):
            self.watchers[row["initiative_id"]].add(row["user_id"])
        for row in Watcher.objects.filter(initiative_id__in=ids).values("initiative_id", "user_id"):
            self.watchers[row["initiative_id"]].add(row["user_id"])

    def accountable(self, initiative_id: int) -> set[int]:
        owner = self.initiatives.get(initiative_id, {}).get("accountable_id")
        return {owner} if owner else set()

    def team(self, initiative_id: int) -> set[int]:
        """Accountable, responsible and watchers (the Informed among them)."""
        return (
            self.accountable(initiative_id)
            | self.responsible[initiative_id]
            | self.watchers[initiative_id]
        )


def _initiative_id(event: Event) -> int | None:
    p = event.payload
    if event.type.startswith("initiative.") and event.type != EventType.INITIATIVE_STALE:
        value = p.get("id")
    elif event.type in (EventType.COMMENT_CREATED, EventType.INITIATIVE_STALE):
        value = p.get("initiative")
    else:
        value = p.get("initiative_id")
    return value if isinstance(value, int) else None


def _link(reference: str | None) -> str:
    return reverse("improvement:initiative", args=[reference]) if reference else ""


def _label(info: dict | None, payload: dict) -> str:
    if info:
        return f"{info['reference']} · {info['title']}"
    return str(payload.get("reference") or payload.get("initiative") or "an initiative")


def _step_label(value) -> str:
    return Step(value).label if value in Step.values else str(value)


# --- routing events ----------------------------------------------------------------------


def _candidates(event: Event, people: _People, usernames: dict[str, int]) -> list[tuple]:
    """(recipient ids, kind, text) for one event, before the actor and preferences."""
    p = event.payload
    initiative_id = _initiative_id(event)
    info = people.initiatives.get(initiative_id)
    label = _label(info, p)
    t = event.type
    out: list[tuple] = []
    if t == EventType.INITIATIVE_TRANSITIONED:
        to, source = p.get("to"), p.get("from")
        proposer = {info["created_by_id"]} if info and info["created_by_id"] else set()
        if source == Step.PROPOSED and to == Step.VISION:
            out.append((people.team(initiative_id) | proposer, Kind.ACCEPTED,
                        f"{label} was accepted by {p.get('by')}."))  # fmt: skip
        elif to == Step.REJECTED:
            out.append((people.team(initiative_id) | proposer, Kind.REJECTED,
                        f"{label} was rejected by {p.get('by')}."))  # fmt: skip
        else:
            out.append((people.team(initiative_id), Kind.STEP_MOVED,
                        f"{label} moved from {_step_label(source)} to {_step_label(to)} "
                        f"(by {p.get('by')})."))  # fmt: skip
    elif t == EventType.INITIATIVE_ASSIGNED:
        roles: dict[int, list[str]] = defaultdict(list)
        for item in p.get("assigned") or []:
            if isinstance(item, dict) and isinstance(item.get("user"), int):
                roles[item["user"]].append(ROLE_NAMES.get(item.get("role"), str(item.get("role"))))
        for user_id, names in roles.items():
            out.append(({user_id}, Kind.ROLE_ASSIGNED,
                        f"{p.get('by')} made you {' and '.join(names)} on {label}."))  # fmt: skip
    elif t == EventType.KPI_STATUS_CHANGED and p.get("to") in KPI_KINDS:
        status = KPIStatus(p["to"]).label.lower()
        out.append((people.team(initiative_id), KPI_KINDS[p["to"]],
                    f"KPI {p.get('name')} of {label} is now {status}."))  # fmt: skip
    elif t == EventType.KPI_REVERTED:
        out.append((people.team(initiative_id), Kind.KPI_REVERTED,
                    f"KPI {p.get('name')} of {label} reverted: the gain was lost."))  # fmt: skip
    elif t == EventType.ACTION_OVERDUE:
        owner = usernames.get(p.get("owner"))
        who = {owner} if owner else people.accountable(initiative_id)
        out.append((who | people.accountable(initiative_id), Kind.ACTION_OVERDUE,
                    f"Action '{p.get('title')}' of {label} is overdue "
                    f"(due {p.get('due_date')})."))  # fmt: skip
    elif t == EventType.ACTION_ASSIGNED and isinstance(p.get("owner"), int):
        due = f", due {p['due_date']}" if p.get("due_date") else ""
        text = f"{p.get('by')} gave you the action '{p.get('title')}' on {label}{due}."
        out.append(({p["owner"]}, Kind.ACTION_ASSIGNED, text))
    elif t == EventType.COMMENT_CREATED:
        mentioned = {m for m in p.get("mentions") or [] if isinstance(m, int)}
        excerpt = str(p.get("excerpt") or "")[:200]
        author = usernames.get("#author") or ""
        out.append((mentioned, Kind.MENTION,
                    f"{author} mentioned you on {label}: “{excerpt}”"))  # fmt: skip
        out.append((people.watchers[initiative_id] - mentioned, Kind.COMMENT,
                    f"{author} commented on {label}: “{excerpt}”"))  # fmt: skip
    elif t == EventType.INITIATIVE_STALE:
        owner = p.get("owner")
        days = p.get("days_inactive")
        out.append(({owner} if isinstance(owner, int) else set(), Kind.STALE,
                    f"{label} has had no activity for {days} days."))  # fmt: skip
    return out


def _actor_id(event: Event, usernames: dict[str, int]) -> int | None:
    p = event.payload
    if isinstance(p.get("actor_id"), int):
        return p["actor_id"]
    if event.type == EventType.COMMENT_CREATED and isinstance(p.get("author"), int):
        return p["author"]
    by = p.get("by")
    return usernames.get(by) if isinstance(by, str) else None


def notifications_route(*, events: list[Event]) -> int:
    """Create the notifications of these events (each once); returns how many were new.

    Called by the dispatcher in the transaction that marks the events dispatched; a fixed
    number of statements whatever the number of events. Emails go after commit.
    """
    events = [e for e in events if isinstance(e.payload, dict)]
    if not events:
        return 0
    people = _People(filter(None, (_initiative_id(e) for e in events)))
    names = {e.payload.get(k) for e in events for k in ("by", "owner")} - {None}
    names = {n for n in names if isinstance(n, str)}
    usernames = dict(
        User.objects.filter(username__in=names).values_list("username", "pk") if names else []
    )
    authors = {
        e.payload["author"]
        for e in events
        if e.type == EventType.COMMENT_CREATED and isinstance(e.payload.get("author"), int)
    }
    author_names = dict(User.objects.filter(pk__in=authors).values_list("pk", "username"))
    rows = []
    for event in events:
        actor = _actor_id(event, usernames)
        context = usernames
        if event.type == EventType.COMMENT_CREATED:
            context = usernames | {"#author": author_names.get(event.payload.get("author"), "")}
        initiative_id = _initiative_id(event)
        info = people.initiatives.get(initiative_id)
        link = _link(info["reference"] if info else None)
        for recipients, kind, text in _candidates(event, people, context):
            for user_id in recipients - {actor, None}:
                rows.append(
                    Notification(
                        recipient_id=user_id,
                        kind=kind,
                        initiative_id=initiative_id if info else None,
                        event=event,
                        text=text[:500],
                        link=link,
                    )
                )
    created = _deliver(rows)
    _schedule_emails(Q(event_id__in=[e.pk for e in events]))
    return created


def _deliver(rows: list[Notification]) -> int:
    """Apply each recipient's preference, drop inactive users, and insert the rest
    (conflicts — a notification that exists already — are ignored). Returns how many."""
    if not rows:
        return 0
    users = {
        u["pk"]: u
        for u in User.objects.filter(pk__in={r.recipient_id for r in rows}, is_active=True).values(
            "pk", "email"
        )
    }
    prefs = preferences_of(users)
    keep = []
    for row in rows:
        user = users.get(row.recipient_id)
        if user is None:
            continue
        delivery = prefs[row.recipient_id].get(row.kind, DEFAULT_DELIVERY[row.kind])
        if delivery == Delivery.OFF:
            continue
        if delivery == Delivery.EMAIL and user["email"]:
            row.email_state = EmailState.PENDING
        elif delivery == Delivery.DIGEST and user["email"]:
            row.email_state = EmailState.DIGEST
        keep.append(row)
    # the ones that exist already (a retried task): one indexed look-up, so the answer
    # counts only the new; a concurrent insert of the same is still ignored by the database
    existing = set(
        Notification.objects.filter(
            Q(event_id__in={r.event_id for r in keep} - {None})
            | Q(key__in={r.key for r in keep} - {""})
        ).values_list("event_id", "key", "recipient_id", "kind")
    )
    new = [r for r in keep if (r.event_id, r.key, r.recipient_id, r.kind) not in existing]
    Notification.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _schedule_emails(where: Q) -> None:
    """After commit, send the pending emails among the notifications `where` selects."""

    def enqueue() -> None:
        from ..tasks.notifications import notification_email_send
        from ..tasks.publish import publish

        ids = list(
            Notification.objects.filter(where, email_state=EmailState.PENDING).values_list(
                "pk", flat=True
            )
        )
        for notification_id in ids:
            if not publish(notification_email_send, args=[notification_id]):
                break  # broker trouble: the periodic sender catches up

    transaction.on_commit(enqueue, robust=True)


def preferences_of(user_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The chosen deliveries of these users: {user id: {kind: delivery}} (defaults absent)."""
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for user_id, kind, delivery in NotificationPreference.objects.filter(
        user_id__in=list(user_ids)
    ).values_list("user_id", "kind", "delivery"):
        out[user_id][kind] = delivery
    return out


# --- periodic reminders ------------------------------------------------------------------


def notifications_remind(*, today: dt.date | None = None) -> int:
    """The periodic reminders, each once: actions due in the next 2 days (per action and
    due date), reviews due (per initiative and iteration), proposals waiting for triage
    longer than CIR_TRIAGE_DAYS (per initiative). Returns how many notifications were new.
    """
    today = today or timezone.localdate()
    rows: list[Notification] = []
    keys: list[str] = []

    def add(user_ids, kind, key, initiative, text):
        keys.append(key)
        for user_id in set(user_ids) - {None}:
            rows.append(
                Notification(
                    recipient_id=user_id,
                    kind=kind,
                    initiative_id=initiative["id"],
                    key=key,
                    text=text[:500],
                    link=_link(initiative["reference"]),
                )
            )

    # actions due in the next 2 days
    soon = (
        Action.objects.filter(
            due_date__gt=today,
            due_date__lte=today + dt.timedelta(days=2),
            status__in=OPEN_ACTION_STATUSES,
        )
        .exclude(initiative__step__in=FINAL_STEPS)
        .values(
            "id", "title", "due_date", "owner_id", "initiative_id", "initiative__reference",
            "initiative__title", "initiative__accountable_id",
        )
    )  # fmt: skip
    for a in soon:
        initiative = {"id": a["initiative_id"], "reference": a["initiative__reference"]}
        days = (a["due_date"] - today).days
        when = "tomorrow" if days == 1 else f"in {days} days"
        add([a["owner_id"] or a["initiative__accountable_id"]], Kind.ACTION_DUE_SOON,
            f"action:{a['id']}:due:{a['due_date'].isoformat()}", initiative,
            f"Action '{a['title']}' of {a['initiative__reference']} · "
            f"{a['initiative__title']} is due {when} ({a['due_date'].isoformat()}).")  # fmt: skip

    # reviews due: in step 6 without this iteration's review, or in step 5 with a KPI
    # whose target date has come
    reviewed = Review.objects.filter(initiative_id=OuterRef("pk"), iteration=OuterRef("iteration"))
    target_reached = KPI.objects.filter(initiative_id=OuterRef("pk"), target_date__lte=today)
    due = (
        Initiative.objects.annotate(reviewed=Exists(reviewed), reached=Exists(target_reached))
        .filter(reviewed=False)
        .filter(Q(step=Step.REVIEW) | Q(step=Step.ACTION, reached=True))
        .values("id", "reference", "title", "iteration", "accountable_id", "step")
    )
    due = list(due)
    responsible: dict[int, set[int]] = defaultdict(set)
    for row in Initiative.responsible.through.objects.filter(
        initiative_id__in=[i["id"] for i in due]
    ).values("initiative_id", "user_id"):
        responsible[row["initiative_id"]].add(row["user_id"])
    for i in due:
        why = (
            "it is at step 6"
            if i["step"] == Step.REVIEW
            else "a KPI's target date has been reached"
        )
        add({i["accountable_id"]} | responsible[i["id"]], Kind.REVIEW_DUE,
            f"review:{i['id']}:{i['iteration']}", i,
            f"The review of {i['reference']} · {i['title']} (iteration {i['iteration']}) "
            f"is due: {why}.")  # fmt: skip

    # proposals waiting for triage
    waited = timezone.now() - dt.timedelta(days=triage_days())
    waiting = list(
        Initiative.objects.filter(step=Step.PROPOSED, created_at__lte=waited).values(
            "id", "reference", "title", "created_at"
        )
    )
    if waiting:
        managers = list(
            User.objects.filter(groups__name=Role.CSI_MANAGER, is_active=True).values_list(
                "pk", flat=True
            )
        )
        for i in waiting:
            age = (timezone.now() - i["created_at"]).days
            add(managers, Kind.TRIAGE_WAITING, f"triage:{i['id']}", i,
                f"{i['reference']} · {i['title']} has waited {age} days for triage.")  # fmt: skip

    with transaction.atomic():
        created = _deliver(rows)
        if keys:
            _schedule_emails(Q(key__in=keys))
    return created


# --- the inbox ---------------------------------------------------------------------------


def notifications_mark_read(*, actor, ids: Iterable[int] | None = None) -> int:
    """Mark the actor's notifications read: those of `ids`, or all of them (None).

    Only the actor's own unread notifications change; other ids are ignored. Returns how
    many were marked.
    """
    qs = Notification.objects.filter(recipient=actor, read_at__isnull=True)
    if ids is not None:
        ids = list(ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidInput(
                "Notification ids are whole numbers.",
                errors={"ids": ["Give a list of notification ids."]},
            )
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- preferences -------------------------------------------------------------------------


def notification_preferences_set(*, actor, preferences: dict) -> dict[str, str]:
    """Set the actor's delivery per kind: {kind: "in_app" | "email" | "digest" | "off"}.

    Unknown kinds or deliveries are an input error and change nothing. A kind set back to
    its default keeps a row (the choice is the user's). Returns every kind's delivery.
    """
    if not isinstance(preferences, dict):
        raise InvalidInput("Preferences are an object of kind → delivery.")
    errors = {}
    for kind, delivery in preferences.items():
        if kind not in Kind.values:
            errors[str(kind)] = [f"Unknown kind. Choose from: {', '.join(Kind.values)}."]
        elif delivery not in Delivery.values:
            errors[kind] = [f"Choose one of: {', '.join(Delivery.values)}."]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    with transaction.atomic():
        existing = {
            p.kind: p for p in NotificationPreference.objects.select_for_update().filter(user=actor)
        }
        changed, new = [], []
        for kind, delivery in preferences.items():
            if kind in existing:
                if existing[kind].delivery != delivery:
                    existing[kind].delivery = delivery
                    changed.append(existing[kind])
            else:
                new.append(NotificationPreference(user=actor, kind=kind, delivery=delivery))
        NotificationPreference.objects.bulk_update(changed, ["delivery"])
        NotificationPreference.objects.bulk_create(new, ignore_conflicts=True)
    return preferences_for(actor)


def preferences_for(user) -> dict[str, str]:
    """Every kind's delivery for `user`: the chosen one, else the default (one query)."""
    chosen = preferences_of([user.pk])[user.pk]
    return {kind: chosen.get(kind, DEFAULT_DELIVERY[kind]) for kind in Kind.values}
