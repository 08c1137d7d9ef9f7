"""The bad-input corpus against every write of the API: each kind of bad value in each field
of each write's request schema (beside otherwise valid input), and bad bodies of every kind,
answer 4xx in the one error shape and change nothing in the database.

The writes and their fields are read from the OpenAPI schema, so a new endpoint or field is
covered without a change here (a new create needs a valid base body in BASES, which a test
asks for). Runs on SQLite and on PostgreSQL (where offsets and NUL reach the database).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

# raw JSON fragments: what json.dumps cannot write (NaN, 1e309, lone surrogates) included
TEXT = ["123", "true", "{}", '"a\\u0000b"', '"\\ud800"', '"' + "x" * 20_001 + '"']
CHOICE = ['"no-such-choice"', '"\\udfff"', '"\\u0000"', "7"]
INTEGER = ["NaN", "1e309", "1" + "0" * 400, "-1e309", "1.5", "true", '"\\ud800"']
NUMBER = ["NaN", "Infinity", "-Infinity", "1e309", "1" + "0" * 400, "1.7e308", '"NaN"', "true"]
DATE = ['"2026-02-30"', '"0000-01-01"', '"10000-01-01"', '"2026-02-01T09:00:00+16:00"', "20260201"]
INSTANT = [
    '"2026-02-01T09:00:00+16:00"',
    '"2026-02-01T09:00:00-23:59"',
    '"0001-01-01T00:00:00+14:00"',
    '"2026-02-30T09:00:00Z"',
    '"\\ud800"',
]
LIST = ['{"a": 1}', "[1e309]", "[-1, 1.5]", '["\\ud800"]', '"x"', "[" * 40 + "]" * 40]
BOOLEAN = ['"yes"', "1", '"\\u0000"']

#: whole bodies, sent to every write
RAW_BODIES = [
    ("deep nesting", "[" * 1000 + "]" * 1000),
    ("deeper nesting", '{"a": ' * 50_000 + "1" + "}" * 50_000),
    ("NaN literal", '{"x": NaN}'),
    ("1e309", "1e309"),
    ("huge integer", "1" + "0" * 5000),
    ("lone surrogate key", '{"\\ud800": 1}'),
    ("NUL key", '{"\\u0000": 1}'),
    ("not UTF-8", b'{"title": "\xff\xfe"}'),
    ("malformed", '{"title": '),
    ("null", "null"),
    ("a list of nulls", "[null, null]"),
]


_SCHEMA: dict = {}


def _schema() -> dict:
    """The OpenAPI schema as /api/schema/ serves it (built once)."""
    if not _SCHEMA:
        from django.test import Client

        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        _SCHEMA.update(json.loads(response.content))
    return _SCHEMA


def write_operations() -> list[tuple[str, str, dict | None]]:
    """(method, path, request schema) of every write in the OpenAPI schema."""
    schema = _schema()
    components = schema["components"]["schemas"]

    def resolve(node):
        if isinstance(node, dict) and "$ref" in node:
            return resolve(components[node["$ref"].rsplit("/", 1)[1]])
        return node

    operations = []
    for path, items in schema["paths"].items():
        for method, operation in items.items():
            if method not in ("post", "put", "patch"):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            operations.append((method.upper(), path, resolve(body["schema"]) if body else None))
    return [(m, p, _with_resolved(s, resolve)) for m, p, s in operations]


def writes_with_a_body() -> list[tuple[str, str, dict]]:
    """The writes that read a request body (a check or a secret rotation reads none)."""
    return [operation for operation in write_operations() if operation[2] is not None]


def _with_resolved(schema, resolve):
    if schema is None:
        return None
    schema = dict(resolve(schema))
    if "oneOf" in schema:  # one point or a list: the list's items
        schema = next(resolve(s) for s in schema["oneOf"] if resolve(s).get("type") == "array")
    if schema.get("type") == "array":
        return {"array": True, **resolve(schema["items"])}
    schema["properties"] = {k: resolve(v) for k, v in schema.get("properties", {}).items()}
    return schema


def bad_values(prop: dict) -> list[str]:
    """The values that must be refused in a field of this schema."""
    kinds = {prop.get("type")} | {s.get("type") for s in prop.get("allOf", []) + prop.get(
        "oneOf", []) if isinstance(s, dict)}  # fmt: skip
    if "enum" in prop or any("enum" in s for s in prop.get("allOf", []) + prop.get("oneOf", [])):
        return CHOICE
    if prop.get("format") == "date-time":
        return INSTANT
    if prop.get("format") == "date":
        return DATE
    if "integer" in kinds:
        return INTEGER
    if "number" in kinds:
        return NUMBER
    if "array" in kinds:
        return LIST
    if "boolean" in kinds:
        return BOOLEAN
    return TEXT


@pytest.fixture(autouse=True)
def _benefit(world: World) -> None:
    """An expected benefit of the initiative in review: what the benefit writes act on."""
    from improvement.models import Benefit

    world.benefit = Benefit.objects.create(
        initiative=world.in_review, category="cost_reduction", amount=100, unit="EUR"
    )


def fill(path: str, world: World) -> str:
    """The path with the world's ids: the initiative in step 1, its KPI, action, goal ..."""
    ids = {
        "initiatives": world.initiative.pk,
        "kpis": world.kpi.pk,
        "actions": world.action.pk,
        "goals": world.goal.pk,
        "webhooks": world.webhook.pk,
        "benefits": world.benefit.pk,
    }
    family = path.split("/")[3]
    path = path.replace("{initiative_pk}", str(world.initiative.pk))
    return path.replace("{id}", str(ids.get(family, 0)))


