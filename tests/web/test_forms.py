"""The page forms: they parse input and show the services' domain errors; they never save."""

import pytest

from improvement.exceptions import InvalidInput
from improvement.models import Initiative
from improvement.web.forms import InitiativeForm, ProposeForm, active_users
from improvement.web.forms_initiative import ActionForm, KPIForm, MeasurementForm, VisionForm

from .. import factories

pytestmark = pytest.mark.django_db


def test_service_errors_land_next_to_their_field():
    form = KPIForm(
        data={
            "name": "MTTR",
            "key": "mttr",
            "kind": "process",
            "direction": "decrease",
            "aggregation": "latest",
            "window_days": 30,
            "tolerance": 0.05,
        }
    )
    assert form.is_valid(), form.errors
    form.add_service_errors(
        InvalidInput("bad", errors={"target_value": ["Below, please."], "non_field_errors": ["x"]})
    )
    assert form.errors["target_value"] == ["Below, please."]
    assert form.non_field_errors() == ["x"]


def test_error_without_fields_goes_to_the_top():
    form = ActionForm(data={"title": "Do it", "status": "planned"})
    assert form.is_valid()
    form.add_service_errors(InvalidInput("The change breaks a rule of the register."))
    assert form.non_field_errors() == ["The change breaks a rule of the register."]


def test_measurement_row_errors_are_mapped_to_fields():
    form = MeasurementForm(data={"value": "1", "measured_at": "2026-01-05T10:00"})
    assert form.is_valid()
    form.add_service_errors(
        InvalidInput("Row 0", errors={"rows": {0: {"measured_at": ["The time is in the future."]}}})
    )
    assert form.errors["measured_at"] == ["The time is in the future."]


def test_the_form_never_touches_the_instance():
    initiative = factories.InitiativeFactory(title="Original")
    form = InitiativeForm(
        data={"title": "Changed", "source": "other", "value": 3, "urgency": 3, "effort": 3},
        instance=initiative,
    )
    assert form.is_valid(), form.errors
    assert initiative.title == "Original"
    assert Initiative.objects.get(pk=initiative.pk).title == "Original"


def test_unchanged_priority_is_not_pinned():
    initiative = factories.InitiativeFactory()
    data = {"title": "t", "source": "other", "value": 3, "urgency": 3, "effort": 3, "priority": ""}
    form = InitiativeForm(data=data, instance=initiative, may_set_priority=True)
    assert form.is_valid(), form.errors
    assert "priority" not in form.service_data()
    form = InitiativeForm(
        data={**data, "priority": "P1"}, instance=initiative, may_set_priority=True
    )
    assert form.is_valid()
    assert form.service_data()["priority"] == "P1"


def test_priority_is_only_for_csi_managers():
    assert "priority" not in InitiativeForm(instance=factories.InitiativeFactory()).fields


def test_kpi_form_leaves_a_target_and_a_change_to_the_service():
    form = KPIForm(
        data={
            "name": "M",
            "key": "m",
            "kind": "process",
            "direction": "decrease",
            "aggregation": "latest",
            "baseline_value": 10,
            "target_value": 9,
            "target_change_pct": -15,
        }
    )
    assert form.is_valid(), form.errors
    data = form.service_data()
    # the service decides (services.kpis: a change next to a new target value is refused)
    assert data["target_change_pct"] == -15 and data["target_value"] == 9


def test_kpi_key_cannot_change_once_defined():
    kpi = factories.KPIFactory()
    assert "key" not in KPIForm(instance=kpi).fields
    assert "key" in KPIForm().fields


def test_measurement_label_carries_the_unit():
    assert MeasurementForm(unit="h").fields["value"].label == "Value (h)"


def test_vision_form_offers_active_goals_and_keeps_linked_ones():
    active = factories.GoalFactory(title="Active")
    retired = factories.GoalFactory(title="Retired", active=False)
    initiative = factories.InitiativeFactory()
    initiative.goals.add(retired)
    form = VisionForm(initiative=initiative)
    assert set(form.fields["goals"].queryset) == {active, retired}
    assert form.fields["goals"].initial == [retired.pk]


def test_fields_render_with_labels_and_aria():
    form = ProposeForm(data={"title": "", "source": "other", "value": 3, "urgency": 3, "effort": 3})
    assert not form.is_valid()
    html = str(form["title"].as_field_group())
    assert '<label for="id_title">What should improve?</label>' in html  # no stray colon
    assert 'aria-invalid="true"' in html
    assert 'id="id_title_error"' in html


def test_shared_user_choices_render_without_queries(django_assert_num_queries, team_member):
    action = factories.ActionFactory(initiative=factories.InitiativeFactory(), owner=team_member)
    users = list(active_users())
    with django_assert_num_queries(0):
        form = ActionForm(instance=action, users=users)
        html = str(form["owner"])
    assert f'value="{team_member.get_full_name()} (tina)"' in html
