"""Records of an initiative on their own pages (improvement/admin/records.py): reviews,
KPIs with their revisions and locked definitions, measurements and checks, written through
their services.
"""

import datetime as dt

import pytest
from django.utils import timezone

from improvement import services
from improvement.admin.base import DEFINITION_LOCKED
from improvement.choices import STATUS_COLOURS, Step
from improvement.models import KPI, KPICheck, KPIRevision, Measurement, Review
from improvement.services.kpis import LOCKED_FIELDS

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


# --- reviews: decisions follow the data -----------------------------------------------------


def reviewed_kpi_on_track(initiative_at):
    """An initiative at step 6 whose KPI 'MTTR' (10 → 8, target date to come) is checked on
    track at 8.44 (78 %)."""
    initiative = initiative_at(Step.REVIEW)
    later = timezone.localdate() + dt.timedelta(days=120)
    initiative.kpis.update(name="MTTR", target_date=later)
    kpi = initiative.kpis.get()
    services.measurement_record(
        kpi=kpi,
        actor=initiative.accountable,
        points=[{"value": 8.44, "measured_at": timezone.now() - dt.timedelta(days=1)}],
    )
    services.kpi_check(kpi=kpi)
    return initiative


def test_a_review_decision_against_the_kpis_is_refused_naming_each_kpi(
    csi_client, initiative_at, state_of
):
    initiative = reviewed_kpi_on_track(initiative_at)
    before = state_of(initiative)
    page = csi_client.get(admin_url(Review, "add"))
    data = form_data(page) | {"initiative": str(initiative.pk), "decision": "achieved"}
    response = csi_client.post(admin_url(Review, "add"), data, follow=True)
    shown = texts(response)
    assert "decision: KPI 'MTTR' is on track, 78 % of the way, not achieved." in shown
    assert any(m.startswith("The decision 'Achieved: sustain it' does not agree") for m in shown)
    assert state_of(initiative) == before


def test_a_review_override_is_kept_and_shown_read_only_with_the_decision(
    csi_client, csi, initiative_at
):
    initiative = reviewed_kpi_on_track(initiative_at)
    page = csi_client.get(admin_url(Review, "add"))
    assert "decision_override" in page.context["adminform"].form.fields
    data = form_data(page) | {
        "initiative": str(initiative.pk),
        "decision": "achieved",
        "decision_override": "The last 22 % land with Monday's release; the sponsor agreed.",
    }
    response = csi_client.post(admin_url(Review, "add"), data)
    assert response.status_code == 302, form_errors(response)
    review = initiative.reviews.get()
    assert (review.decision, review.reviewed_by) == ("achieved", csi)
    assert review.decision_override.startswith("The last 22 %")
    # then on its page the override stands read-only next to the decision
    page = csi_client.get(admin_url(Review, "change", review.pk))
    assert "decision_override" not in page.context["adminform"].form.fields
    html = page.content.decode()
    assert "The last 22 % land with Monday" in html
    assert html.index("Achieved: sustain it") < html.index("The last 22 % land")
    listing = csi_client.get(admin_url(Review, "changelist"))
    assert 'alt="True"' in listing.content.decode()


# --- KPI revisions: the record of every definition change -----------------------------------


def test_kpi_revisions_are_listed_with_their_changes(csi_client, csi, initiative_at):
    kpi = initiative_at(Step.ACTION).kpis.get()
    services.kpi_rebaseline(kpi=kpi, actor=csi, reason="Scope grew to EMEA.", target_value=7.5)
    response = csi_client.get(admin_url(KPIRevision, "changelist"), {"q": kpi.key})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Re-baselined" in html and "Scope grew to EMEA." in html
    assert "target value: 8.0 → 7.5" in html
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["kind", "at"]
    assert (
        not csi_client.get(admin_url(KPIRevision, "changelist"), {"q": "nothing"})
        .context["cl"]
        .result_count
    )