def bases(world: World) -> dict[str, dict]:
    """A valid body of each create and move, so that a bad value is the only fault."""
    return {
        "/api/v1/auth/token/": {"username": "csi", "password": "wrong"},
        "/api/v1/goals/": {"title": "Resilience"},
        "/api/v1/initiatives/": {"title": "Fewer drops"},
        "/api/v1/initiatives/{id}/actions/": {"title": "Patch"},
        "/api/v1/initiatives/{initiative_pk}/comments/": {"body": "Agreed"},
        "/api/v1/initiatives/{id}/reviews/": {"decision": "iterate"},
        "/api/v1/initiatives/{id}/transitions/": {"to": "baseline"},
        "/api/v1/kpis/": {
            "initiative": world.initiative.pk,
            "key": "drops",
            "name": "Drops",
            "direction": "decrease",
        },
        "/api/v1/kpis/{id}/measurements/": {"value": 1, "measured_at": "2026-02-01T09:00:00Z"},
        "/api/v1/kpis/{id}/rebaseline/": {"reason": "Wrong baseline"},
        "/api/v1/measurements/": {
            "kpi": world.kpi.key,
            "value": 1,
            "measured_at": "2026-02-01T09:00:00Z",
        },
        "/api/v1/webhooks/": {"name": "Hook", "url": "http://127.0.0.1:9/hook"},
        "/api/v1/itsm-records/": {
            "system": "servicenow",
            "number": "INC1",
            "opened_at": "2026-02-01T09:00:00Z",
        },
        "/api/v1/opportunities/promote/": {"dimension": "subcategory", "group": "VPN"},
        "/api/v1/benefits/": {
            "initiative": world.initiative.pk,
            "category": "cost_reduction",
            "amount": "100",
            "unit": "EUR",
        },
        "/api/v1/benefits/{id}/realisations/": {"amount": "10"},
    }


def body_with(schema: dict, base: dict, name: str, fragment: str) -> str:
    """JSON text of `base` with field `name` set to the raw `fragment` (a list of one row
    when the operation takes a list)."""
    fields = {k: json.dumps(v) for k, v in base.items() if k != name} | {name: fragment}
    text = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"
    return f"[{text}]" if schema.get("array") else text


def fingerprint() -> str:
    """A digest of every row of every table (sessions aside)."""
    digest = hashlib.sha256()
    for model in apps.get_models(include_auto_created=True):
        if model is Session:
            continue
        for row in model._base_manager.order_by("pk").values_list():
            digest.update(repr(row).encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


def _send(client, method: str, path: str, raw, content_type="application/json"):
    return client.generic(method, path, raw, content_type=content_type)


def _refused(response) -> str | None:
    """Why the answer is not a 4xx in the one error shape (None when it is)."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or set(body) != {"code", "message", "errors"}:
        return f"not the error shape: {str(body)[:80]}"
    return None


def test_the_schema_lists_every_write(world: World):
    operations = write_operations()
    with_body = {p for _m, p, s in operations if s is not None}
    assert len(operations) >= 20
    # every create and move has a valid base body, so its bad values are the only fault
    creates = {p for m, p, s in operations if m == "POST" and s and s.get("required")}
    assert creates <= set(bases(world)), creates - set(bases(world))
    assert "/api/v1/measurements/" in with_body


def test_bad_values_in_every_field_of_every_write_are_refused(world: World):
    client = world.client("csi")
    base_bodies = bases(world)
    before = fingerprint()
    failures, sent = {}, 0
    for method, path, schema in write_operations():
        if schema is None:
            continue
        base = base_bodies.get(path, {}) if method == "POST" else {}
        for name, prop in schema.get("properties", {}).items():
            if prop.get("readOnly"):
                continue
            for fragment in bad_values(prop):
                body = body_with(schema, base, name, fragment)
                response = _send(client, method, fill(path, world), body)
                sent += 1
                if why := _refused(response):
                    failures[f"{method} {path} {name}={fragment[:24]}"] = why
    assert not failures
    assert sent > 300
    assert fingerprint() == before


@pytest.mark.parametrize("raw", [b for _n, b in RAW_BODIES], ids=[n for n, _b in RAW_BODIES])
def test_bad_bodies_are_refused_by_every_write(world: World, raw):
    client = world.client("csi")
    before = fingerprint()
    failures = {}
    for method, path, _schema in writes_with_a_body():
        response = _send(client, method, fill(path, world), raw)
        if why := _refused(response):
            failures[f"{method} {path}"] = why
    assert not failures
    assert fingerprint() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_types_are_refused_by_every_write(world: World, content_type):
    client = world.client("csi")
    before = fingerprint()
    failures = {}
    for method, path, _schema in writes_with_a_body():
        response = _send(client, method, fill(path, world), "title=x&to=plan", content_type)
        if why := _refused(response):
            failures[f"{method} {path}"] = why
    assert not failures
    assert fingerprint() == before


def test_oversized_bodies_are_413_on_every_write(world: World, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = world.client("csi")
    before = fingerprint()
    raw = json.dumps({"title": "x" * 20_000})
    for method, path, _schema in writes_with_a_body():
        response = _send(client, method, fill(path, world), raw)
        assert response.status_code == 413, (method, path, response.status_code)
        assert response.json()["code"] == "request_too_large"
    assert fingerprint() == before
