"""End to end in a real browser: Playwright drives Debian's Chromium against a live server.

The journey of one idea from proposal to sustain, a blocked move with its reasons, a move
back with its reason, a refused review decision then its override, on hold and resume, a
viewer who sees no edit controls, and the screenshots of docs/screenshots/ (written there
by `make screenshots`; elsewhere to a temporary folder).

Needs the `playwright` package and a Chromium at /usr/bin/chromium (or $CIR_CHROMIUM); without
them these tests skip, and under CIR_REQUIRE_SERVICES=1 they fail.
"""

import datetime as dt
import re

import pytest
from django.utils import timezone

from improvement import services
from improvement.choices import ActionStatus, Role, Step
from improvement.models import KPI, Initiative, Measurement, TransitionLog
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "pass-1234"


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


def swapped(page, element_id: str, click) -> None:
    """Run `click` and wait until htmx has replaced the element `element_id` in place."""
    page.evaluate(f"document.getElementById('{element_id}').dataset.stale = '1'")
    click()
    page.wait_for_function(
        f"() => {{ const e = document.getElementById('{element_id}');"
        " return e && !e.dataset.stale; }"
    )


def move(page, label: str) -> None:
    """Click a move button and wait for the page to show the new step."""
    swapped(page, "initiative", page.locator("#moves").get_by_role("button", name=label).click)
    assert "moved to" in page.locator("#initiative > .message--success").inner_text()


def save_section(page, step: str, button: str) -> None:
    section = page.locator(f"#step-{step}")
    swapped(page, f"step-{step}", section.get_by_role("button", name=button).click)
    page.locator(f"#step-{step} .message--success").wait_for()


@pytest.fixture
def people(db):
    """The cast: a team member, a CSI manager and a viewer, with the password PASSWORD."""
    made = {}
    for key, role, first, last, extra in (
        ("tina", Role.IMPROVEMENT_TEAM, "Tina", "Okafor", {}),
        ("csi", Role.CSI_MANAGER, "Carla", "Santos", {"is_staff": True}),
        ("victor", Role.VIEWER, "Victor", "Lund", {}),
    ):
        u = factories.UserFactory(username=key, first_name=first, last_name=last, roles=[role],
                                  **extra)  # fmt: skip
        u.set_password(PASSWORD)
        u.save()
        made[key] = u
    factories.GoalFactory(title="Restore service faster")
    return made


