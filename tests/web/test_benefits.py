"""The benefits section of the initiative page (web/benefits.py): forms that call the
benefit services, refusals shown on the page, and nothing changed by a refused write."""

from __future__ import annotations

from decimal import Decimal

import pytest

from improvement import choices, services
from improvement.models import Benefit, BenefitRealisation

from .conftest import page, text, url

Step = choices.Step


def _form(**extra):
    return {"category": "time_saved", "amount": "36", "unit": "Hours", "kpi": "",
            "description": "Agent hours", **extra}  # fmt: skip


def test_an_owner_adds_a_benefit_from_the_page(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    kpi = initiative.kpis.get()
    client = client_for(team_member)
    assert 'id="add-benefit"' in client.get(page(initiative)).content.decode()
    response = client.post(url("benefit-create", initiative.reference), _form(kpi=str(kpi.pk)))
    assert response.status_code == 302 and response["Location"].endswith("#benefits")
    benefit = Benefit.objects.get()
    assert (benefit.amount, benefit.unit, benefit.kpi) == (Decimal(36), "hours", kpi)
    html = text(client.get(page(initiative)))
    assert "Expected benefit “Time saved” added." in html and "36 hours" in html


@pytest.mark.parametrize(
    "field,value,message",
    [("amount", "-3", "greater than or equal to 0"), ("amount", "1e13", ""),
     ("unit", "", "required"), ("kpi", "999999", "valid choice")],
)  # fmt: skip
def test_bad_input_shows_the_page_again_with_the_error(
    client_for, team_member, initiative_at, field, value, message
):
    initiative = initiative_at(Step.PLAN)
    response = client_for(team_member).post(
        url("benefit-create", initiative.reference), _form(**{field: value})
    )
    assert response.status_code == 422
    html = text(response)
    assert 'id="add-benefit" open' in html and message in html
    assert not Benefit.objects.exists()


def test_a_viewer_may_not_add_nor_sees_the_form(client_for, viewer, initiative_at):
    initiative = initiative_at(Step.PLAN)
    client = client_for(viewer)
    assert 'id="add-benefit"' not in client.get(page(initiative)).content.decode()
    assert client.post(url("benefit-create", initiative.reference), _form()).status_code == 403
    assert not Benefit.objects.exists()


def test_a_realised_amount_is_recorded_at_the_review(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    benefit = services.benefit_create(
        actor=team_member, initiative=initiative, category="quality", amount=10, unit="pts"
    )
    client = client_for(team_member)
    assert url("benefit-realise", initiative.reference, benefit.pk) in text(
        client.get(page(initiative))
    )
    response = client.post(
        url("benefit-realise", initiative.reference, benefit.pk), {"amount": "7.5", "note": ""}
    )
    assert response.status_code == 302
    benefit.refresh_from_db()
    assert benefit.realised_amount == Decimal("7.5")


def test_before_the_review_no_realised_amount_is_taken(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.ACTION)
    benefit = services.benefit_create(
        actor=team_member, initiative=initiative, category="quality", amount=10, unit="pts"
    )
    client = client_for(team_member)
    path = url("benefit-realise", initiative.reference, benefit.pk)
    assert path not in text(client.get(page(initiative)))  # not offered
    response = client.post(path, {"amount": "7"})
    assert response.status_code == 409
    assert "recorded at the review" in text(response)
    assert not BenefitRealisation.objects.exists()


def test_a_realised_benefit_is_not_removed(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    benefit = services.benefit_create(
        actor=team_member, initiative=initiative, category="quality", amount=10, unit="pts"
    )
    services.benefit_realise(actor=team_member, benefit=benefit, amount=1)
    response = client_for(team_member).post(url("benefit-delete", initiative.reference, benefit.pk))
    assert response.status_code == 409
    assert "cannot be removed" in text(response)
    assert Benefit.objects.filter(pk=benefit.pk).exists()


def test_an_owner_changes_then_removes_a_benefit(client_for, team_member, initiative_at):
    initiative = initiative_at(Step.PLAN)
    benefit = services.benefit_create(
        actor=team_member, initiative=initiative, category="quality", amount=10, unit="pts"
    )
    client = client_for(team_member)
    changed = client.post(
        url("benefit-update", initiative.reference, benefit.pk), _form(amount="12.25")
    )
    assert changed.status_code == 302
    benefit.refresh_from_db()
    assert (benefit.category, benefit.amount) == ("time_saved", Decimal("12.25"))
    client.post(url("benefit-delete", initiative.reference, benefit.pk))
    assert not Benefit.objects.exists()


def test_another_initiatives_benefit_is_not_found(client_for, team_member, initiative_at):
    mine, other = initiative_at(Step.PLAN), initiative_at(Step.PLAN)
    benefit = services.benefit_create(
        actor=team_member, initiative=other, category="quality", amount=10, unit="pts"
    )
    response = client_for(team_member).post(url("benefit-delete", mine.reference, benefit.pk))
    assert response.status_code == 404
    assert Benefit.objects.filter(pk=benefit.pk).exists()


@pytest.mark.parametrize("benefits", [1, 4])
def test_the_section_keeps_the_page_query_count_flat(
    client_for, team_member, initiative_at, benefits, django_assert_num_queries
):
    initiative = initiative_at(Step.REVIEW)
    kpi = initiative.kpis.get()
    for n in range(benefits):
        benefit = services.benefit_create(
            actor=team_member, initiative=initiative, category="quality", amount=n, unit="pts",
            kpi=kpi,
        )  # fmt: skip
        services.benefit_realise(actor=team_member, benefit=benefit, amount=n)
    client = client_for(team_member)
    client.get(page(initiative))
    # the page's queries (test_initiative.py: 40), the benefits with their KPI, and their
    # realisations
    with django_assert_num_queries(40):
        response = client.get(page(initiative))
    assert text(response).count('class="benefit-tools"') == benefits
