"""Input that once answered 500 (issue 13): each is now a 4xx in the one error shape and
changes nothing."""

from __future__ import annotations

import json

import pytest

from improvement.models import KPI, Initiative, Measurement

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)


def _post(client, path, raw: str | bytes, method: str = "POST"):
    return client.generic(method, path, raw, content_type="application/json")


def _assert_error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert body["message"]
    return body


# --- a lone surrogate echoed by a choice field's message ---------------------------------


@pytest.mark.parametrize(
    "path,raw",
    [
        ("/api/v1/initiatives/", '{"title": "x", "source": "\\ud800"}'),
        ("/api/v1/initiatives/", '{"title": "x", "priority": "\\udfff"}'),
        ("/api/v1/kpis/", '{"key": "k", "name": "k", "direction": "up", "kind": "\\ud800"}'),
        ("/api/v1/initiatives/{i}/transitions/", '{"to": "\\ud800"}'),
        ("/api/v1/webhooks/", '{"name": "x", "url": "http://a.b/", "event_types": ["\\ud800"]}'),
        ("/api/v1/initiatives/", '{"title": "x", "\\ud800": 1}'),
    ],
    ids=["source", "priority", "kind", "to", "event_types", "unknown field name"],
)
def test_lone_surrogate_in_a_choice_is_400(world: World, path, raw):
    before = Initiative.objects.count()
    response = _post(world.client("csi"), path.format(i=world.initiative.pk), raw)
    body = _assert_error(response)
    # the message may quote the value, but as text that can be encoded
    response.content.decode("utf-8")
    assert json.dumps(body)
    assert Initiative.objects.count() == before


# --- deep nesting -------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_400_before_authentication(client, db, depth):
    raw = "[" * depth + "]" * depth
    response = _post(client, "/api/v1/auth/token/", raw)
    body = _assert_error(response)
    assert body["code"] == "parse_error"
    assert "nest" in body["message"]


def test_nesting_is_capped_for_every_endpoint(world: World):
    raw = '{"title": "x", "description": ' + "[" * 100 + "]" * 100 + "}"
    response = _post(world.client("csi"), "/api/v1/initiatives/", raw)
    assert _assert_error(response)["code"] == "parse_error"


def test_ordinary_nesting_is_accepted(world: World):
    rows = [{"kpi": world.kpi.key, "value": 1, "measured_at": "2026-02-01T09:00:00Z"}]
    response = world.client("csi").post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 200, response.content


# --- measured_at offsets, huge integers, 1e309 ids -----------------------------------------


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "-1600"])
def test_an_offset_beyond_1559_is_refused_in_the_field(world: World, offset):
    row = {"kpi": world.kpi.key, "value": 1, "measured_at": f"2026-02-01T09:00:00{offset}"}
    response = world.client("csi").post("/api/v1/measurements/", [row], format="json")
    body = _assert_error(response)
    assert "15:59" in body["errors"]["rows"]["0"]["measured_at"][0]
    assert not Measurement.objects.exists()