def test_an_idea_goes_from_proposal_to_sustain(open_page, people, screenshots):
    today = timezone.localdate()
    page = open_page()

    # a team member proposes an idea
    sign_in(page, "tina")
    page.get_by_role("link", name="Propose an idea").first.click()
    page.get_by_label("What should improve?").fill("Cut the time to restore payroll")
    page.get_by_label("Why? What happens today").fill("Payroll outages last nine hours.")
    page.get_by_label("I will own it").check()
    page.get_by_role("button", name="Register the idea").click()
    page.wait_for_url(re.compile(r"/initiatives/CIR-\d+/$"))
    reference = page.locator(".summary__ref").inner_text().split()[0]
    assert "Proposed" in page.locator("#initiative-summary").inner_text()
    assert page.locator("#moves").get_by_role("button", name="Accept").count() == 0
    sign_out(page)

    # the CSI manager finds it in the register and accepts it
    sign_in(page, "csi")
    page.get_by_role("link", name=reference).click()
    move(page, "Accept")
    assert "1 · What is the vision?" in page.locator("#initiative-summary").inner_text()
    sign_out(page)

    # the owner works through the steps; first, the blocked move shows its reasons
    sign_in(page, "tina")
    page.goto(f"/initiatives/{reference}/")
    blocked = page.locator("#blocked-baseline")
    assert "The vision statement is missing." in blocked.inner_text()
    assert "not linked to any organisational goal" in blocked.inner_text()

    vision = page.locator("#step-vision")
    vision.get_by_label("Vision statement").fill("Payroll is back within the hour.")
    vision.get_by_label("Restore service faster").check()
    vision.get_by_label("Expected value").fill("No late salaries.")
    save_section(page, "vision", "Save vision")
    assert page.locator("#blocked-baseline").count() == 0  # the moves refreshed in place
    move(page, "Move to 2 · Where are we now?")

    # step 2: a KPI with its baseline and target
    page.get_by_text("+ Add a KPI").click()
    kpis = page.locator("#kpis")
    kpis.get_by_label("Name").fill("Mean time to restore payroll")
    kpis.get_by_label("Key", exact=True).fill("mttr-payroll")
    kpis.get_by_label("Unit").fill("h")
    kpis.get_by_label("Direction").select_option("decrease")
    kpis.get_by_label("Baseline value").fill("9")
    kpis.get_by_label("Baseline date").fill((today - dt.timedelta(days=60)).isoformat())
    kpis.get_by_label("Target value").fill("6")
    kpis.get_by_label("Target date").fill((today + dt.timedelta(days=60)).isoformat())
    swapped(page, "kpis", kpis.get_by_role("button", name="Add KPI").click)
    page.locator("#kpis .message--success").wait_for()
    assert "Mean time to restore payroll" in page.locator("#kpis").inner_text()
    move(page, "Move to 3 · Where do we want to be?")

    # step 3: the objectives
    page.locator("#step-target").get_by_label("SMART objectives").fill(
        "Restore payroll within 6 hours on average within four months."
    )
    save_section(page, "target", "Save target")
    move(page, "Move to 4 · How do we get there?")

    # step 4: the plan and an action
    page.locator("#step-plan").get_by_label("Approach").fill("Swarm on payroll P1s.")
    save_section(page, "plan", "Save plan")
    actions = page.locator("#step-action")
    # step 5's section is open: the blocked move's "No action is planned" leads to it
    assert actions.locator("details").first.get_attribute("open") is not None
    actions.get_by_label("Title").fill("Write the payroll runbook")
    actions.get_by_label("Owner").fill("Tina Okafor (tina)")
    actions.get_by_label("Due date").fill((today + dt.timedelta(days=14)).isoformat())
    swapped(page, "step-action", actions.get_by_role("button", name="Add action").click)
    page.locator("#step-action .message--success").wait_for()
    assert "Write the payroll runbook" in page.locator("#step-action").inner_text()
    move(page, "Start 5 · Take action")

    # step 5: do the action, record measurements, see the chart and the verdict
    done = page.locator("#step-action").get_by_role("button", name="Mark done")
    swapped(page, "step-action", done.click)
    page.locator("#step-action .message--success").wait_for()
    for days_ago, value in ((30, "8.2"), (1, "7.2")):
        page.locator("#kpis summary", has_text="Record a measurement").click()
        card = page.locator("#kpis article").first
        card.get_by_label("Value (h)").fill(value)
        when = timezone.localtime() - dt.timedelta(days=days_ago)
        card.get_by_label("Measured at").fill(when.strftime("%Y-%m-%dT%H:%M"))
        swapped(page, "kpis", card.get_by_role("button", name="Record").click)
        page.locator("#kpis .message--success").wait_for()
    assert Measurement.objects.filter(kpi__key="mttr-payroll").count() == 2
    card = page.locator("#kpis article").first
    chart = card.locator("svg.chart").first
    assert chart.locator(".chart-measurements").count() == 1
    assert chart.locator(".chart-baseline").count() == 1
    assert chart.locator(".chart-target").count() == 1
    assert chart.locator(".chart-expected").count() == 1
    assert KPI.objects.get(key="mttr-payroll").status == "on_track"
    assert card.locator(".kpi__verdict").inner_text().strip() == "On track"
    assert "Verdict: On track." in card.locator("figcaption").inner_text()
    move(page, "Move to 6 · Did we get there?")

    # step 6: the review decides; then on to sustain
    review = page.locator("#step-review")
    review.get_by_label("Progress: were the objectives achieved?").fill("Down to 7.2 h.")
    review.get_by_label("Improved enough: sustain it").check()
    swapped(page, "initiative", review.get_by_role("button", name="Record the review").click)
    assert "KPIs at the review" in page.locator("#step-review").inner_text()
    move(page, "Move to 7 · Keep the momentum going")

    initiative = Initiative.objects.get(reference=reference)
    assert initiative.step == Step.SUSTAIN
    assert list(initiative.transitions.values_list("to_step", flat=True)) == [
        "vision", "baseline", "target", "plan", "action", "review", "sustain",
    ]  # fmt: skip
    assert page.locator(".stepper li.is-done").count() >= 6
    log = page.locator("#log").inner_text()
    assert "Carla Santos" in log and "Tina Okafor" in log
    page.screenshot(path=screenshots / "journey-sustain.png", full_page=True)


