"""People pickers of the pages: who a picker offers, how it is typed, and how the typed
text is read back to a user.

A one-person picker (accountable, action owner) is a text box suggesting the people
offered as one types (a native `<datalist>`: keyboard and screen readers get the browser's
own combobox), by name, username or email; the text is read back to one of them. A
several-people picker (responsible, consulted, informed) is a list of checkboxes with a box
that filters it as one types (static/improvement/people.js; without JavaScript, the whole
list). Both work with a plain POST and with htmx.

Who may hold a role is the core's (permissions.may_be_accountable, may_use_browser), read
in one query by selectors.people_for_pickers; a person who may not is refused with the
reason, even when posted by hand. Someone already holding the role is kept (and shown) when
left unchanged, so that a later change of their roles does not block other edits.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q

from .. import selectors
from ..services.common import text_problem

User = get_user_model()

#: who may be accountable, responsible or an action owner; who may be consulted or informed
OWNERS = "the Improvement team, Service owners, Process owners and CSI managers"
READERS = "people with a browser role (Viewer or above)"
#: the longest text worth looking a person up by (an email column's length)
LOOKUP_LIMIT = 254
OWNER, READER = "owner", "reader"

TYPE_HELP = "Type part of a name, username or email, then choose from the list."
FILTER_HELP = "Type part of a name, username or email to narrow the list; tick each person."


def people_offered():
    """The people the pickers may offer, in one query: active users with a browser role,
    each with `may_be_accountable` (selectors.people_for_pickers)."""
    return selectors.people_for_pickers()


def user_label(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def _named(text: str) -> str:
    """The username in "Name (username)", as the picker shows a person; else the text."""
    shown = re.fullmatch(r".*\(([^()]+)\)", text)
    return shown.group(1).strip() if shown else text


def find_person(text, people):
    """The one of `people` that `text` names: as the picker shows them ("Name (username)"),
    by username, email or full name (any case), or a user id (what the one-click buttons
    and scripts post); else the only one whose name, username or email holds every word
    typed ("osei" for Samira Osei, as the suggestions match). None when no one, or
    several, match."""
    text = " ".join(str(text).split())
    wanted = _named(text).casefold()
    people = list(people)
    for key in (User.USERNAME_FIELD, "email"):
        found = [u for u in people if str(getattr(u, key, "") or "").casefold() == wanted]
        if len(found) == 1:
            return found[0]
    found = [u for u in people if u.get_full_name().casefold() == text.casefold()]
    if len(found) == 1:
        return found[0]
    pk = _as_id(text)
    if pk is not None:
        return next((u for u in people if u.pk == pk), None)
    found = matching(text, people)
    return found[0] if len(found) == 1 else None


def _as_id(text: str) -> int | None:
    """`text` as a user id: ASCII digits within the database's integers, else None ("²" is
    a digit to Python, and an id beyond 2**63 would fail in the database)."""
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        return int(text)
    return None


def matching(text: str, people) -> list:
    """Those of `people` whose name, username or email holds every word of `text`."""
    words = str(text).casefold().split()
    return [u for u in people if words and all(w in _searched(u) for w in words)]


def _searched(user) -> str:
    return f"{user.get_full_name()} {user.get_username()} {user.email}".casefold()


def refusal(text, role: str, who: str) -> str:
    """Why `text` may not hold `role`: the person it names may not (a viewer, an integration
    account, someone inactive), or it names no one. One query, on this error path only."""
    text = " ".join(str(text).split())
    if text_problem(text, LOOKUP_LIMIT) is not None:
        return "No one matches what was typed: choose a person from the list."
    match = Q(**{f"{User.USERNAME_FIELD}__iexact": _named(text)}) | Q(email__iexact=text)
    pk = _as_id(text)
    if pk is not None:
        match |= Q(pk=pk)
    person = find_person(text, User.objects.filter(match))
    if person is not None:
        return f"{user_label(person)} cannot be {role}: only {who} can, and only while active."
    return f"No one matches “{text}”: choose a person from the list."


class PersonInput(forms.TextInput):
    """A text box with the people offered as suggestions (`<datalist>`)."""

    template_name = "improvement/forms/person.html"

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.people: list = []
        self.known: dict = {}

    def format_value(self, value):
        # a user id (the initial value, or what a one-click button posted) shows as the person
        pk = value if isinstance(value, int) else _as_id(value) if isinstance(value, str) else None
        if pk is not None:
            person = self.known.get(pk)
            if person is not None:
                return user_label(person)
        return super().format_value(value)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["list_id"] = f"{widget['attrs'].get('id') or name}_people"
        widget["attrs"]["list"] = widget["list_id"]
        widget["people"] = [(user_label(u), u.email) for u in self.people]
        return context


class PeopleChecklist(forms.Widget):
    """Checkboxes, one per person offered (those ticked first), with a filter box."""

    template_name = "improvement/forms/people.html"
    allow_multiple_selected = True
    use_fieldset = True

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.people: list = []
        self.kept: set = set()

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return False  # no box ticked posts nothing: that is an empty list

    def format_value(self, value):
        values = value if isinstance(value, list | tuple | set) else [value]
        return {str(getattr(v, "pk", v)) for v in values if v not in (None, "")}

    def id_for_label(self, id_):
        return ""  # a group: its legend names it

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        ticked = context["widget"]["value"]
        base = context["widget"]["attrs"].get("id") or name
        options = [
            {
                "value": str(u.pk),
                "label": user_label(u),
                "search": _searched(u),
                "ticked": str(u.pk) in ticked,
                "kept": u.pk in self.kept,
            }
            for u in self.people
        ]
        options.sort(key=lambda o: not o["ticked"])  # stable: by name within each
        for index, option in enumerate(options):
            option["id"] = f"{base}_{index}"
        context["widget"].update(options=options, list_id=f"{base}_list")
        return context


class PersonField(forms.Field):
    """One person among those offered (`offer`), typed in a PersonInput."""

    widget = PersonInput

    def __init__(self, *, role: str, eligible: str = OWNER, **kwargs):
        kwargs.setdefault("help_text", TYPE_HELP)
        super().__init__(**kwargs)
        self.role, self.eligible = role, eligible
        self.people: list = []
        self.kept: list = []

    def offer(self, users, kept=()) -> None:
        """Offer those of `users` who may hold the role; accept `kept` too (already holding
        it), without offering them to anyone new."""
        self.people = [u for u in users if self.eligible == READER or u.may_be_accountable]
        self.kept = [u for u in kept if u not in self.people]
        self.widget.people = self.people
        self.widget.known = {u.pk: u for u in (*self.people, *self.kept)}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        person = find_person(value, [*self.people, *self.kept])
        if person is None:
            several = matching(value, self.people)
            if len(several) > 1:
                names = ", ".join(user_label(u) for u in several[:5])
                more = "…" if len(several) > 5 else ""
                message = f"“{value}” matches several people ({names}{more}): choose one."
                raise ValidationError(message, code="invalid_choice")
            who = OWNERS if self.eligible == OWNER else READERS
            raise ValidationError(refusal(value, self.role, who), code="invalid_choice")
        return person

    def has_changed(self, initial, data) -> bool:
        initial = getattr(initial, "pk", initial)
        try:
            person = self.to_python(data)
        except ValidationError:
            return True
        return getattr(person, "pk", None) != initial


class PeopleField(forms.Field):
    """Several people among those offered (`offer`), ticked in a PeopleChecklist."""

    widget = PeopleChecklist

    def __init__(self, *, role: str, eligible: str = READER, **kwargs):
        kwargs.setdefault("help_text", FILTER_HELP)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.role, self.eligible = role, eligible
        self.people: list = []
        self.kept: list = []

    def offer(self, users, kept=()) -> None:
        self.people = [u for u in users if self.eligible == READER or u.may_be_accountable]
        self.kept = [u for u in kept if u not in self.people]
        self.widget.people = [*self.people, *self.kept]
        self.widget.kept = {u.pk for u in self.kept}

    def to_python(self, value) -> list:
        if value in self.empty_values:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        people, refused = [], []
        known = [*self.people, *self.kept]
        for item in values:
            if item in self.empty_values:
                continue
            person = item if isinstance(item, User) else find_person(item, known)
            if person is None:
                refused.append(item)
            elif person not in people:
                people.append(person)
        if refused:
            who = OWNERS if self.eligible == OWNER else READERS
            raise ValidationError([refusal(item, self.role, who) for item in refused])
        return people

    def has_changed(self, initial, data) -> bool:
        before = {getattr(u, "pk", u) for u in initial or []}
        try:
            after = {u.pk for u in self.to_python(data)}
        except ValidationError:
            return True
        return before != after


def offer_people(form, users: list | None = None) -> None:
    """Give the form's pickers the people they offer: `users` read once for a page with
    many forms, else read here (one query per form, whatever the number of pickers). Who
    already holds a role (the form's initial value) is kept, even if no longer offered."""
    pickers = [
        (name, field)
        for name, field in form.fields.items()
        if isinstance(field, PersonField | PeopleField)
    ]
    if not pickers:
        return
    if users is None:
        users = list(people_offered())
    known = {u.pk: u for u in users}
    instance = getattr(form, "instance", None)
    for name, field in pickers:
        field.offer(users)
        eligible = {u.pk for u in field.people}
        initial = form.initial.get(name)
        if isinstance(field, PeopleField):
            kept = [u for u in initial or [] if isinstance(u, User) and u.pk not in eligible]
        else:
            pk = getattr(initial, "pk", initial)
            holder = None
            if pk not in (None, "") and pk not in eligible:
                # rare: read them (one query) when the page's list does not have them
                holder = known.get(pk) or getattr(instance, name, None)
            kept = [holder] if holder is not None else []
        if kept:
            field.offer(users, kept=kept)