def test_kpi_revisions_cannot_be_added_changed_or_deleted(csi_client, csi, initiative_at):
    kpi = initiative_at(Step.ACTION).kpis.get()
    services.kpi_rebaseline(kpi=kpi, actor=csi, reason="Scope grew.", target_value=7.5)
    revision = KPIRevision.objects.get(kpi=kpi)
    kept = KPIRevision.objects.values().get(pk=revision.pk)
    assert csi_client.get(admin_url(KPIRevision, "add")).status_code == 403
    assert csi_client.post(admin_url(KPIRevision, "add"), {"kind": "changed"}).status_code == 403
    change = admin_url(KPIRevision, "change", revision.pk)
    assert csi_client.post(change, {"reason": "rewritten"}).status_code == 403
    delete = admin_url(KPIRevision, "delete", revision.pk)
    assert csi_client.post(delete, {"post": "yes"}).status_code == 403
    assert KPIRevision.objects.values().get(pk=revision.pk) == kept
    # on the KPI's page, the revisions are a read-only inline
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    inline = next(
        i for i in page.context["inline_admin_formsets"] if i.formset.model is KPIRevision
    )
    assert not (inline.has_add_permission or inline.has_change_permission)
    assert not inline.has_delete_permission
    assert "Scope grew." in page.content.decode()


def test_kpi_revision_list_queries_do_not_grow_with_rows(
    csi_client, csi, initiative_at, django_assert_num_queries
):
    def revise(n):
        for _ in range(n):
            kpi = initiative_at(Step.ACTION).kpis.get()
            services.kpi_rebaseline(kpi=kpi, actor=csi, reason="Rescoped.", target_value=7.5)

    revise(2)
    url = admin_url(KPIRevision, "changelist")
    # the session, the user and their roles; two counts and the admin's permission checks
    # (2); the rows with their KPI, initiative and author (1); the date hierarchy (2)
    with django_assert_num_queries(10):
        assert csi_client.get(url).status_code == 200
    revise(10)
    with django_assert_num_queries(10):
        response = csi_client.get(url)
    assert response.context["cl"].result_count == 12


# --- locked KPI definitions -----------------------------------------------------------------


def test_after_step_three_the_definition_is_shown_read_only_with_the_reason(
    csi_client, initiative_at
):
    kpi = initiative_at(Step.ACTION).kpis.get()
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    form = page.context["adminform"].form
    for name in (*LOCKED_FIELDS, "target_change_pct"):
        assert form.fields[name].disabled, name
        assert form.fields[name].help_text == DEFINITION_LOCKED
    assert not form.fields["name"].disabled
    html = page.content.decode()
    assert "Baseline and target locked." in html
    assert "move it back to &#x27;3 · Where do we want to be?&#x27;" in html
    assert admin_url(KPI, "rebaseline", kpi.pk) in html
    # in step 3 they are open
    open_kpi = initiative_at(Step.TARGET).kpis.get()
    page = csi_client.get(admin_url(KPI, "change", open_kpi.pk))
    assert not page.context["adminform"].form.fields["target_value"].disabled
    assert "Baseline and target locked." not in page.content.decode()


def test_a_save_of_a_locked_kpi_changes_only_what_is_open(csi_client, csi, initiative_at):
    kpi = initiative_at(Step.ACTION).kpis.get()
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    # as a browser posts it: the disabled fields are not sent
    data = {k: v for k, v in form_data(page).items() if k not in LOCKED_FIELDS}
    data["name"] = "MTTR (P2 and P3)"
    response = csi_client.post(admin_url(KPI, "change", kpi.pk), data)
    assert response.status_code == 302, form_errors(response)
    kpi.refresh_from_db()
    assert (kpi.name, kpi.target_value, kpi.baseline_value) == ("MTTR (P2 and P3)", 8.0, 10.0)
    revision = kpi.revisions.get()
    assert (revision.kind, revision.by, list(revision.changes)) == ("changed", csi, ["name"])


def test_a_change_of_a_locked_kpi_is_refused_with_the_message_and_nothing_saved(
    csi_client, initiative_at
):
    kpi = initiative_at(Step.ACTION).kpis.get()
    before = KPI.objects.values().get(pk=kpi.pk)
    page = csi_client.get(admin_url(KPI, "change", kpi.pk))
    # as a page opened before the lock posts it: the target and the name changed
    data = form_data(page) | {"target_value": "9.5", "name": "Renamed"}
    response = csi_client.post(admin_url(KPI, "change", kpi.pk), data)
    assert response.status_code == 302
    (shown,) = [m for m in texts(response) if "locked" in m]
    assert "are locked since the initiative left step 3" in shown
    assert "target value 8.0 → 9.5 refused" in shown
    assert "ask a CSI manager to re-baseline the KPI with a reason" in shown
    assert KPI.objects.values().get(pk=kpi.pk) == before
    assert not kpi.revisions.exists()