def confirm_move(page, to: str, fields: dict[str, str]) -> None:
    """Open the form of the move to `to`, fill its fields (by label) and confirm it."""
    form = page.locator(f"#move-{to}")
    form.locator("summary").click()
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    move(page, re.compile("^Confirm: "))


def test_back_with_a_reason_an_override_and_a_hold(open_page, people, initiative_at, screenshots):
    # given iteration 1 reviewed "iterate" and sent back to the plan, and iteration 2 at work
    today = timezone.localdate()
    initiative = initiative_at(Step.REVIEW, title="Cut the time to restore payroll")
    tina, carla = people["tina"], people["csi"]
    services.review_create(
        initiative=initiative, actor=tina, decision="iterate", progress_check="A third faster."
    )
    initiative = services.initiative_transition(
        initiative=initiative, to=Step.PLAN, actor=tina, reason="Swarming helped; automate next."
    )
    services.action_create(
        initiative=initiative, actor=tina, title="Automate the payroll restart", owner=tina,
        status=ActionStatus.DONE,
    )  # fmt: skip
    initiative = services.initiative_transition(initiative=initiative, to=Step.ACTION, actor=carla)
    page = open_page()
    sign_in(page, "tina")
    page.goto(f"/initiatives/{initiative.reference}/")
    assert "Iteration 1" in page.locator("#iterations").inner_text()

    # a move back asks for its reason, and the log keeps it
    confirm_move(page, "plan", {"Reason": "The restart script needs a new approval."})
    assert "4 · How do we get there?" in page.locator("#initiative-summary").inner_text()
    assert "“The restart script needs a new approval.”" in page.locator("#log").inner_text()
    move(page, "Start 5 · Take action")
    move(page, "Move to 6 · Did we get there?")

    # a decision the KPIs do not support is refused, with the KPI in words; then justified
    review = page.locator("#step-review")
    review.get_by_label("Progress: were the objectives achieved?").fill("Restores in 7 h.")
    review.get_by_label("Achieved: sustain it").check()
    swapped(page, "initiative", review.get_by_role("button", name="Record the review").click)
    error = page.locator("#id_review_decision_error").inner_text()
    assert "not achieved" in error and "justification for an override" in error
    assert page.locator("#step-review").get_by_label("Achieved: sustain it").is_checked()
    page.locator("#step-review").get_by_label("Justification for an override").fill(
        "The board counts the payroll run of May as the proof."
    )
    swapped(
        page,
        "initiative",
        page.locator("#step-review").get_by_role("button", name="Record the review").click,
    )
    assert page.locator("#review-2 .tag--override").is_visible()
    move(page, "Move to 7 · Keep the momentum going")

    # on hold with a reason and a resume-by date: the banner says so; then it resumes
    resume_by = today + dt.timedelta(days=21)
    confirm_move(
        page,
        "on_hold",
        {
            "Reason": "Waiting for the payroll supplier's contract.",
            "Resume by": resume_by.isoformat(),
        },
    )
    banner = page.locator("#hold-banner").inner_text()
    assert "from 7 · Keep the momentum going" in banner and "Waiting for the payroll" in banner
    page.screenshot(path=screenshots / "journey-hold.png", full_page=True)
    narrow = open_page(width=375, height=812)
    sign_in(narrow, "tina")
    narrow.goto(f"/initiatives/{initiative.reference}/")
    narrow.screenshot(path=screenshots / "journey-hold-375.png", full_page=True)
    move(page, "Resume")
    assert page.locator("#hold-banner").count() == 0
    initiative = Initiative.objects.get(pk=initiative.pk)
    assert (initiative.step, initiative.iteration) == (Step.SUSTAIN, 2)
    assert initiative.reviews.get(iteration=2).decision_override.startswith("The board")
    reasons = TransitionLog.objects.filter(initiative=initiative).values_list("comment", flat=True)
    assert "The restart script needs a new approval." in reasons


