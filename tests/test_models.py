"""The models (improvement.models): how each one names itself, and the naming rule of the
constraints that hold the register's invariants (STYLE rule 5)."""

import datetime as dt
import re
import uuid

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from improvement.choices import EventType, Step
from improvement.models import (
    Counter,
    Event,
    Initiative,
    KPICheck,
    Measurement,
    TransitionLog,
)

from . import factories

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _app_models(*, historical: bool = False) -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_app_config("improvement").get_models()
        if m.__name__.startswith("Historical") == historical
    ]


@pytest.fixture
def initiative():
    return factories.InitiativeFactory(reference="CIR-00042", title="Faster password resets")


# --- __str__ --------------------------------------------------------------------------------


def test_goal_service_and_practice_are_named_by_their_title():
    assert str(factories.GoalFactory(title="Happy customers")) == "Happy customers"
    assert str(factories.ServiceFactory(name="Online banking")) == "Online banking"
    assert str(factories.PracticeFactory(name="Swarming")) == "Swarming"


def test_initiative_is_named_by_reference_and_title(initiative):
    assert str(initiative) == "CIR-00042 Faster password resets"


def test_unsaved_initiative_without_reference_says_so():
    assert str(Initiative(title="Draft idea")) == "CIR-new Draft idea"


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (factories.VisionFactory, "vision"),
        (factories.BaselineFactory, "baseline"),
        (factories.TargetFactory, "target"),
        (factories.PlanFactory, "plan"),
        (factories.SustainFactory, "sustain"),
    ],
)
def test_step_record_is_named_after_its_step_and_initiative(factory, name, initiative):
    assert str(factory(initiative=initiative)) == f"{name} of CIR-00042 Faster password resets"


def test_action_is_named_by_its_title(initiative):
    assert str(factories.ActionFactory(initiative=initiative, title="Train L1")) == "Train L1"


def test_review_is_named_by_iteration_and_initiative(initiative):
    review = factories.ReviewFactory(initiative=initiative, iteration=2)
    assert str(review) == "Review 2 of CIR-00042 Faster password resets"


def test_kpi_is_named_by_its_name(initiative):
    kpi = factories.KPIFactory(initiative=initiative, name="Mean time to resolve")
    assert str(kpi) == "Mean time to resolve"


def test_transition_log_shows_the_move(initiative, csi):
    log = TransitionLog.objects.create(
        initiative=initiative, from_step=Step.VISION, to_step=Step.BASELINE, actor=csi, iteration=1
    )
    assert str(log) == "CIR-00042 Faster password resets: vision → baseline"


def test_counter_shows_name_and_value():
    assert str(Counter.objects.create(name="initiative", value=42)) == "initiative=42"


def test_event_shows_type_and_id():
    event_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    event = Event.objects.create(id=event_id, type=EventType.INITIATIVE_CREATED, payload={})
    assert str(event) == "initiative.created 12345678-1234-5678-1234-567812345678"


def test_measurement_shows_kpi_time_and_value(initiative):
    kpi = factories.KPIFactory(initiative=initiative)
    measurement = Measurement.objects.create(
        kpi=kpi, value=7.5, measured_at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    )
    measurement.refresh_from_db()
    assert str(measurement) == f"{kpi.pk} 2026-03-01 09:30 = 7.5"


def test_kpi_check_shows_kpi_status_and_time(initiative):
    kpi = factories.KPIFactory(initiative=initiative)
    check = KPICheck.objects.create(
        kpi=kpi, checked_at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC), status="on_track"
    )
    check.refresh_from_db()
    assert str(check) == f"{kpi.pk} on_track at 2026-03-01 09:30"


@pytest.mark.parametrize("model", _app_models(), ids=lambda m: m.__name__)
def test_every_model_defines_its_own_str(model):
    # the default "Initiative object (1)" is useless in the admin and in logs
    assert model.__str__ is not models.Model.__str__


@pytest.mark.parametrize("model", _app_models(), ids=lambda m: m.__name__)
def test_every_model_has_an_ordering_and_a_docstring(model):
    assert model._meta.ordering, f"{model.__name__} has no Meta.ordering"
    assert model.__doc__ and not model.__doc__.startswith(f"{model.__name__}("), model.__name__


# --- constraint names ---------------------------------------------------------------------


def _constraint_params():
    return [
        pytest.param(model, constraint, id=f"{model.__name__}.{constraint.name}")
        for model in _app_models()
        for constraint in model._meta.constraints
    ]


@pytest.mark.parametrize(("model", "constraint"), _constraint_params())
def test_constraint_names_follow_improvement_model_rule(model, constraint):
    prefix = f"improvement_{model._meta.model_name}_"
    assert constraint.name.startswith(prefix), constraint.name
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", constraint.name.removeprefix(prefix))


@pytest.mark.parametrize(("model", "constraint"), _constraint_params())
def test_constraint_exists_in_the_database_under_its_name(model, constraint):
    with connection.cursor() as cursor:
        in_db = connection.introspection.get_constraints(cursor, model._meta.db_table)
    assert constraint.name in in_db


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda i: factories.KPIFactory(initiative=i, key="mttr"), id="kpi key"),
        pytest.param(lambda i: factories.InitiativeFactory(reference="CIR-09999"), id="reference"),
        pytest.param(
            lambda i: factories.ReviewFactory(initiative=i, iteration=1), id="review per iteration"
        ),
    ],
)
def test_the_database_refuses_a_second_row_where_the_spec_says_one(initiative, make):
    make(initiative)
    with pytest.raises(IntegrityError), transaction.atomic():
        make(initiative)


@pytest.mark.filterwarnings("ignore::django.utils.deprecation.RemovedInDjango60Warning")
def test_the_reference_is_not_offered_for_editing_and_the_step_cannot_be_assigned(initiative):
    from django.forms import modelform_factory

    assert "reference" not in modelform_factory(Initiative, fields="__all__")().fields
    initiative.refresh_from_db()
    with pytest.raises(AttributeError):
        initiative.step = Step.CLOSED


@pytest.mark.parametrize("model", _app_models(), ids=lambda m: m.__name__)
def test_references_to_users_and_catalogue_are_protected(model):
    # CASCADE only for owned children: a user, service, practice or goal is never deleted
    # out from under the register
    shared = {"User", "Service", "Practice", "Goal"}
    for field in model._meta.get_fields():
        if isinstance(field, models.ForeignKey) and field.related_model.__name__ in shared:
            assert field.remote_field.on_delete is models.PROTECT, f"{model.__name__}.{field.name}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status, step, days_late, overdue",
    [
        ("planned", "action", 1, True),
        ("in_progress", "action", 3, True),
        ("planned", "action", 0, False),  # due today: not yet
        ("done", "action", 5, False),
        ("dropped", "action", 5, False),
        ("planned", "closed", 5, False),  # the initiative ended: nothing is overdue
        ("planned", "cancelled", 5, False),
    ],
)
def test_an_action_is_overdue_by_one_rule_in_python_and_in_sql(status, step, days_late, overdue):
    from django.utils import timezone

    from improvement.models import Action

    from .conftest import force_step
    from .factories import ActionFactory, InitiativeFactory

    initiative = force_step(InitiativeFactory(), step)
    action = ActionFactory(
        initiative=initiative, status=status,
        due_date=timezone.localdate() - dt.timedelta(days=days_late),
    )  # fmt: skip
    assert action.is_overdue is overdue
    assert action.days_overdue == (days_late if overdue else 0)
    assert Action.objects.overdue().filter(pk=action.pk).exists() is overdue
