"""Helpers shared by the services: validated saves with the actor, and events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django_fsm import ConcurrentTransition, FSMFieldMixin

from ..exceptions import Conflict, Forbidden, InvalidInput
from ..models import Event


def invalid_from(exc: ValidationError) -> InvalidInput:
    """A Django ValidationError as the domain's InvalidInput with field errors."""
    if hasattr(exc, "error_dict"):
        errors = {
            ("non_field_errors" if k == "__all__" else k): [str(m) for m in v]
            for k, v in exc.message_dict.items()
        }
    else:
        errors = {"non_field_errors": [str(m) for m in exc.messages]}
    first = next(iter(errors.values()))[0]
    return InvalidInput(first, errors=errors)


def apply_fields(instance: models.Model, data: dict, allowed: Iterable[str]) -> list[str]:
    """Set the allowed fields present in `data`; unknown keys are an input error."""
    allowed = set(allowed)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(
            f"Unknown field(s): {', '.join(unknown)}.",
            errors={k: ["This field cannot be set here."] for k in unknown},
        )
    changed = []
    for name, value in data.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def validate(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """Validate fields, choices, lengths and constraints; InvalidInput with field errors."""
    exclude = set(exclude) | {
        f.name for f in instance._meta.concrete_fields if isinstance(f, FSMFieldMixin)
    }
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise invalid_from(exc) from exc


def save_validated(
    instance: models.Model, *, actor, exclude: Iterable[str] = (), validated: bool = False
) -> None:
    """Validate (fields, choices, lengths, constraints) and save, recording the actor.

    `validated=True`: the caller has just run validate() on it; it is not run twice.
    """
    if not validated:
        validate(instance, exclude=exclude)
    instance._history_user = actor
    try:
        with transaction.atomic():
            instance.save()
    except ConcurrentTransition as exc:  # the step moved since the instance was read
        raise Conflict(
            "The initiative was moved by someone else since you opened it. Reload and try again."
        ) from exc
    except IntegrityError as exc:  # a constraint the validation could not see (a race)
        raise InvalidInput(f"The change breaks a rule of the register: {exc}") from exc


def text_problem(text, limit: int) -> str | None:
    """Why `text` cannot be stored in (or looked up in) a text column of `limit` characters,
    or None: a string, not too long, no NUL (PostgreSQL refuses it), no lone surrogate."""
    if type(text) is not str:
        return "Text is required (a string)."
    if len(text) > limit:
        return f"At most {limit} characters of text."
    if "\x00" in text:
        return "The text must not contain NUL characters."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "The text must be valid Unicode (no lone surrogates)."
    return None


def require(condition: bool, message: str) -> None:
    """Raise Forbidden with `message` unless `condition` holds."""
    if not condition:
        raise Forbidden(message)


def event_emit(*, type: str, payload: dict) -> Event:
    """Record an outbound event in the current transaction; deliver it after commit."""
    event = Event.objects.create(id=uuid.uuid4(), type=type, payload=payload)
    events_schedule_dispatch([event.id])
    return event


#: events handed to webhook delivery per task (a sweep may emit 100 000 at once)
DISPATCH_BATCH = 1000


def events_schedule_dispatch(event_ids: Iterable) -> None:
    """After commit, hand the events to webhook delivery: one task per 1 000 events.

    robust: a broker outage must not fail the change that emitted them; events not
    dispatched keep dispatched_at empty and the periodic dispatcher sends them later.
    """
    ids = [str(i) for i in event_ids]
    if not ids:
        return

    def dispatch() -> None:
        from .. import tasks
        from ..tasks.publish import publish

        for start in range(0, len(ids), DISPATCH_BATCH):
            if not publish(tasks.events_dispatch, args=[ids[start : start + DISPATCH_BATCH]]):
                break

    transaction.on_commit(dispatch, robust=True)