def test_an_in_place_write_refused_says_who_may(open_page, people, initiative_at):
    # given the owner's page is open, and a CSI manager then hands the initiative to others
    initiative = initiative_at(Step.PLAN)
    page = open_page()
    sign_in(page, "tina")
    page.goto(f"/initiatives/{initiative.reference}/")
    Initiative.objects.filter(pk=initiative.pk).update(accountable=people["csi"])
    initiative.responsible.clear()
    # when she saves the plan in place, the page says which role or RACI position may
    page.locator("#step-plan").get_by_label("Approach").fill("Mine")
    page.locator("#step-plan").get_by_role("button", name="Save plan").click()
    alert = page.locator("#main > .message--error").inner_text()
    assert "its accountable owner (A) or a responsible person (R)" in alert


def test_works_without_javascript(browser, live_server, people):
    """The full-page fallback: forms POST and redirect when htmx never loads."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "tina")
        page.get_by_role("link", name="Propose an idea").first.click()
        page.get_by_label("What should improve?").fill("Works without scripts")
        page.get_by_role("button", name="Register the idea").click()
        page.wait_for_url(re.compile(r"/initiatives/CIR-\d+/$"))
        assert "is registered as proposed" in page.locator(".messages").inner_text()
    finally:
        context.close()


def test_viewer_sees_no_edit_controls(open_page, people, initiative_at):
    initiative = initiative_at(Step.ACTION)
    page = open_page()
    sign_in(page, "victor")
    page.goto(f"/initiatives/{initiative.reference}/")
    assert page.locator("#read-only-note").is_visible()
    # a viewer may watch the initiative (to be told of it) and edit nothing
    assert page.locator("#watchers form").count() == 1
    assert page.locator("#initiative form:not(#watchers form)").count() == 0
    fields = "#initiative :is(textarea, input, select):not(#watchers *)"
    assert page.locator(fields).count() == 0
    assert page.get_by_role("button", name=re.compile("Save|Record|Add|Move|Mark")).count() == 0
    # the page is still fully readable: KPIs with their chart, the steps and the log
    assert page.locator("#kpis svg.chart").count() >= 1
    assert page.locator("#log").is_visible()


def test_keyboard_reaches_the_content_with_visible_focus(open_page, people):
    page = open_page()
    sign_in(page, "tina")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to main content" in focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_screenshots_of_the_main_pages(open_page, live_server, screenshots):
    from . import demo

    demo.build()
    featured = Initiative.objects.get(title="Cut the time to restore the payroll service")
    pages = {
        "my-work": "/",
        "register": "/register/",
        "initiative": f"/initiatives/{featured.reference}/",
        "portfolio": "/portfolio/",
    }
    for width, suffix in ((1400, ""), (375, "-375")):
        page = open_page(width=width, height=900 if width > 400 else 812)
        sign_in(page, "csi")
        for name, path in pages.items():
            page.goto(path)
            page.locator("main").wait_for()
            page.screenshot(path=screenshots / f"{name}{suffix}.png", full_page=True)
    for name in pages:
        assert (screenshots / f"{name}.png").stat().st_size > 10_000
        assert (screenshots / f"{name}-375.png").stat().st_size > 10_000
