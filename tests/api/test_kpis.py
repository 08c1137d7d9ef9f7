"""KPIs over the API: definitions, measurements (one, a list, bulk by key), checks."""

from __future__ import annotations

import datetime as dt

from improvement import services
from improvement.models import KPI, Measurement

from .. import factories
from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)


def _at(day: int, hour: int = 9) -> str:
    return f"2026-02-{day:02d}T{hour:02d}:00:00Z"


# --- definitions --------------------------------------------------------------------


def test_kpi_created_with_a_relative_target(world: World):
    body = {
        "initiative": world.initiative.pk,
        "key": "vpn-drops",
        "name": "VPN drops a day",
        "unit": "drops",
        "direction": "decrease",
        "aggregation": "mean",
        "window_days": 7,
        "baseline_value": 20,
        "baseline_date": "2026-01-01",
        "target_change_pct": -15,
        "target_date": "2026-06-30",
    }
    response = world.client("owner").post("/api/v1/kpis/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["target_value"] == 17.0
    assert "target_change_pct" not in data
    assert KPI.objects.get(key="vpn-drops").target_value == 17.0


def test_kpi_patch_with_a_relative_target_uses_the_stored_baseline(world: World):
    response = world.client("owner").patch(
        f"/api/v1/kpis/{world.kpi.pk}/", {"target_change_pct": -50}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["target_value"] == 5.0


def test_relative_target_needs_a_baseline(world: World):
    kpi = factories.KPIFactory(initiative=world.initiative, baseline_value=None, target_value=None)
    response = world.client("owner").patch(
        f"/api/v1/kpis/{kpi.pk}/", {"target_change_pct": -10}, format="json"
    )
    assert response.status_code == 400
    assert "target_change_pct" in response.json()["errors"]


def test_kpi_list_filters_and_shows_the_latest_check(world: World):
    other = factories.KPIFactory(initiative=world.in_review)
    services.kpi_check(kpi=other)
    client = world.client("viewer")
    data = client.get(f"/api/v1/kpis/?initiative={world.in_review.pk}").json()
    assert {k["key"] for k in data["results"]} == set(
        world.in_review.kpis.values_list("key", flat=True)
    )
    assert data["count"] == 2
    checked = next(k for k in data["results"] if k["key"] == other.key)
    assert checked["latest_check"]["status"] == other.checks.get().status
    assert client.get(f"/api/v1/kpis/?key={other.key}").json()["count"] == 1


def test_kpi_delete_by_an_editor(world: World):
    assert world.client("owner").delete(f"/api/v1/kpis/{world.kpi.pk}/").status_code == 204
    assert not KPI.objects.filter(pk=world.kpi.pk).exists()


# --- measurements of one KPI ---------------------------------------------------------


def test_post_one_point_or_a_list(world: World):
    client = world.client("integration")
    path = f"/api/v1/kpis/{world.kpi.pk}/measurements/"
    one = client.post(path, {"value": 9.5, "measured_at": _at(1), "source": "snow"}, format="json")
    assert one.status_code == 200, one.json()
    assert one.json() == {"recorded": 1}
    many = client.post(
        path, [{"value": 9.0, "measured_at": _at(d)} for d in range(2, 6)], format="json"
    )
    assert many.json() == {"recorded": 4}
    assert world.kpi.measurements.count() == 5
    assert (
        world.kpi.measurements.get(
            measured_at=dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)
        ).recorded_by
        == world.users["integration"]
    )


def test_resending_a_point_updates_it_rather_than_double_counting(world: World):
    client = world.client("integration")
    path = f"/api/v1/kpis/{world.kpi.pk}/measurements/"
    client.post(path, {"value": 9.5, "measured_at": _at(1)}, format="json")
    client.post(path, {"value": 8.5, "measured_at": "2026-02-01T10:00:00+01:00"}, format="json")
    (only,) = world.kpi.measurements.all()
    assert only.value == 8.5


def test_measurements_page_by_cursor_newest_first(world: World):
    services.measurement_record(
        kpi=world.kpi,
        actor=world.users["csi"],
        points=[{"value": float(d), "measured_at": _at(d)} for d in range(1, 8)],
    )
    client = world.client("viewer")
    first = client.get(f"/api/v1/kpis/{world.kpi.pk}/measurements/?limit=3").json()
    assert [m["value"] for m in first["results"]] == [7.0, 6.0, 5.0]
    second = client.get(first["next"]).json()
    assert [m["value"] for m in second["results"]] == [4.0, 3.0, 2.0]
    bounded = client.get(
        f"/api/v1/kpis/{world.kpi.pk}/measurements/?since={_at(2)}&until={_at(3)}"
    ).json()
    assert [m["value"] for m in bounded["results"]] == [3.0, 2.0]


def test_outsider_may_not_post_measurements(world: World):
    response = world.client("outsider").post(
        f"/api/v1/kpis/{world.kpi.pk}/measurements/",
        {"value": 1, "measured_at": _at(1)},
        format="json",
    )
    assert response.status_code == 403


# --- bulk ------------------------------------------------------------------------------


def test_bulk_across_kpis_by_key_and_resending_is_a_no_op(world: World):
    second = factories.KPIFactory(initiative=world.in_review, key="vpn-csat")
    rows = [
        {"kpi": key, "value": float(h), "measured_at": _at(1, h), "source": "monitoring"}
        for key in (world.kpi.key, second.key)
        for h in range(24)
    ]
    client = world.client("integration")
    response = client.post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"recorded": 48}
    snapshot = sorted(Measurement.objects.values_list("kpi_id", "measured_at", "value"))
    again = client.post("/api/v1/measurements/", rows, format="json")
    assert again.status_code == 200
    assert sorted(Measurement.objects.values_list("kpi_id", "measured_at", "value")) == snapshot


