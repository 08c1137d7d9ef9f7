"""The re-baseline page of a KPI (improvement/admin/rebaseline.py): a CSI manager changes a
locked definition with a reason, through services.kpi_rebaseline."""

import pytest
from django.contrib.auth.models import Permission

from improvement import permissions
from improvement.choices import Step
from improvement.models import KPI, KPIRevision

from .support import admin_url, texts

pytestmark = pytest.mark.django_db


def rebaseline_url(kpi) -> str:
    return admin_url(KPI, "rebaseline", kpi.pk)


def definition(kpi) -> dict:
    """The re-baseline form's fields as the page shows them for `kpi`."""
    return {
        "direction": kpi.direction,
        "aggregation": kpi.aggregation,
        "window_days": str(kpi.window_days),
        "baseline_value": str(kpi.baseline_value),
        "baseline_date": kpi.baseline_date.isoformat(),
        "target_value": str(kpi.target_value),
        "target_date": kpi.target_date.isoformat(),
    }


@pytest.fixture
def locked_kpi(initiative_at):
    return initiative_at(Step.ACTION).kpis.get()


def test_the_page_shows_the_definition_and_asks_for_a_reason(csi_client, locked_kpi):
    page = csi_client.get(rebaseline_url(locked_kpi))
    assert page.status_code == 200
    form = page.context["form"]
    assert list(form.fields) == [
        "direction",
        "aggregation",
        "window_days",
        "baseline_value",
        "baseline_date",
        "target_value",
        "target_change_pct",
        "target_date",
        "reason",
    ]
    assert form.fields["reason"].required
    assert form["target_value"].value() == locked_kpi.target_value


def test_a_csi_manager_rebaselines_with_a_reason(csi_client, csi, locked_kpi):
    data = definition(locked_kpi) | {"target_value": "7.5", "reason": "Scope grew to EMEA."}
    response = csi_client.post(rebaseline_url(locked_kpi), data)
    assert response.status_code == 302
    assert response["Location"] == admin_url(KPI, "change", locked_kpi.pk)
    locked_kpi.refresh_from_db()
    assert locked_kpi.target_value == 7.5
    revision = KPIRevision.objects.get(kpi=locked_kpi)
    assert (revision.kind, revision.by, revision.reason, revision.changes) == (
        "rebaselined",
        csi,
        "Scope grew to EMEA.",
        {"target_value": [8.0, 7.5]},
    )
    assert f"KPI '{locked_kpi.name}' re-baselined: target value: 8.0 → 7.5." in texts(response)


def test_a_relative_target_is_taken_on_the_rebaseline_page(csi_client, locked_kpi):
    data = definition(locked_kpi) | {"target_change_pct": "-25", "reason": "Stretch target."}
    assert csi_client.post(rebaseline_url(locked_kpi), data).status_code == 302
    locked_kpi.refresh_from_db()
    assert locked_kpi.target_value == pytest.approx(7.5)


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"target_value": "7.5", "reason": ""}, "reason", "This field is required."),
        ({"reason": "Nothing to change."}, None, "Change at least one field of the definition."),
        (
            {"target_value": "12", "reason": "Typo."},
            "target_value",
            "The target must be below the baseline (10) for a KPI that should decrease.",
        ),
    ],
    ids=["without-reason", "without-change", "target-on-the-worse-side"],
)
def test_a_refused_rebaseline_says_why_and_changes_nothing(
    csi_client, locked_kpi, change, field, error
):
    before = KPI.objects.values().get(pk=locked_kpi.pk)
    response = csi_client.post(rebaseline_url(locked_kpi), definition(locked_kpi) | change)
    assert response.status_code == 200
    form = response.context["form"]
    assert error in (form.errors[field] if field else form.non_field_errors())
    assert KPI.objects.values().get(pk=locked_kpi.pk) == before
    assert not KPIRevision.objects.exists()


def test_only_a_csi_manager_is_offered_the_rebaseline(client, team_member, locked_kpi):
    # given the KPI's accountable team member with admin rights on KPIs
    team_member.is_staff = True
    team_member.save()
    team_member.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_kpi", "change_kpi"])
    )
    client.force_login(team_member)
    page = client.get(admin_url(KPI, "change", locked_kpi.pk))
    assert page.status_code == 200
    assert rebaseline_url(locked_kpi) not in page.content.decode()
    # and the page itself is refused, naming the role
    data = definition(locked_kpi) | {"target_value": "7.5", "reason": "x"}
    response = client.post(rebaseline_url(locked_kpi), data)
    assert response.status_code == 403
    assert permissions.NEED_CSI in response.content.decode()
    locked_kpi.refresh_from_db()
    assert locked_kpi.target_value == 8.0
    assert not KPIRevision.objects.exists()