def test_an_offset_of_1559_is_accepted(world: World):
    row = {"kpi": world.kpi.key, "value": 1, "measured_at": "2026-02-01T09:00:00+15:59"}
    response = world.client("csi").post("/api/v1/measurements/", [row], format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", ["/api/v1/measurements/", "/api/v1/kpis/{k}/measurements/"])
def test_an_integer_beyond_float_range_is_400(world: World, path):
    huge = "1" + "0" * 400
    raw = f'[{{"kpi": "{world.kpi.key}", "value": {huge}, "measured_at": "2026-02-01T09:00:00Z"}}]'
    if "{k}" in path:
        raw = raw.replace(f'"kpi": "{world.kpi.key}", ', "")
    response = _post(world.client("csi"), path.format(k=world.kpi.pk), raw)
    body = _assert_error(response)
    assert "value" in body["errors"]["rows"]["0"]
    assert not Measurement.objects.exists()


@pytest.mark.parametrize(
    "path,raw,field",
    [
        ("/api/v1/kpis/", '{"initiative": 1e309, "key": "k", "name": "k", '
         '"direction": "decrease"}', "initiative"),
        ("/api/v1/kpis/", '{"initiative": -1e309, "key": "k", "name": "k", '
         '"direction": "decrease"}', "initiative"),
        ("/api/v1/kpis/", '{"initiative": 1.5, "key": "k", "name": "k", '
         '"direction": "decrease"}', "initiative"),
        ("/api/v1/initiatives/", '{"title": "x", "goals": [1e309]}', "goals"),
        ("/api/v1/initiatives/{i}/vision/", '{"goals": [1e309]}', "goals"),
    ],
    ids=["kpi initiative", "negative", "a fraction", "initiative goals", "vision goals"],
)  # fmt: skip
def test_a_float_as_a_primary_key_is_400(world: World, path, raw, field):
    method = "PUT" if path.endswith("vision/") else "POST"
    before = KPI.objects.count(), Initiative.objects.count()
    response = _post(world.client("csi"), path.format(i=world.initiative.pk), raw, method)
    assert field in _assert_error(response)["errors"]
    assert (KPI.objects.count(), Initiative.objects.count()) == before


# --- the kpi key of a bulk row -------------------------------------------------------------


@pytest.mark.parametrize("key", ["\\u0000", "a\\u0000b", "\\ud800", "x\\udfffy"])
def test_nul_or_surrogate_in_a_bulk_rows_kpi_key_is_400(world: World, key):
    raw = f'[{{"kpi": "{key}", "value": 1, "measured_at": "2026-02-01T09:00:00Z"}}]'
    response = _post(world.client("csi"), "/api/v1/measurements/", raw)
    body = _assert_error(response)
    assert "kpi" in body["errors"]["rows"]["0"]
    assert not Measurement.objects.exists()


# --- step records asked for as HTML ---------------------------------------------------------


@pytest.mark.parametrize("record", ["vision", "baseline", "target", "plan", "sustain"])
def test_a_step_record_asked_for_as_html_answers_json(world: World, record):
    response = world.client("csi").get(
        f"/api/v1/initiatives/{world.initiative.pk}/{record}/", HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "initiative" in response.json() or response.json()


@pytest.mark.parametrize(
    "path", ["/api/v1/initiatives/", "/api/v1/initiatives/{i}/", "/api/v1/kpis/", "/api/v1/"]
)
def test_any_endpoint_asked_for_as_html_answers_json(world: World, path):
    response = world.client("csi").get(
        path.format(i=world.initiative.pk), HTTP_ACCEPT="text/html,application/xhtml+xml"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


# --- the body limit -------------------------------------------------------------------------


def _rows(world: World, count: int, note: int) -> list[dict]:
    return [
        {
            "kpi": world.kpi.key,
            "value": i / 7,
            "measured_at": f"2025-{1 + i // 1000 % 12:02d}-{1 + i // 40 % 25:02d}T"
            f"{i % 24:02d}:{i % 60:02d}:{i // 24 % 60:02d}Z",
            "source": "monitoring",
            "note": "n" * note,
        }
        for i in range(count)
    ]


def test_10000_rows_with_500_character_notes_fit_the_body_limit(world: World):
    rows = _rows(world, 10_000, 500)
    raw = json.dumps(rows)
    assert len(raw) > 5_000_000
    response = _post(world.client("integration"), "/api/v1/measurements/", raw)
    assert response.status_code == 200, response.content[:300]
    assert response.json() == {"recorded": len({r["measured_at"] for r in rows})}


@pytest.mark.parametrize("path", ["/api/v1/measurements/", "/api/v1/auth/token/"])
def test_an_oversized_body_is_413_in_the_error_shape(client, world: World, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = json.dumps(_rows(world, 20, 200))
    response = _post(world.client("integration"), path, raw)
    body = _assert_error(response, 413)
    assert body["code"] == "request_too_large"
    assert not Measurement.objects.exists()
