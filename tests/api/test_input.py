"""Bad input answers 400 in the one error shape, naming the field; never a 500 (SPEC §4)."""

from __future__ import annotations

import json

import pytest

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

TITLE = {"title": "Fewer VPN drop-outs"}


def _post(client, path, raw: str):
    return client.generic("POST", path, raw, content_type="application/json")


def _assert_invalid(response, field: str | None):
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert body["message"]
    if field is not None:
        path = field.split(".")
        node = body["errors"]
        for part in path:
            assert part in node, body
            node = node[part]


INITIATIVE_CASES = [
    ("title of wrong type", {"title": 123}, "title"),
    ("title missing", {"source": "problem"}, "title"),
    ("title null", {"title": None}, "title"),
    ("title oversized", {"title": "x" * 201}, "title"),
    ("description oversized", {**TITLE, "description": "x" * 20_001}, "description"),
    ("unknown source", {**TITLE, "source": "rumour"}, "source"),
    ("value above 5", {**TITLE, "value": 9}, "value"),
    ("value NaN string", {**TITLE, "value": "NaN"}, "value"),
    ("value huge int", {**TITLE, "value": 10**400}, "value"),
    ("value boolean", {**TITLE, "effort": True}, "effort"),
    ("malformed date", {**TITLE, "due_date": "2026-13-45"}, "due_date"),
    ("date of wrong type", {**TITLE, "due_date": 20261201}, "due_date"),
    ("unknown username", {**TITLE, "accountable": "ghost"}, "accountable"),
    ("unknown usernames in a list", {**TITLE, "responsible": ["tina", "ghost"]}, "responsible"),
    ("username list as object", {**TITLE, "informed": {"tina": 1}}, "informed"),
    ("unknown service", {**TITLE, "service": "Teleportation"}, "service"),
    ("unknown goal id", {**TITLE, "goals": [10**30]}, "goals"),
    ("goal id of wrong type", {**TITLE, "goals": ["first"]}, "goals"),
    ("bad external url", {**TITLE, "external_url": "not a url"}, "external_url"),
    ("unknown priority", {**TITLE, "priority": "P9"}, "priority"),
    ("the step is not a field", {**TITLE, "step": "closed"}, "step"),
    ("unknown field", {**TITLE, "colour": "red"}, "colour"),
    ("NUL in text", {"title": "a\x00b"}, "title"),
]


def test_lone_surrogates_are_refused(world: World):
    # the JSON escape decodes to a string the database cannot store
    response = _post(world.client("csi"), "/api/v1/initiatives/", '{"title": "a\\ud800b"}')
    _assert_invalid(response, "title")


@pytest.mark.parametrize(
    "body,field", [c[1:] for c in INITIATIVE_CASES], ids=[c[0] for c in INITIATIVE_CASES]
)
def test_initiative_create_refuses_bad_input(world: World, body, field):
    response = world.client("csi").post("/api/v1/initiatives/", body, format="json")
    _assert_invalid(response, field)


RAW_BODIES = [
    ("malformed JSON", '{"title": "x",'),
    ("NaN literal", '{"title": "x", "value": NaN}'),
    ("Infinity literal", '{"title": "x", "value": Infinity}'),
    ("a list where an object is expected", "[1, 2, 3]"),
    ("a string where an object is expected", '"title"'),
    ("null body", "null"),
    ("bytes that are not UTF-8", b"\xff\xfe{".decode("latin-1")),
]


@pytest.mark.parametrize("raw", [c[1] for c in RAW_BODIES], ids=[c[0] for c in RAW_BODIES])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/initiatives/",
        "/api/v1/goals/",
        "/api/v1/kpis/",
        "/api/v1/webhooks/",
        "/api/v1/measurements/",
        "/api/v1/initiatives/{i}/transitions/",
        "/api/v1/initiatives/{i}/actions/",
        "/api/v1/kpis/{k}/measurements/",
    ],
)
def test_malformed_bodies_are_400_everywhere(world: World, path, raw):
    path = path.format(i=world.initiative.pk, k=world.kpi.pk)
    response = _post(world.client("csi"), path, raw)
    _assert_invalid(response, None)


