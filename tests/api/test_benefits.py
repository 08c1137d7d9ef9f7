"""/api/v1/benefits/ (SPEC §10): expected benefits and their realisations through the API,
the initiatives' `pdca_phase` and the `phase` and `no_realised_benefit` filters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from improvement import choices, services
from improvement.models import Benefit, BenefitRealisation

from .. import factories
from .support import EDITORS, World, force_step
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)
URL = "/api/v1/benefits/"


def _body(w: World, **extra) -> dict:
    return {
        "initiative": w.in_review.pk,
        "category": "time_saved",
        "amount": "120.5",
        "unit": "Hours",
        "kpi": w.in_review.kpis.get().pk,
        "description": "Agent hours",
        **extra,
    }


def test_an_owner_adds_a_benefit_and_reads_it_back(world: World):
    client = world.client("owner")
    created = client.post(URL, _body(world), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["amount"], data["unit"], data["realised_amount"]) == ("120.50", "hours", None)
    assert data["kpi"] == world.in_review.kpis.get().pk and data["created_by"] == "tina"
    read = client.get(f"{URL}?initiative={world.in_review.pk}").json()
    assert [b["id"] for b in read["results"]] == [data["id"]]


@pytest.mark.parametrize("role", ["anonymous", "viewer", "integration", "outsider", "owner"])
def test_who_may_add_a_benefit(world: World, role):
    response = world.client(role).post(URL, _body(world), format="json")
    expected = 201 if role in EDITORS else (401 if role == "anonymous" else 403)
    assert response.status_code == expected, response.json()
    assert Benefit.objects.count() == (1 if expected == 201 else 0)
    if expected == 403:
        assert response.json()["code"] in ("forbidden", "permission_denied")


@pytest.mark.parametrize(
    "field,value",
    [
        ("amount", "NaN"),
        ("amount", "1000000000000.01"),
        ("amount", True),
        ("unit", ""),
        ("category", "happiness"),
        ("kpi", 10**12),
        ("surprise", 1),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(world: World, field, value):
    response = world.client("owner").post(URL, _body(world, **{field: value}), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert {"code", "message", "errors"} <= set(body) and field in body["errors"]
    assert not Benefit.objects.exists()


def test_a_kpi_of_another_initiative_is_refused(world: World):
    response = world.client("owner").post(URL, _body(world, kpi=world.kpi.pk), format="json")
    assert response.status_code == 400
    assert "another initiative" in response.json()["errors"]["kpi"][0]


def test_realisations_at_review_replace_and_are_listed(world: World):
    client = world.client("owner")
    benefit = client.post(URL, _body(world), format="json").json()
    first = client.post(f"{URL}{benefit['id']}/realisations/", {"amount": 60}, format="json")
    assert first.status_code == 201, first.json()
    second = client.post(
        f"{URL}{benefit['id']}/realisations/", {"amount": "95.25", "note": "Q3"}, format="json"
    )
    data = second.json()
    assert data["realised_amount"] == "95.25"
    assert [(r["amount"], r["step"], r["note"]) for r in data["realisations"]] == [
        ("60.00", "review", ""), ("95.25", "review", "Q3")
    ]  # fmt: skip


def test_a_realisation_before_the_review_is_a_409(world: World):
    benefit = world.client("owner").post(
        URL, _body(world, initiative=world.initiative.pk, kpi=None), format="json"
    )
    assert benefit.status_code == 201, benefit.json()
    response = world.client("owner").post(
        f"{URL}{benefit.json()['id']}/realisations/", {"amount": 1}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert not BenefitRealisation.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_who_may_not_edit_may_not_record_a_realisation(world: World, role):
    benefit = world.client("owner").post(URL, _body(world), format="json").json()
    response = world.client(role).post(
        f"{URL}{benefit['id']}/realisations/", {"amount": 1}, format="json"
    )
    assert response.status_code == 403
    assert not BenefitRealisation.objects.exists()


@pytest.mark.parametrize("body", [{"amount": "NaN"}, {"amount": 1, "extra": 2}])
def test_a_bad_realisation_is_a_400(world: World, body):
    benefit = world.client("owner").post(URL, _body(world), format="json").json()
    response = world.client("owner").post(
        f"{URL}{benefit['id']}/realisations/", body, format="json"
    )
    assert response.status_code == 400
    assert not BenefitRealisation.objects.exists()


def test_patch_and_delete(world: World):
    client = world.client("owner")
    benefit = client.post(URL, _body(world), format="json").json()
    patched = client.patch(f"{URL}{benefit['id']}/", {"amount": "200"}, format="json")
    assert patched.status_code == 200 and patched.json()["amount"] == "200.00"
    moved = client.patch(
        f"{URL}{benefit['id']}/", {"initiative": world.initiative.pk}, format="json"
    )
    # a benefit stays with its initiative: naming another is refused, nothing changes
    assert moved.status_code == 400 and "initiative" in moved.json()["errors"]
    assert Benefit.objects.get().initiative == world.in_review
    client.post(f"{URL}{benefit['id']}/realisations/", {"amount": 1}, format="json")
    refused = client.delete(f"{URL}{benefit['id']}/")
    assert refused.status_code == 409 and Benefit.objects.exists()


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_runs_a_fixed_number_of_queries(world: World, rows, django_assert_num_queries):
    owner = world.users["owner"]
    for n in range(rows):
        b = services.benefit_create(
            actor=owner, initiative=world.in_review, category="quality", amount=n, unit="pts"
        )
        services.benefit_realise(actor=owner, benefit=b, amount=n)
    client = world.client("viewer")
    # auth 2, count 1, page 1, realisations 1
    with django_assert_num_queries(5):
        response = client.get(f"{URL}?limit=50")
    assert response.json()["count"] == rows


# --- the PDCA phase of initiatives -----------------------------------------------------


def test_initiatives_answer_their_pdca_phase(world: World):
    client = world.client("viewer")
    listed = {
        i["id"]: i["pdca_phase"] for i in client.get("/api/v1/initiatives/").json()["results"]
    }
    assert listed[world.initiative.pk] == "plan"
    assert listed[world.proposed.pk] == "none"
    assert listed[world.in_review.pk] == "check"
    detail = client.get(f"/api/v1/initiatives/{world.in_review.pk}/").json()
    assert detail["pdca_phase"] == "check"


def test_the_pdca_phase_is_read_only(world: World):
    response = world.client("owner").patch(
        f"/api/v1/initiatives/{world.initiative.pk}/", {"pdca_phase": "act"}, format="json"
    )
    assert response.status_code in (200, 400)
    world.initiative.refresh_from_db()
    assert world.initiative.step == choices.Step.VISION


@pytest.mark.parametrize(
    "phase,expected",
    [("plan", {"initiative"}), ("check", {"in_review"}), ("none", {"proposed"}),
     ("do", set()), ("act", {"closed"})],
)  # fmt: skip
def test_the_phase_filter_lists_the_steps_of_that_phase(world: World, phase, expected):
    closed = force_step(factories.InitiativeFactory(), choices.Step.CLOSED)
    names = {
        world.initiative.pk: "initiative",
        world.proposed.pk: "proposed",
        world.in_review.pk: "in_review",
        closed.pk: "closed",
    }
    data = world.client("viewer").get(f"/api/v1/initiatives/?phase={phase}").json()
    assert {names[i["id"]] for i in data["results"]} == expected


def test_the_no_realised_benefit_filter(world: World):
    owner = world.users["owner"]
    done = force_step(factories.InitiativeFactory(), choices.Step.CLOSED)
    realised = world.in_review
    b = services.benefit_create(
        actor=owner, initiative=realised, category="risk", amount=Decimal(1), unit="pts"
    )
    services.benefit_realise(actor=owner, benefit=b, amount=1)
    client = world.client("viewer")
    without = client.get("/api/v1/initiatives/?no_realised_benefit=true&step=closed").json()
    assert [i["id"] for i in without["results"]] == [done.pk]
    with_one = client.get("/api/v1/initiatives/?no_realised_benefit=false").json()
    assert [i["id"] for i in with_one["results"]] == [realised.pk]
