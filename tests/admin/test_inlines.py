"""The records of an initiative saved from its change form (improvement/admin/inlines.py),
each through the service of its entity.
"""

import datetime as dt

import pytest
from django.utils import timezone

from improvement import services
from improvement.admin.base import DEFINITION_LOCKED
from improvement.choices import ActionStatus, Step
from improvement.models import KPI, Review

from .support import add_row, change_url, form_data, save_initiative, texts

pytestmark = pytest.mark.django_db


def test_review_added_inline_goes_through_review_create(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    save_initiative(
        csi_client,
        initiative,
        rows={"reviews": [{"decision": "iterate", "progress_check": "Halfway there."}]},
    )
    review = initiative.reviews.get()
    assert review.iteration == 1
    assert review.reviewed_by == csi
    assert review.kpi_snapshot and review.kpi_snapshot[0]["kpi"] == initiative.kpis.get().key
    # and it is then read-only: no second review of the iteration can be added
    page = csi_client.get(change_url(initiative))
    reviews = next(i for i in page.context["inline_admin_formsets"] if i.formset.model is Review)
    assert not reviews.has_add_permission
    assert not reviews.has_change_permission


def test_action_inline_goes_through_the_services(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.PLAN, complete=False)
    save_initiative(
        csi_client,
        initiative,
        rows={"actions": [{"title": "Set up swarming", "status": "planned"}]},
    )
    action = initiative.actions.get()
    assert action.iteration == initiative.iteration
    assert action.history.latest().history_user == csi
    save_initiative(csi_client, initiative, fields={"actions-0-status": "done"})
    action.refresh_from_db()
    assert action.status == ActionStatus.DONE
    assert action.completed_at is not None  # stamped by action_update


def test_kpi_removed_inline_goes_through_kpi_delete(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.TARGET)
    kpi = initiative.kpis.get()
    before = initiative.history.count()
    save_initiative(csi_client, initiative, fields={"kpis-0-DELETE": "on"})
    assert not KPI.objects.filter(pk=kpi.pk).exists()
    assert KPI.history.filter(id=kpi.pk, history_type="-").get().history_user == csi
    # only an inline changed: the initiative itself got no empty history row
    assert initiative.history.count() == before


def test_a_review_inline_against_the_kpis_is_refused_then_kept_as_an_override(
    csi_client, initiative_at, state_of
):
    # given a KPI only on track (78 %) at the review
    initiative = initiative_at(Step.REVIEW)
    initiative.kpis.update(name="MTTR", target_date=timezone.localdate() + dt.timedelta(120))
    kpi = initiative.kpis.get()
    services.measurement_record(
        kpi=kpi,
        actor=initiative.accountable,
        points=[{"value": 8.44, "measured_at": timezone.now() - dt.timedelta(days=1)}],
    )
    services.kpi_check(kpi=kpi)
    before = state_of(initiative)
    # when "achieved" is recorded, the refusal names the KPI and nothing is written
    page = csi_client.get(change_url(initiative))
    data = form_data(page)
    add_row(data, "reviews", decision="achieved")
    response = csi_client.post(change_url(initiative), data)
    assert "decision: KPI 'MTTR' is on track, 78 % of the way, not achieved." in texts(response)
    assert state_of(initiative) == before
    # with a justification it is kept as an override, then shown read-only
    save_initiative(
        csi_client,
        initiative,
        rows={"reviews": [{"decision": "achieved", "decision_override": "Sponsor agreed."}]},
    )
    assert initiative.reviews.get().decision_override == "Sponsor agreed."
    page = csi_client.get(change_url(initiative))
    reviews = next(i for i in page.context["inline_admin_formsets"] if i.formset.model is Review)
    assert not reviews.has_change_permission  # kept as written: every field read-only
    assert "Sponsor agreed." in page.content.decode()


def test_after_step_three_the_kpi_inline_shows_the_definition_read_only(csi_client, initiative_at):
    initiative = initiative_at(Step.ACTION)
    page = csi_client.get(change_url(initiative))
    kpis = next(i for i in page.context["inline_admin_formsets"] if i.formset.model is KPI)
    (row,) = kpis.formset.initial_forms
    assert row.fields["target_value"].disabled and row.fields["direction"].disabled
    assert row.fields["target_value"].help_text == DEFINITION_LOCKED
    assert not row.fields["name"].disabled
    # a KPI added now is defined in full
    assert not kpis.formset.empty_form.fields["target_value"].disabled


def test_a_locked_kpi_changed_inline_is_refused_and_nothing_is_saved(
    csi_client, initiative_at, state_of
):
    initiative = initiative_at(Step.ACTION)
    before = state_of(initiative)
    page = csi_client.get(change_url(initiative))
    data = form_data(page) | {"kpis-0-target_value": "9.5", "title": "Renamed"}
    response = csi_client.post(change_url(initiative), data)
    assert any("are locked since the initiative left step 3" in m for m in texts(response))
    assert state_of(initiative) == before