def test_wrong_content_type_is_415(world: World):
    response = world.client("csi").generic(
        "POST", "/api/v1/goals/", "title=x", content_type="text/csv"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def kpi_body(world: World, **overrides) -> dict:
    body = {
        "initiative": world.initiative.pk,
        "key": "vpn-drops",
        "name": "VPN drops a day",
        "direction": "decrease",
        "baseline_value": 9,
        "baseline_date": "2026-01-01",
        "target_value": 2,
        "target_date": "2026-06-30",
    }
    return body | overrides


KPI_CASES = [
    ("NaN string", {"baseline_value": "NaN"}, "baseline_value"),
    ("Infinity string", {"target_value": "-Infinity"}, "target_value"),
    ("overflowing number", {"baseline_value": 10**400}, "baseline_value"),
    ("boolean number", {"baseline_value": True}, "baseline_value"),
    ("beyond 1e300", {"baseline_value": 1e301}, "baseline_value"),
    (
        "target_change_pct NaN",
        {"target_value": None, "target_change_pct": "nan"},
        "target_change_pct",
    ),
    ("key not a slug", {"key": "not a slug!"}, "key"),
    ("key of wrong type", {"key": 42}, "key"),
    ("unknown direction", {"direction": "sideways"}, "direction"),
    ("unknown aggregation", {"aggregation": "mode"}, "aggregation"),
    ("window of 0 days", {"window_days": 0}, "window_days"),
    (
        "target value and change %",
        {"target_value": 3.0, "target_change_pct": -20},
        "target_change_pct",
    ),
    ("target date in year 9999", {"target_date": "9999-12-31"}, "target_date"),
    ("baseline date in year 1", {"baseline_date": "0001-01-01"}, "baseline_date"),
    ("tolerance above 1", {"tolerance": 2}, "tolerance"),
    ("malformed baseline date", {"baseline_date": "yesterday"}, "baseline_date"),
    ("target on the wrong side", {"target_value": 12}, "target_value"),
    ("target date before baseline", {"target_date": "2025-12-31"}, "target_date"),
    ("unknown initiative", {"initiative": 10**12}, "initiative"),
    ("initiative of wrong type", {"initiative": "CIR-00001"}, "initiative"),
    ("name oversized", {"name": "n" * 201}, "name"),
]


@pytest.mark.parametrize(
    "overrides,field", [c[1:] for c in KPI_CASES], ids=[c[0] for c in KPI_CASES]
)
def test_kpi_create_refuses_bad_input(world: World, overrides, field):
    response = world.client("csi").post(
        "/api/v1/kpis/", kpi_body(world, **overrides), format="json"
    )
    _assert_invalid(response, field)


def test_kpi_key_must_be_unique(world: World):
    response = world.client("csi").post(
        "/api/v1/kpis/", kpi_body(world, key=world.kpi.key), format="json"
    )
    _assert_invalid(response, "key")


def test_kpi_cannot_move_to_another_initiative(world: World):
    response = world.client("csi").patch(
        f"/api/v1/kpis/{world.kpi.pk}/", {"initiative": world.proposed.pk}, format="json"
    )
    _assert_invalid(response, "initiative")


REBASELINE_CASES = [
    ("reason of wrong type", {"reason": 5}, "reason"),
    ("reason oversized", {"reason": "x" * 20_001}, "reason"),
    ("target NaN", {"reason": "r", "target_value": "NaN"}, "target_value"),
    ("window of zero days", {"reason": "r", "window_days": 0}, "window_days"),
    ("malformed date", {"reason": "r", "baseline_date": "2026-13-01"}, "baseline_date"),
    ("unknown direction", {"reason": "r", "direction": "sideways"}, "direction"),
    ("another initiative", {"reason": "r", "initiative": 1}, "initiative"),
]


@pytest.mark.parametrize(
    "body,field", [c[1:] for c in REBASELINE_CASES], ids=[c[0] for c in REBASELINE_CASES]
)
def test_kpi_rebaseline_refuses_bad_input(world: World, body, field):
    response = world.client("csi").post(
        f"/api/v1/kpis/{world.kpi.pk}/rebaseline/", body, format="json"
    )
    _assert_invalid(response, field)


POINT_CASES = [
    ("NaN string", {"value": "NaN"}, "value"),
    ("boolean", {"value": True}, "value"),
    ("null", {"value": None}, "value"),
    ("overflowing", {"value": "1e999"}, "value"),
    ("malformed instant", {"measured_at": "2026-02-30T09:00:00Z"}, "measured_at"),
    ("no time zone", {"measured_at": "2026-02-01T09:00:00"}, "measured_at"),
    ("instant of wrong type", {"measured_at": 1767254400}, "measured_at"),
    ("out of range instant", {"measured_at": "0001-01-01T00:00:00+14:00"}, "measured_at"),
    ("source oversized", {"source": "s" * 65}, "source"),
    ("note oversized", {"note": "n" * 501}, "note"),
    ("NUL in source", {"source": "snow\x00"}, "source"),
    ("NUL in note", {"note": "restart\x00"}, "note"),
    ("unknown field", {"unit": "h"}, "unit"),
]


def _point(**overrides) -> dict:
    return {"value": 7.5, "measured_at": "2026-02-01T09:00:00Z", "source": "snow"} | overrides


@pytest.mark.parametrize(
    "overrides,field", [c[1:] for c in POINT_CASES], ids=[c[0] for c in POINT_CASES]
)
def test_measurement_post_refuses_bad_points_by_index(world: World, overrides, field):
    # given a good point first and a bad one second
    body = [_point(), _point(measured_at="2026-02-02T09:00:00Z") | overrides]
    response = world.client("integration").post(
        f"/api/v1/kpis/{world.kpi.pk}/measurements/", body, format="json"
    )
    _assert_invalid(response, f"rows.1.{field}")
    # then nothing was recorded: all or nothing
    assert world.kpi.measurements.count() == 0


@pytest.mark.parametrize(
    "overrides,field", [c[1:] for c in POINT_CASES], ids=[c[0] for c in POINT_CASES]
)
def test_bulk_measurements_refuse_bad_rows_by_index(world: World, overrides, field):
    rows = [
        {"kpi": world.kpi.key, **_point()},
        {"kpi": world.kpi.key, **_point(measured_at="2026-02-02T09:00:00Z"), **overrides},
    ]
    response = world.client("integration").post("/api/v1/measurements/", rows, format="json")
    _assert_invalid(response, f"rows.1.{field}")
    assert world.kpi.measurements.count() == 0


@pytest.mark.parametrize(
    "body,field",
    [
        ([{"kpi": "no-such-kpi", "value": 1, "measured_at": "2026-02-01T09:00:00Z"}], "rows.0.kpi"),
        ([{"value": 1, "measured_at": "2026-02-01T09:00:00Z"}], "rows.0.kpi"),
        ([{"kpi": ["x"], "value": 1, "measured_at": "2026-02-01T09:00:00Z"}], "rows.0.kpi"),
        (["not an object"], "rows.0"),
        ([], "rows"),
        ({"kpi": "x", "value": 1}, "non_field_errors"),
        (42, "non_field_errors"),
    ],
    ids=["unknown key", "no key", "key a list", "row not an object", "empty", "object", "number"],
)
def test_bulk_measurements_refuse_bad_shapes(world: World, body, field):
    response = world.client("csi").post("/api/v1/measurements/", body, format="json")
    _assert_invalid(response, field)


def test_bulk_measurements_refuse_more_than_10000_rows(world: World):
    rows = [
        {"kpi": world.kpi.key, "value": 1.0, "measured_at": f"2026-02-01T09:00:{i % 60:02d}Z"}
        for i in range(10_001)
    ]
    response = world.client("csi").post("/api/v1/measurements/", rows, format="json")
    _assert_invalid(response, "rows")


@pytest.mark.parametrize("field", ["source", "note"])
def test_measurements_refuse_lone_surrogates(world: World, field):
    # the JSON escape decodes to a string the database cannot store
    row = f'{{"kpi": "{world.kpi.key}", "value": 1, "measured_at": "2026-02-01T09:00:00Z", '
    response = _post(
        world.client("csi"), "/api/v1/measurements/", f'[{row}"{field}": "a\\udc80b"}}]'
    )
    _assert_invalid(response, f"rows.0.{field}")
    assert world.kpi.measurements.count() == 0


def test_measurement_post_refuses_a_bare_number(world: World):
    response = world.client("csi").post(
        f"/api/v1/kpis/{world.kpi.pk}/measurements/", 5, format="json"
    )
    _assert_invalid(response, "non_field_errors")


TRANSITION_CASES = [
    ("unknown state", {"to": "nowhere"}, "to"),
    ("state of wrong type", {"to": 5}, "to"),
    ("missing state", {"comment": "go"}, "to"),
    ("unknown outcome", {"to": "closed", "outcome": "meh"}, "outcome"),
    ("comment of wrong type", {"to": "baseline", "comment": ["a"]}, "comment"),
    ("unknown field", {"to": "baseline", "force": True}, "force"),
    ("unknown from", {"to": "baseline", "from": "limbo"}, "from"),
    ("from of wrong type", {"to": "baseline", "from": ["vision"]}, "from"),
    (
        "malformed resume-by",
        {"to": "on_hold", "reason": "r", "resume_by": "2026-02-30"},
        "resume_by",
    ),
    (
        "override of wrong type",
        {"to": "closed", "outcome": "successful", "override": 5},
        "override",
    ),
]


@pytest.mark.parametrize(
    "body,field", [c[1:] for c in TRANSITION_CASES], ids=[c[0] for c in TRANSITION_CASES]
)
def test_transition_refuses_bad_input(world: World, body, field):
    response = world.client("csi").post(
        f"/api/v1/initiatives/{world.initiative.pk}/transitions/", body, format="json"
    )
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"status": "finished"}, "status"),
        ({"owner": "ghost"}, "owner"),
        ({"due_date": "2026-02-30"}, "due_date"),
        ({"title": ""}, "title"),
        ({"title": "t" * 201}, "title"),
    ],
)
def test_action_patch_refuses_bad_input(world: World, body, field):
    response = world.client("owner").patch(
        f"/api/v1/actions/{world.action.pk}/", body, format="json"
    )
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "record,body,field",
    [
        ("vision", {"goals": [10**20]}, "goals"),
        ("vision", {"statement": 5}, "statement"),
        ("baseline", {"assessed_on": "not a date"}, "assessed_on"),
        ("sustain", {"monitor_until": "2026-02-30"}, "monitor_until"),
        ("plan", {"approach": "a" * 20_001}, "approach"),
        ("target", {"objectives": None}, "objectives"),
        ("target", {"owner": "x"}, "owner"),
    ],
)
def test_step_record_put_refuses_bad_input(world: World, record, body, field):
    response = world.client("owner").put(
        f"/api/v1/initiatives/{world.initiative.pk}/{record}/", body, format="json"
    )
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"decision": "celebrate"}, "decision"),
        ({}, "decision"),
        ({"decision": "achieved", "notes": 1}, "notes"),
        ({"decision": "achieved", "decision_override": ["why"]}, "decision_override"),
        ({"decision": "achieved", "decision_override": "x" * 20_001}, "decision_override"),
    ],
)
def test_review_create_refuses_bad_input(world: World, body, field):
    response = world.client("owner").post(
        f"/api/v1/initiatives/{world.in_review.pk}/reviews/", body, format="json"
    )
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"title": ""}, "title"),
        ({"title": "G", "horizon": "soon"}, "horizon"),
        ({"title": "G", "owner": "ghost"}, "owner"),
        ({"title": "G", "active": "yes"}, "active"),
    ],
)
def test_goal_create_refuses_bad_input(world: World, body, field):
    response = world.client("csi").post("/api/v1/goals/", body, format="json")
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "query,field",
    [
        ("step=limbo", "step"),
        ("health=great", "health"),
        ("source=rumour", "source"),
        ("priority=P0", "priority"),
        ("service=Teleportation", "service"),
        ("accountable=ghost", "accountable"),
        ("goal=99999999999999999999999", "goal"),
        ("goal=first", "goal"),
        ("ordering=colour", "ordering"),
    ],
)
def test_initiative_filters_refuse_bad_values(world: World, query, field):
    response = world.client("viewer").get(f"/api/v1/initiatives/?{query}")
    _assert_invalid(response, field)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/initiatives/?limit=abc&offset=-5",
        "/api/v1/initiatives/?offset=99999999999999999999999999",
        "/api/v1/initiatives/?limit=99999999999999999999",
        "/api/v1/kpis/?initiative=1e999",
        "/api/v1/kpis/{k}/measurements/?cursor=garbage",
        "/api/v1/kpis/{k}/measurements/?cursor=cD1nYXJiYWdl",  # p=garbage, base64
        "/api/v1/kpis/{k}/measurements/?since=yesterday",
        "/api/v1/initiatives/99999999999999999999999999/",
        "/api/v1/initiatives/abc/",
        "/api/v1/users/?role=Wizard",
    ],
)
def test_odd_queries_never_fail_the_server(world: World, path):
    response = world.client("csi").get(path.format(k=world.kpi.pk))
    assert response.status_code in (200, 400, 404), response.content[:300]
    assert set(response.json()) >= (
        {"code", "message", "errors"} if response.status_code >= 400 else set()
    )


