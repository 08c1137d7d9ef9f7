"""The database holds the register's invariants even when the services are bypassed
(STYLE rule 5)."""

import datetime as dt

import pytest
from django.db import DataError, IntegrityError, transaction

from improvement import services
from improvement.choices import Step
from improvement.models import (
    KPI,
    Initiative,
    Review,
    TransitionLog,
)

from . import factories

pytestmark = pytest.mark.django_db


def _raises_integrity_error(create, errors=(IntegrityError,)) -> None:
    with pytest.raises(errors), transaction.atomic():
        create()


@pytest.mark.parametrize("field", ["value", "effort", "urgency"])
@pytest.mark.parametrize("number", [0, 6, 9])
def test_db_refuses_scores_out_of_range(field, number):
    # PostgreSQL computes the generated score first: effort 0 fails as a division by zero
    errors = (IntegrityError, DataError) if (field, number) == ("effort", 0) else IntegrityError
    _raises_integrity_error(
        lambda: Initiative.objects.create(reference="CIR-X0001", title="Raw", **{field: number}),
        errors,
    )
    assert Initiative.objects.count() == 0


def test_db_refuses_duplicate_reference():
    Initiative.objects.create(reference="CIR-X0001", title="One")
    _raises_integrity_error(lambda: Initiative.objects.create(reference="CIR-X0001", title="Two"))
    assert Initiative.objects.count() == 1


def test_db_refuses_duplicate_external_id_but_not_blank_ones():
    Initiative.objects.create(
        reference="CIR-X0001", title="One", external_system="servicenow", external_id="PRB1"
    )
    _raises_integrity_error(
        lambda: Initiative.objects.create(
            reference="CIR-X0002", title="Two", external_system="servicenow", external_id="PRB1"
        )
    )
    # blank external ids are not identities: any number of them may exist
    Initiative.objects.create(reference="CIR-X0003", title="Three", external_system="servicenow")
    Initiative.objects.create(reference="CIR-X0004", title="Four", external_system="servicenow")
    Initiative.objects.create(reference="CIR-X0005", title="Five")
    assert Initiative.objects.count() == 4


def test_db_refuses_closed_without_outcome():
    initiative = Initiative.objects.create(reference="CIR-X0001", title="One")
    _raises_integrity_error(
        lambda: Initiative.objects.filter(pk=initiative.pk).update(step=Step.CLOSED)
    )
    assert Initiative.objects.get(pk=initiative.pk).step == Step.PROPOSED


def test_db_refuses_iteration_zero():
    initiative = Initiative.objects.create(reference="CIR-X0001", title="One")
    _raises_integrity_error(lambda: Initiative.objects.filter(pk=initiative.pk).update(iteration=0))


@pytest.mark.parametrize(
    ("direction", "target"),
    [("increase", 80.0), ("increase", 90.0), ("decrease", 95.0), ("decrease", 90.0)],
)
def test_db_refuses_kpi_target_on_the_wrong_side(direction, target):
    initiative = factories.InitiativeFactory()
    _raises_integrity_error(
        lambda: KPI.objects.create(
            initiative=initiative,
            key="raw",
            name="Raw",
            direction=direction,
            baseline_value=90.0,
            target_value=target,
        )
    )
    assert KPI.objects.count() == 0


def test_db_refuses_kpi_target_date_not_after_baseline_date():
    initiative = factories.InitiativeFactory()
    _raises_integrity_error(
        lambda: KPI.objects.create(
            initiative=initiative,
            key="raw",
            name="Raw",
            direction="increase",
            baseline_date=dt.date(2026, 3, 1),
            target_date=dt.date(2026, 2, 1),
        )
    )


def test_db_refuses_a_second_review_of_one_iteration():
    initiative = factories.InitiativeFactory()
    factories.ReviewFactory(initiative=initiative, iteration=1)
    _raises_integrity_error(
        lambda: Review.objects.create(initiative=initiative, iteration=1, decision="iterate")
    )


def test_db_protects_users_referenced_by_the_log(csi, initiative_at):
    from django.db.models import ProtectedError

    initiative = initiative_at(Step.PROPOSED)
    services.initiative_transition(initiative=initiative, to=Step.VISION, actor=csi)
    with pytest.raises(ProtectedError):
        csi.delete()
    assert TransitionLog.objects.filter(actor=csi).count() == 1
