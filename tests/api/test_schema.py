"""The OpenAPI schema validates, and the API honours it: schemathesis generates requests
for every operation (valid and invalid ones) against the WSGI app; no answer is a 500 and
every answer conforms to the schema (status code, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .support import World, client_for
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)

#: several fields share one choice set; the settings name each once, so the schema has
#: no ambiguous enum names
ENUM_NAME_OVERRIDES = {
    "StepEnum": "improvement.choices.Step",
    "KPIStatusEnum": "improvement.choices.KPIStatus",
    "ActionStatusEnum": "improvement.choices.ActionStatus",
    "DeliveryStatusEnum": "improvement.webhooks.DeliveryStatus",
}


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def test_settings_name_the_shared_enums(settings):
    configured = settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
    assert configured.items() >= ENUM_NAME_OVERRIDES.items()


@pytest.mark.parametrize("record", ["vision", "baseline", "target", "plan", "sustain"])
def test_a_step_record_read_is_documented_as_that_record(record):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(public=True)["paths"]
    read = paths[f"/api/v1/initiatives/{{id}}/{record}/"]["get"]
    assert read["summary"] == f"Read the {record} record"
    assert read["tags"] == ["records"]
    answer = read["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": f"#/components/schemas/{record.capitalize()}"}


@pytest.mark.parametrize("record", ["vision", "baseline", "target", "plan", "sustain"])
def test_a_step_record_documents_its_etag_and_if_match(record):
    from drf_spectacular.generators import SchemaGenerator

    operations = SchemaGenerator().get_schema(public=True)["paths"][
        f"/api/v1/initiatives/{{id}}/{record}/"
    ]
    for method in ("get", "put"):
        assert "ETag" in operations[method]["responses"]["200"]["headers"]
    assert any(p["name"] == "If-Match" for p in operations["put"]["parameters"])
    assert "409" in operations["put"]["responses"]


def test_the_kpis_rebaseline_and_revisions_are_documented():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(public=True)
    rebaseline = schema["paths"]["/api/v1/kpis/{id}/rebaseline/"]["post"]
    assert {"403", "409"} <= set(rebaseline["responses"])
    request = schema["components"]["schemas"]["KPIRebaselineRequest"]
    assert request["required"] == ["reason"]
    revisions = schema["paths"]["/api/v1/kpis/{id}/revisions/"]["get"]
    assert {p["name"] for p in revisions["parameters"]} >= {"limit", "offset"}


def _load_schema():
    """The schema as the running app serves it (no database needed to render it).

    Loaded at collection, not through `schemathesis.pytest.from_fixture`: that path reads
    `request.node._nodeid`, which pytest 9 no longer has (schemathesis 4.32).
    """
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


schema = _load_schema()


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Requests go straight to the WSGI app, whose request_started and request_finished
    signals would close the database connection around each request — and with it the
    test's transaction on PostgreSQL. Django's own test client holds them back the same way.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def csi_token(world: World, settings) -> str:
    # webhook URLs a fuzzer makes up are not resolved in DNS (slow, and offline in CI)
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    return client_for(world.users["csi"])._credentials["HTTP_AUTHORIZATION"]


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, csi_token):
    # as a CSI manager, who may call every operation, over a small world of objects.
    # Not checked: that every schema-valid request succeeds — unknown usernames, KPI keys
    # or private webhook URLs are schema-valid strings that the register rightly refuses.
    case.call_and_validate(
        headers={"Authorization": csi_token},
        excluded_checks=[positive_data_acceptance],
    )
