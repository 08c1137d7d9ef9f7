"""The reports and the PDCA view in the browser wing (SPEC §10): the printable initiative
and portfolio reports, the seven steps / PDCA toggle, the portfolio's PDCA counts and
benefit sums (checked against a hand computation), all in a fixed number of queries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from improvement import choices, services
from improvement.web import reports
from tests import factories
from tests.conftest import force_step

from .conftest import page, text, url

Step = choices.Step


def _benefit(initiative, category, amount, unit, realised=None):
    """A benefit added by the initiative's owner (at the review, where every benefit may be
    written), realised there when given; the initiative then goes back to its step."""
    owner = initiative.accountable
    step = initiative.step
    force_step(initiative, Step.REVIEW)
    benefit = services.benefit_create(
        actor=owner, initiative=initiative, category=category, amount=amount, unit=unit
    )
    if realised is not None:
        services.benefit_realise(actor=owner, benefit=benefit, amount=realised)
    force_step(initiative, step)
    return benefit


@pytest.fixture
def register(initiative_at):
    """Two goals and initiatives with benefits in euros, dollars and hours."""
    g1 = factories.GoalFactory(title="Cheaper IT")
    g2 = factories.GoalFactory(title="Happier staff")
    a = initiative_at(Step.ACTION, complete=False)
    a.goals.add(g1)
    b = initiative_at(Step.SUSTAIN, complete=False)
    b.goals.add(g1, g2)
    c = initiative_at(Step.REVIEW, complete=False)
    d = initiative_at(Step.CLOSED, complete=False, title="Closed, nothing counted")
    e = initiative_at(Step.CLOSED, complete=False, title="Closed, expected only")
    f = initiative_at(Step.CLOSED, complete=False, title="Closed and counted")
    _benefit(a, "cost_reduction", "1000", "EUR", realised="600")
    _benefit(a, "time_saved", "40", "hours")
    _benefit(b, "cost_reduction", "500.50", "eur", realised="700")
    _benefit(b, "cost_reduction", "200", "USD")
    _benefit(c, "time_saved", "10", "Hours", realised="12")
    _benefit(e, "quality", "5", "points")
    _benefit(f, "risk", "3", "points", realised="3")
    return {"g1": g1, "g2": g2, "a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def test_benefit_sums_match_a_hand_computation(register, viewer):
    sums = reports.benefit_sums(viewer)
    by_category = {
        (r["category"], r["unit"]): (r["expected"], r["realised"], r["count"], r["realised_count"])
        for r in sums["by_category"]
    }
    # by hand: EUR 1000 + 500.50 expected, 600 + 700 realised; USD and hours never mixed in
    assert by_category == {
        ("cost_reduction", "EUR"): (Decimal("1500.50"), Decimal("1300"), 2, 2),
        ("cost_reduction", "USD"): (Decimal("200"), None, 1, 0),
        ("time_saved", "hours"): (Decimal("50"), Decimal("12"), 2, 1),
        ("quality", "points"): (Decimal("5"), None, 1, 0),
        ("risk", "points"): (Decimal("3"), Decimal("3"), 1, 1),
    }
    by_goal = {
        (g["title"], r["unit"]): (r["expected"], r["realised"])
        for g in sums["by_goal"]
        for r in g["units"]
    }
    # b serves both goals: it counts under each; c, e and f serve none
    assert by_goal == {
        ("Cheaper IT", "EUR"): (Decimal("1500.50"), Decimal("1300")),
        ("Cheaper IT", "USD"): (Decimal("200"), None),
        ("Cheaper IT", "hours"): (Decimal("40"), None),
        ("Happier staff", "EUR"): (Decimal("500.50"), Decimal("700")),
        ("Happier staff", "USD"): (Decimal("200"), None),
        ("No goal", "hours"): (Decimal("10"), Decimal("12")),
        ("No goal", "points"): (Decimal("8"), Decimal("3")),
    }
    assert [g["title"] for g in sums["by_goal"]] == ["Cheaper IT", "Happier staff", "No goal"]
    eur = next(r for r in sums["by_category"] if r["unit"] == "EUR")
    assert round(eur["ratio"], 2) == round(Decimal(1300) / Decimal("1500.50") * 100, 2)


def test_closed_initiatives_without_a_realised_benefit_are_listed(register, viewer):
    found = reports.closed_without_realised(viewer)
    assert found["count"] == 2
    assert {i.title for i in found["top"]} == {"Closed, nothing counted", "Closed, expected only"}
    assert "no_realised_benefit=true" in found["url"]


def test_the_register_link_lists_all_of_them(register, client_for, viewer):
    client = client_for(viewer)
    html = text(client.get(reports.closed_without_realised(viewer)["url"]))
    assert "Closed, nothing counted" in html and "Closed, expected only" in html
    assert "Closed and counted" not in html


def test_the_portfolio_shows_pdca_counts_linking_to_the_register(register, client_for, viewer):
    client = client_for(viewer)
    html = text(client.get(url("portfolio")))
    counts = {p["value"]: p["count"] for p in reports.pdca_counts(reports.step_counts(viewer))}
    # a in step 5, b in 7, c in 6, d e f closed: Act = sustain + closed
    assert counts == {"plan": 0, "do": 1, "check": 1, "act": 4, "none": 0}
    portfolio = client.get(url("portfolio")).content.decode()
    assert f'href="{url("register")}?phase=act&amp;scope=all"' in portfolio
    assert "Benefits: expected versus realised" in html and "1,500.50" in html
    act = text(client.get(url("register") + "?phase=act&scope=all"))
    assert register["b"].reference in act and register["d"].reference in act
    assert register["a"].reference not in act


@pytest.mark.parametrize("rows", [1, 6])
def test_the_portfolio_report_runs_a_fixed_number_of_queries(
    client_for, csi, initiative_at, rows, django_assert_num_queries
):
    for n in range(rows):
        i = initiative_at(Step.CLOSED, complete=False)
        i.goals.add(factories.GoalFactory())
        _benefit(i, "cost_reduction", n + 1, "EUR", realised=n)
        factories.KPIFactory(initiative=initiative_at(Step.ACTION), status="at_risk")
    client = client_for(csi)
    client.get(url("portfolio-report"))
    # session and user 3; counts per step 1, health 1 (the same running counts), outcomes 1,
    # KPIs at risk 5 (their count, one read per verdict), benefit sums 2, closed without a
    # realised benefit 2, top open 1
    with django_assert_num_queries(16):
        response = client.get(url("portfolio-report"))
    assert response.status_code == 200
    assert "Portfolio report" in text(response)


@pytest.mark.parametrize("kpis", [1, 3])
def test_the_initiative_report_runs_a_fixed_number_of_queries(
    client_for, viewer, initiative_at, kpis, django_assert_num_queries
):
    initiative = initiative_at(Step.REVIEW)
    for _ in range(kpis - 1):
        factories.KPIFactory(initiative=initiative)
    for kpi in initiative.kpis.all():
        b = _benefit(initiative, "quality", 5, "points", realised=4)
        b.kpi = kpi
        b.save()
    client = client_for(viewer)
    client.get(url("initiative-report", initiative.reference))
    # session 2, the initiative with its page's prefetches, the benefits 3
    with django_assert_num_queries(17):
        response = client.get(url("initiative-report", initiative.reference))
    html = text(response)
    assert initiative.title in html
    assert html.count('<svg class="chart"') == kpis  # one chart per KPI
    assert "@page" not in html  # the print rules live in report.css
    assert "report.css" in html


def test_the_initiative_report_shows_steps_reviews_benefits_and_lessons(
    client_for, viewer, initiative_at, team_member
):
    initiative = initiative_at(Step.SUSTAIN)
    factories.ReviewFactory(
        initiative=initiative, decision="achieved", progress_check="All objectives met."
    )
    _benefit(initiative, "revenue", "2500", "GBP", realised="3100")
    html = text(client_for(viewer).get(url("initiative-report", initiative.reference)))
    for expected in (
        "What is the vision?",
        "Customers get their service back within the hour.",  # the vision's statement
        "All objectives met.",
        "Revenue",
        "2,500 GBP",
        "3,100 GBP",
        "Swarming works when the roster is clear.",  # lessons learned
        "How it got here",
    ):
        assert expected in html, expected


def test_report_access(client, client_for, make_user, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    path = url("initiative-report", initiative.reference)
    assert client.get(path).status_code == 302  # anonymous: sign in
    assert client.get(url("portfolio-report")).status_code == 302
    integration = client_for(make_user("integration"))
    assert integration.get(path).status_code == 403  # the API's role
    assert integration.get(url("portfolio-report")).status_code == 403
    assert integration.get(url("initiative-report", "CIR-99999")).status_code == 403
    viewer = client_for(make_user("viewer"))
    assert viewer.get(url("initiative-report", "CIR-99999")).status_code == 404


def test_the_page_toggles_between_the_seven_steps_and_the_pdca_cycle(
    client_for, viewer, initiative_at
):
    initiative = initiative_at(Step.REVIEW)
    client = client_for(viewer)
    steps = client.get(page(initiative)).content.decode()
    assert 'class="stepper"' in steps and 'class="pdca"' not in steps
    assert 'href="?view=pdca"' in steps
    assert url("initiative-report", initiative.reference) in steps  # Present, twice
    assert steps.count(url("initiative-report", initiative.reference)) == 2
    pdca = client.get(page(initiative) + "?view=pdca").content.decode()
    assert 'class="pdca"' in pdca and 'class="stepper"' not in pdca
    current = pdca.split('aria-current="step"')[0].rsplit("<li", 1)[1]
    assert "pdca__phase--check" in current


@pytest.mark.parametrize(
    "step,current",
    [(Step.VISION, "plan"), (Step.ACTION, "do"), (Step.SUSTAIN, "act"), (Step.PROPOSED, "none")],
)
def test_the_pdca_cycle_marks_the_current_phase(initiative_at, step, current):
    initiative = initiative_at(step)
    steps = [
        {"value": s.value, "number": n, "title": s.label, "state": state}
        for n, (s, state) in enumerate(
            zip(
                choices.SEVEN_STEPS,
                [
                    "done" if choices.SEVEN_STEPS.index(s) < choices.SEVEN_STEPS.index(step)
                    else "current" if s == step else "upcoming"
                    for s in choices.SEVEN_STEPS
                ]
                if step in choices.SEVEN_STEPS
                else ["upcoming"] * 7,
                strict=True,
            ),
            start=1,
        )
    ]  # fmt: skip
    cycle = reports.pdca_cycle(initiative, steps)
    assert cycle["current"] == current
    states = {p["value"]: p["state"] for p in cycle["phases"]}
    if current != "none":
        assert states[current] == "current"
        assert list(states.values()).count("current") == 1
    else:
        assert "current" not in states.values()
