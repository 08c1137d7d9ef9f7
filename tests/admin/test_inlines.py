"""The records of an initiative saved from its change form (improvement/admin/inlines.py),
each through the service of its entity.
"""

import pytest

from improvement.choices import ActionStatus, Step
from improvement.models import KPI, Review

from .support import change_url, save_initiative

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