def test_bulk_is_all_or_nothing(world: World):
    rows = [{"kpi": world.kpi.key, "value": 1.0, "measured_at": _at(1, h)} for h in range(10)]
    rows[7]["kpi"] = "no-such-kpi"
    response = world.client("integration").post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"rows": {"7": {"kpi": ["Unknown KPI key 'no-such-kpi'."]}}}
    assert Measurement.objects.count() == 0


def test_bulk_of_10000_rows_is_accepted(world: World):
    start = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    rows = [
        {
            "kpi": world.kpi.key,
            "value": 1.0,
            "measured_at": (start + dt.timedelta(minutes=i)).isoformat(),
        }
        for i in range(10_000)
    ]
    response = world.client("integration").post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 200
    assert response.json() == {"recorded": 10_000}


def test_bulk_refuses_kpis_the_team_member_does_not_edit(world: World):
    rows = [{"kpi": world.kpi.key, "value": 1.0, "measured_at": _at(1)}]
    response = world.client("outsider").post("/api/v1/measurements/", rows, format="json")
    assert response.status_code == 403
    assert response.json()["errors"]["rows"]["0"]["kpi"]


# --- checks ----------------------------------------------------------------------------


def test_check_now_and_history(world: World):
    services.measurement_record(
        kpi=world.kpi, actor=world.users["csi"], points=[{"value": 9.0, "measured_at": _at(1)}]
    )
    client = world.client("integration")
    path = f"/api/v1/kpis/{world.kpi.pk}/checks/"
    response = client.post(path)
    assert response.status_code == 200, response.json()
    check = response.json()
    assert check["current"] == 9.0
    assert check["measurement_count"] == 1
    assert check["status"] in {"missed", "at_risk", "on_track", "regressed", "achieved"}
    history = client.get(path).json()
    assert history["results"][0]["id"] == check["id"]
    assert client.get(f"/api/v1/kpis/{world.kpi.pk}/").json()["status"] == check["status"]


def test_posting_measurements_checks_the_kpi_after_commit(
    world: World, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        world.client("integration").post(
            f"/api/v1/kpis/{world.kpi.pk}/measurements/",
            {"value": 7.0, "measured_at": _at(3)},
            format="json",
        )
    latest = world.client("viewer").get(f"/api/v1/kpis/{world.kpi.pk}/").json()["latest_check"]
    assert latest is not None
    assert latest["current"] == 7.0
