"""services/benefits.py: expected benefits (who may, what is valid) and realised ones
(when, by whom, the latest figure replacing the earlier one)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from improvement import choices, services
from improvement.exceptions import Conflict, Forbidden, InvalidInput
from improvement.models import Benefit, BenefitRealisation
from tests import factories
from tests.conftest import force_step

Step = choices.Step
COST = choices.BenefitCategory.COST_REDUCTION


def _add(actor, initiative, **kwargs):
    data = {"category": COST, "amount": "1500.50", "unit": "eur", **kwargs}
    return services.benefit_create(actor=actor, initiative=initiative, **data)


def test_an_owner_adds_an_expected_benefit_resting_on_a_kpi(initiative_at, team_member):
    initiative = initiative_at(Step.PLAN)
    kpi = initiative.kpis.get()
    benefit = _add(team_member, initiative, kpi=kpi, description="Fewer overtime hours")
    benefit.refresh_from_db()
    assert (benefit.category, benefit.amount, benefit.unit, benefit.kpi) == (
        COST, Decimal("1500.50"), "EUR", kpi
    )  # fmt: skip
    assert benefit.realised_amount is None
    assert benefit.history.get().history_user == team_member  # audited


@pytest.mark.parametrize(
    "typed,stored",
    [("eur", "EUR"), (" usd ", "USD"), ("Hours", "hours"), ("NPS  points", "nps points")],
)
def test_units_are_normalised_so_sums_group_them(initiative_at, team_member, typed, stored):
    assert _add(team_member, initiative_at(Step.PLAN), unit=typed).unit == stored


@pytest.mark.parametrize(
    "field,value",
    [
        ("amount", "NaN"),
        ("amount", "Infinity"),
        ("amount", float("inf")),
        ("amount", "-1"),
        ("amount", "1000000000000.01"),
        ("amount", "10.005"),
        ("amount", "ten"),
        ("amount", True),
        ("amount", None),
        ("unit", ""),
        ("unit", "   "),
        ("unit", "x" * 33),
        ("unit", 5),
        ("category", "happiness"),
        ("description", "x" * 201),
        ("description", "nul\x00"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(initiative_at, team_member, field, value):
    initiative = initiative_at(Step.PLAN)
    with pytest.raises(InvalidInput) as refused:
        _add(team_member, initiative, **{field: value})
    assert field in refused.value.errors
    assert not Benefit.objects.exists()


def test_the_kpi_must_be_one_of_the_same_initiative(initiative_at, team_member):
    other = factories.KPIFactory()
    with pytest.raises(InvalidInput, match="another initiative"):
        _add(team_member, initiative_at(Step.PLAN), kpi=other)
    assert not Benefit.objects.exists()


def test_the_largest_amount_is_accepted(initiative_at, team_member):
    benefit = _add(team_member, initiative_at(Step.PLAN), amount="1000000000000")
    benefit.refresh_from_db()
    assert benefit.amount == Decimal(10**12)


@pytest.mark.parametrize("role", ["viewer", "team", "integration", None])
def test_who_holds_no_edit_right_may_not_add_one(initiative_at, make_user, role):
    initiative = initiative_at(Step.PLAN)  # owned by tina, not by this user
    with pytest.raises(Forbidden):
        _add(make_user(role), initiative)
    assert not Benefit.objects.exists()


def test_after_closing_only_a_csi_manager_changes_the_expected_benefits(
    initiative_at, team_member, csi
):
    initiative = initiative_at(Step.SUSTAIN)
    benefit = _add(team_member, initiative)
    force_step(initiative, Step.CLOSED)
    benefit.refresh_from_db()
    with pytest.raises(Forbidden):
        services.benefit_update(actor=team_member, benefit=benefit, amount="1")
    services.benefit_update(actor=csi, benefit=benefit, amount="2")
    benefit.refresh_from_db()
    assert benefit.amount == Decimal(2)


@pytest.mark.parametrize("step", [Step.PROPOSED, Step.VISION, Step.PLAN, Step.ACTION])
def test_nothing_is_realised_before_the_review(initiative_at, team_member, step):
    initiative = initiative_at(Step.PLAN)
    benefit = _add(team_member, initiative)
    force_step(initiative, step)
    with pytest.raises(Conflict, match="review"):
        services.benefit_realise(actor=team_member, benefit=benefit, amount="10")
    assert not BenefitRealisation.objects.exists()
    benefit.refresh_from_db()
    assert benefit.realised_amount is None


def test_realised_at_the_review_then_at_close_the_latest_figure_counts(initiative_at, team_member):
    initiative = initiative_at(Step.REVIEW)
    benefit = _add(team_member, initiative, amount="1000")
    first = services.benefit_realise(actor=team_member, benefit=benefit, amount="400")
    force_step(initiative, Step.CLOSED)  # gains come in after the close: its owner records
    second = services.benefit_realise(
        actor=team_member, benefit=benefit, amount=Decimal("950"), note="a year on"
    )
    benefit.refresh_from_db()
    assert benefit.realised_amount == Decimal(950)  # replaces 400, does not add to it
    assert benefit.realised_at == second.recorded_at
    rows = list(benefit.realisations.values_list("amount", "step", "iteration", "note"))
    assert rows == [(Decimal(400), "review", 1, ""), (Decimal(950), "closed", 1, "a year on")]
    assert first.recorded_by == team_member
    assert benefit.history.count() == 3  # created, then each realised figure


@pytest.mark.parametrize("role", ["viewer", "team", "integration"])
def test_who_may_not_edit_may_not_record_a_realised_benefit(initiative_at, make_user, role):
    initiative = initiative_at(Step.REVIEW)
    benefit = _add(initiative.accountable, initiative)
    with pytest.raises(Forbidden):
        services.benefit_realise(actor=make_user(role), benefit=benefit, amount="1")
    assert not BenefitRealisation.objects.exists()


@pytest.mark.parametrize("amount", ["-5", "NaN", "1e13", "x", None])
def test_a_bad_realised_amount_is_refused(initiative_at, team_member, amount):
    initiative = initiative_at(Step.REVIEW)
    benefit = _add(team_member, initiative)
    with pytest.raises(InvalidInput):
        services.benefit_realise(actor=team_member, benefit=benefit, amount=amount)
    benefit.refresh_from_db()
    assert benefit.realised_amount is None and not BenefitRealisation.objects.exists()


def test_a_realised_benefit_keeps_its_unit_and_is_not_removed(initiative_at, team_member):
    initiative = initiative_at(Step.REVIEW)
    benefit = _add(team_member, initiative)
    services.benefit_realise(actor=team_member, benefit=benefit, amount="10")
    with pytest.raises(Conflict, match="unit"):
        services.benefit_update(actor=team_member, benefit=benefit, unit="hours")
    benefit.refresh_from_db()
    assert benefit.unit == "EUR"
    with pytest.raises(Conflict):
        services.benefit_delete(actor=team_member, benefit=benefit)
    assert Benefit.objects.filter(pk=benefit.pk).exists()


def test_an_unrealised_benefit_is_removed_by_an_editor(initiative_at, team_member, viewer):
    benefit = _add(team_member, initiative_at(Step.PLAN))
    with pytest.raises(Forbidden):
        services.benefit_delete(actor=viewer, benefit=benefit)
    services.benefit_delete(actor=team_member, benefit=benefit)
    assert not Benefit.objects.exists()


def test_unknown_fields_are_refused(initiative_at, team_member):
    benefit = _add(team_member, initiative_at(Step.PLAN))
    with pytest.raises(InvalidInput):
        services.benefit_update(actor=team_member, benefit=benefit, realised_amount="5")
    benefit.refresh_from_db()
    assert benefit.realised_amount is None