def test_huge_offset_answers_an_empty_page(world: World):
    response = world.client("viewer").get("/api/v1/initiatives/?offset=99999999999999999999")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x", "url": "ftp://example.com/hook"}, "url"),
        ({"name": "x", "url": "not a url"}, "url"),
        (
            {"name": "x", "url": "https://example.com/", "event_types": ["kpi.exploded"]},
            "event_types",
        ),
        (
            {"name": "x", "url": "https://example.com/", "event_types": "kpi.reverted"},
            "event_types",
        ),
        ({"name": "x", "url": "https://example.com/", "secret": "mine"}, "secret"),
        ({"url": "https://example.com/"}, "name"),
    ],
)
def test_webhook_create_refuses_bad_input(world: World, body, field):
    response = world.client("csi").post("/api/v1/webhooks/", body, format="json")
    _assert_invalid(response, field)


def test_error_messages_are_json_even_for_unknown_paths(world: World):
    response = world.client("csi").get("/api/v1/initiatives/12345/")
    assert response.status_code == 404
    assert (
        response.json()
        == {"code": "not_found", "message": "No Initiative matches the given query.", "errors": {}}
        or response.json()["code"] == "not_found"
    )


def test_method_not_allowed_is_405_in_the_one_shape(world: World):
    response = world.client("csi").put(
        f"/api/v1/initiatives/{world.initiative.pk}/", {"title": "x"}, format="json"
    )
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_json_error_shape_is_stable(world: World):
    response = world.client("csi").post("/api/v1/initiatives/", {"title": 1}, format="json")
    body = json.loads(response.content)
    assert body["code"] == "invalid"
    assert body["errors"]["title"] == ["Not a valid string."]
    assert body["message"] == "Not a valid string."
