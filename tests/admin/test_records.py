"""Records of an initiative on their own pages (improvement/admin/records.py): reviews,
KPIs, measurements and checks, written through their services.
"""

import pytest

from improvement.choices import STATUS_COLOURS, Step
from improvement.models import KPI, KPICheck, Measurement, Review

from .support import admin_url, form_data, form_errors, texts

pytestmark = pytest.mark.django_db


def test_kpi_changelist_shows_status_in_its_colour(csi_client, initiative_at):
    initiative = initiative_at(Step.PLAN)
    initiative.kpis.update(status="regressed")
    response = csi_client.get(admin_url(KPI, "changelist"))
    assert STATUS_COLOURS["regressed"] in response.content.decode()


def test_review_outside_step_six_is_refused_with_the_reason(csi_client, initiative_at):
    initiative = initiative_at(Step.PLAN)
    page = csi_client.get(admin_url(Review, "add"))
    data = form_data(page) | {"initiative": str(initiative.pk), "decision": "iterate"}
    response = csi_client.post(admin_url(Review, "add"), data, follow=True)
    assert any("A review is written in step 6" in m for m in texts(response))
    assert not Review.objects.exists()


def test_measurement_added_in_admin_goes_through_measurement_record(csi_client, csi, initiative_at):
    kpi = initiative_at(Step.ACTION).kpis.get()
    page = csi_client.get(admin_url(Measurement, "add"))
    data = form_data(page) | {
        "kpi": str(kpi.pk),
        "value": "8.5",
        "measured_at_0": "2026-02-01",
        "measured_at_1": "09:00:00",
        "source": "admin",
    }
    response = csi_client.post(admin_url(Measurement, "add"), data)
    assert response.status_code == 302, form_errors(response)
    point = kpi.measurements.get()
    assert (point.value, point.recorded_by) == (8.5, csi)
    kpi.refresh_from_db()
    assert kpi.data_changed_at is not None  # marked for the next check


def test_check_now_action_checks_the_kpi(csi_client, initiative_at):
    kpi = initiative_at(Step.ACTION).kpis.get()
    response = csi_client.post(
        admin_url(KPI, "changelist"), {"action": "check_now", "_selected_action": [kpi.pk]}
    )
    assert response.status_code == 302
    check = KPICheck.objects.get(kpi=kpi)
    assert f"{kpi.key}: {check.get_status_display()}." in texts(response)


def test_kpi_admin_takes_a_relative_target(csi_client, initiative_at):
    initiative = initiative_at(Step.TARGET, complete=False)
    page = csi_client.get(admin_url(KPI, "add"))
    data = form_data(page) | {
        "initiative": str(initiative.pk),
        "key": "resolution-time",
        "name": "Resolution time",
        "direction": "decrease",
        "aggregation": "mean",
        "baseline_value": "9",
        "baseline_date": "2026-01-01",
        "target_change_pct": "-15",
        "target_date": "2026-07-01",
    }
    response = csi_client.post(admin_url(KPI, "add"), data)
    assert response.status_code == 302, form_errors(response)
    kpi = KPI.objects.get(key="resolution-time")
    assert kpi.target_value == pytest.approx(7.65)


def test_kpi_admin_change_pct_replaces_the_target_shown_on_the_form(csi_client, initiative_at):
    kpi = initiative_at(Step.TARGET).kpis.get()
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    # the current target value is on the form, and a change % is typed next to it
    data = form_data(page) | {"target_change_pct": "-15"}
    response = csi_client.post(admin_url(KPI, "change", kpi.pk), data)
    assert response.status_code == 302, form_errors(response)
    kpi.refresh_from_db()
    assert kpi.target_value == pytest.approx(kpi.baseline_value * 0.85)


def test_kpi_admin_refuses_a_new_target_value_and_a_change_together(csi_client, initiative_at):
    kpi = initiative_at(Step.TARGET).kpis.get()
    target = kpi.target_value
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    data = form_data(page) | {"target_change_pct": "-15", "target_value": str(target - 0.5)}
    response = csi_client.post(admin_url(KPI, "change", kpi.pk), data)
    assert any("not both" in m for m in texts(response))
    kpi.refresh_from_db()
    assert kpi.target_value == target
