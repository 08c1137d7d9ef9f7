"""The initiative page in a real browser: a refused move and a reload, the Details panel
after an in-place save, the side panel at 1280×720, the keyboard path to a move, and no
sideways scrolling at 375 px. Fixtures and helpers from test_browser."""

import re

import pytest

from improvement.choices import Step
from improvement.models import KPI, Initiative, TransitionLog
from tests import factories

from .test_browser import people, sign_in, swapped  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_refused_move_then_a_reload_posts_nothing_again(browser, live_server, people):  # noqa: F811
    # given a proposal and a CSI manager without JavaScript (plain form posts)
    initiative = factories.InitiativeFactory(title="Refused then reloaded")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "csi")
        page.goto(f"/initiatives/{initiative.reference}/")
        # when she rejects it without the reason the move needs
        page.locator("#move-rejected summary").click()
        page.locator("#move-rejected").get_by_role("button", name=re.compile("^Confirm")).click()
        # then the page is back at its own URL and says why
        assert re.search(rf"/initiatives/{initiative.reference}/(#moves)?$", page.url)
        assert "A reason is required." in page.locator("#moves").inner_text()
        posts = []
        page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
        page.reload()
        assert posts == []  # no re-post, no "confirm form resubmission"
        assert TransitionLog.objects.filter(initiative=initiative).count() == 0
        assert Initiative.objects.get(pk=initiative.pk).step == Step.PROPOSED
    finally:
        context.close()


def test_the_details_panel_shows_the_goal_saved_with_the_vision(
    open_page,  # noqa: F811
    people,  # noqa: F811
    initiative_at,
):
    initiative = initiative_at(Step.VISION, complete=False)
    page = open_page()
    sign_in(page, "tina")
    page.goto(f"/initiatives/{initiative.reference}/")
    assert "Restore service faster" not in page.locator("#details").inner_text()
    section = page.locator("#step-vision")
    section.get_by_label("Vision statement").fill("Payroll restored within the hour.")
    section.get_by_label("Restore service faster").check()
    swapped(page, "details", section.get_by_role("button", name=re.compile("^Save")).click)
    goals = page.locator("#details dt", has_text="Goals").locator("xpath=../dd").inner_text()
    assert "Restore service faster" in goals


def test_the_side_panel_fits_the_screen_at_1280_by_720(open_page, people, initiative_at):  # noqa: F811
    initiative = initiative_at(Step.ACTION)
    page = open_page(width=1280, height=720)
    sign_in(page, "csi")
    page.goto(f"/initiatives/{initiative.reference}/")
    page.locator("#move-cancelled summary").click()
    page.locator("#details summary").click()
    aside = page.locator(".initiative__aside")
    assert aside.bounding_box()["height"] <= 720
    # its last button is reachable without scrolling the page to its end
    confirm = page.locator("#move-cancelled").get_by_role("button", name=re.compile("^Confirm"))
    confirm.scroll_into_view_if_needed()
    box = confirm.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720
    assert page.evaluate("window.scrollY") < 720


def test_the_keyboard_path_to_a_move(open_page, people):  # noqa: F811
    initiative = factories.InitiativeFactory(title="Accepted by keyboard")
    page = open_page()
    sign_in(page, "csi")
    page.goto(f"/initiatives/{initiative.reference}/")
    # Tab from the top: the skip link to the content, then the one to the moves
    page.keyboard.press("Tab")
    assert "Skip to main content" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert "Skip to the moves" in page.evaluate("document.activeElement.textContent")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    # then a few tabs to Accept (the optional comment comes first), and Enter
    for _ in range(4):
        page.keyboard.press("Tab")
        if "Accept" in page.evaluate("document.activeElement.textContent"):
            break
    assert "Accept" in page.evaluate("document.activeElement.textContent")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    swapped(page, "initiative", lambda: page.keyboard.press("Enter"))
    assert "moved to" in page.locator("#initiative > .message--success").inner_text()
    assert Initiative.objects.get(pk=initiative.pk).step == Step.VISION


@pytest.mark.parametrize("who", ["csi", "victor"])
def test_no_sideways_scroll_at_375_px_on_any_step(open_page, people, initiative_at, who):  # noqa: F811
    steps = list(Step)
    references = [initiative_at(step).reference for step in steps]
    page = open_page(width=375, height=812)
    sign_in(page, who)
    for reference, step in zip(references, steps, strict=True):
        page.goto(f"/initiatives/{reference}/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{step}: {width} px wide"


def test_a_kpi_form_loads_when_opened_and_posts_in_place(open_page, people, initiative_at):  # noqa: F811
    # given a KPI whose goalposts are locked (step 5), and a CSI manager on its page
    initiative = initiative_at(Step.ACTION)
    kpi = initiative.kpis.get()
    page = open_page()
    sign_in(page, "csi")
    page.goto(f"/initiatives/{initiative.reference}/")
    edit, rebaseline = (
        page.locator(f"#kpi-{kpi.pk}-edit"),
        page.locator(f"#kpi-{kpi.pk}-rebaseline"),
    )
    assert edit.locator("form").count() == 0 and rebaseline.locator("form").count() == 0
    # when she opens the edit form: it comes in place, and saves in place
    edit.locator("summary").click()
    edit.get_by_label("Name").fill("Mean time to restore")
    swapped(page, "kpis", edit.get_by_role("button", name="Save KPI").click)
    assert (
        "KPI “Mean time to restore” saved." in page.locator("#kpis .message--success").inner_text()
    )
    assert KPI.objects.get(pk=kpi.pk).name == "Mean time to restore"
    # a re-baseline without a reason: its form stays open with the error
    rebaseline = page.locator(f"#kpi-{kpi.pk}-rebaseline")
    rebaseline.locator("summary").click()
    rebaseline.get_by_label("Target value").fill("7")
    swapped(page, "kpis", rebaseline.get_by_role("button", name="Re-baseline the KPI").click)
    rebaseline = page.locator(f"#kpi-{kpi.pk}-rebaseline")
    assert rebaseline.get_attribute("open") is not None
    assert "Say why the KPI changes." in rebaseline.inner_text()
    # with one, it is re-baselined; the edit form, reopened, shows the KPI as it is now
    rebaseline.get_by_label(re.compile("^Why re-baseline")).fill("Two queues merged.")
    swapped(page, "kpis", rebaseline.get_by_role("button", name="Re-baseline the KPI").click)
    assert KPI.objects.get(pk=kpi.pk).target_value == 7
    edit = page.locator(f"#kpi-{kpi.pk}-edit")
    edit.locator("summary").click()
    assert edit.get_by_label("Target value").input_value() == "7"


def test_without_javascript_a_kpi_form_opens_on_the_page(browser, live_server, people,  # noqa: F811
                                                         initiative_at):  # fmt: skip
    initiative = initiative_at(Step.TARGET)
    kpi = initiative.kpis.get()
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "csi")
        page.goto(f"/initiatives/{initiative.reference}/")
        edit = page.locator(f"#kpi-{kpi.pk}-edit")
        edit.locator("summary").click()
        edit.get_by_role("link", name=re.compile("^Open the edit form")).click()
        assert f"?kpi_edit={kpi.pk}#kpi-{kpi.pk}-edit" in page.url
        edit = page.locator(f"#kpi-{kpi.pk}-edit")
        edit.get_by_label("Target value").fill("6")
        edit.get_by_role("button", name="Save KPI").click()
        page.wait_for_url(re.compile(r"#kpis$"))
        assert KPI.objects.get(pk=kpi.pk).target_value == 6
    finally:
        context.close()
