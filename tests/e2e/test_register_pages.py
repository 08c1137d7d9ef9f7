"""The register, the portfolio, the goals and the site's frame in a real browser: paging by
clicking (with and without JavaScript), Back after a filter, the open-only default, no
sideways scrolling at 375 px, and the keyboard path with a visible focus.

Uses the browser fixtures of test_browser.py (Debian's Chromium through Playwright).
"""

# ruff: noqa: F811 (the fixtures imported from test_browser are parameters here)

import re

import pytest

from improvement.choices import OPEN_STEPS, Step
from improvement.models import Initiative
from tests import factories
from tests.conftest import force_step

# the fixtures of test_browser.py, used here by name
from .test_browser import PASSWORD, people, sign_in  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

NARROW = {"width": 375, "height": 812}


def row_refs(page) -> list[str]:
    return page.locator("#register-results tbody .ref").all_inner_texts()


@pytest.fixture
def sixty(people):
    """Sixty open initiatives, CIR-T… in the order the register sorts them by reference."""
    return factories.InitiativeFactory.create_batch(60)


@pytest.fixture
def plain_page(browser, live_server):
    """plain_page() → a page of a browser context with JavaScript switched off."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_paging_by_clicking_reaches_every_initiative(open_page, plain_page, sixty, javascript):
    page = open_page() if javascript else plain_page()
    sign_in(page, "tina")
    page.goto("/register/?ordering=reference")
    seen = row_refs(page)
    assert len(seen) == 25 and "Page 1 of 3" in page.locator(".pager").inner_text()

    # Next → twice: pages 2 and 3, the rest of the register, nothing twice
    for number, rows in ((2, 25), (3, 10)):
        page.get_by_role("link", name="Next →").click()
        page.wait_for_url(re.compile(rf"[?&]page={number}\b"))
        assert "??" not in page.url
        assert f"Page {number} of 3" in page.locator(".pager").inner_text()
        refs = row_refs(page)
        assert len(refs) == rows and not set(refs) & set(seen)
        assert page.locator("#register-results tbody tr").first.is_visible()
        seen += refs
    assert sorted(seen) == sorted(i.reference for i in sixty)
    assert "ordering=reference" in page.url  # the order stays while paging

    # ← Previous goes back a page; a page size starts again at page 1
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url(re.compile(r"[?&]page=2\b"))
    page.locator(".pager__size").get_by_role("link", name="50").click()
    page.wait_for_url(re.compile(r"[?&]per_page=50\b"))
    assert "page=" not in page.url.replace("per_page=", "")
    assert len(row_refs(page)) == 50 and "Page 1 of 2" in page.locator(".pager").inner_text()
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"[?&]page=2\b"))
    assert len(row_refs(page)) == 10 and "per_page=50" in page.url


def filter_by_step(page, label: str) -> None:
    """Pick a step in the register's filters and wait for htmx to swap the results in."""
    page.evaluate("document.getElementById('register-results').dataset.stale = '1'")
    page.get_by_label("Step", exact=True).select_option(label=label)
    page.wait_for_function(
        "() => { const e = document.getElementById('register-results');"
        " return e && !e.dataset.stale; }"
    )
    page.wait_for_url(re.compile(r"[?&]step="))


def shows_the_whole_page(page) -> bool:
    """The header, the filters and the results, styled by the site's CSS, each once."""
    if page.locator("header.topbar").count() != 1:
        return False
    background = page.evaluate("getComputedStyle(document.querySelector('.topbar')).background")
    return (
        page.locator("form.filters").count() == 1
        and page.locator("#register-results").count() == 1
        and not background.startswith("rgba(0, 0, 0, 0)")
    )


def test_back_after_a_filter_shows_the_whole_page(open_page, people):
    planned = force_step(factories.InitiativeFactory(title="Planned one"), Step.PLAN)
    factories.InitiativeFactory(title="Proposed one")
    page = open_page()
    sign_in(page, "tina")
    page.goto("/register/")
    filter_by_step(page, "4 · How do we get there?")
    assert row_refs(page) == [planned.reference]

    # away to another page, then Back: the filtered register, whole, from the browser's cache
    page.get_by_role("link", name="Portfolio").click()
    page.wait_for_url(re.compile(r"/portfolio/$"))
    page.go_back()
    page.wait_for_url(re.compile(r"[?&]step=plan"))
    page.locator("#register-results").wait_for()
    assert shows_the_whole_page(page)
    assert row_refs(page) == [planned.reference]

    # Back once more, with htmx's own history cache gone: htmx asks the server for the page
    filter_by_step(page, "Any step")
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")
    page.go_back()
    page.wait_for_url(re.compile(r"[?&]step=plan"))
    page.wait_for_function("() => document.querySelectorAll('#register-results .ref').length == 1")
    assert shows_the_whole_page(page)


def test_the_register_lists_open_initiatives_and_includes_the_rest_on_request(
    open_page,
    people,
):
    for step in Step:
        force_step(factories.InitiativeFactory(title=f"In {step.label}"), step)
    page = open_page()
    sign_in(page, "victor")
    page.goto("/register/")
    results = page.locator("#register-results")
    assert f"{len(OPEN_STEPS)} open initiatives" in results.locator("h2").inner_text()
    page.evaluate("document.getElementById('register-results').dataset.stale = '1'")
    page.get_by_label("Include closed, rejected and cancelled initiatives").check()
    page.wait_for_function("() => !document.getElementById('register-results').dataset.stale")
    assert f"{len(Step)} initiatives" in results.locator("h2").inner_text()
    assert len(row_refs(page)) == len(Step)


def test_portfolio_counts_open_the_lists_they_count(open_page, people):
    for step, health in ((Step.PLAN, "on_track"), (Step.CLOSED, "on_track"),
                         (Step.CANCELLED, "on_track"), (Step.ACTION, "at_risk")):  # fmt: skip
        force_step(factories.InitiativeFactory(), step, health=health)
    page = open_page()
    sign_in(page, "csi")
    page.goto("/portfolio/")
    links = page.locator("a[data-count][href^='/']")
    targets = [(a.get_attribute("href"), int(a.get_attribute("data-count"))) for a in links.all()]
    assert len(targets) >= 20
    for href, count in targets:
        page.goto(href)
        heading = page.locator("#results-heading").inner_text()
        assert int(heading.split()[0]) == count, (href, heading)
        assert len(row_refs(page)) == min(count, 25)


# --- 375 px wide ----------------------------------------------------------------------------


def test_no_page_scrolls_sideways_at_375_px(open_page, live_server):
    from . import demo

    demo.build()
    # a long word and a long title are where narrow layouts break
    Initiative.objects.filter(pk=Initiative.objects.first().pk).update(
        title="Decommission the legacy-payroll-batch-scheduler-and-its-cron-wrappers everywhere"
    )
    for username, paths in (
        ("csi", ["/", "/register/", "/register/?scope=all&per_page=100", "/portfolio/",
                 "/goals/", "/propose/", "/no-such-page/", "/initiatives/CIR-99999/"]),
        ("victor", ["/propose/"]),  # 403
    ):  # fmt: skip
        page = open_page(**NARROW)
        page.goto("/accounts/login/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, "login"
        sign_in_as(page, username)
        for path in paths:
            page.goto(path)
            page.locator("main").wait_for()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (username, path, width)


def sign_in_as(page, username: str) -> None:
    """Sign in a user of the demo register (demo.build's password)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


# --- the keyboard ---------------------------------------------------------------------------


def focus_outline(page) -> str:
    return page.evaluate("getComputedStyle(document.activeElement).outlineStyle")


def test_keyboard_skips_to_the_content_and_pages_the_register(open_page, sixty):
    page = open_page()
    sign_in(page, "tina")
    page.goto("/register/?ordering=reference")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    assert focus_outline(page) != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the first control of the main content, past the header
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert page.evaluate("document.activeElement.id") == "export-csv"
    assert focus_outline(page) != "none"

    # to "Next →" by the keyboard alone, then Enter
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Next →":
            break
    else:
        pytest.fail("Tab never reached Next →")
    assert focus_outline(page) != "none"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]page=2\b"))
    assert "Page 2 of 3" in page.locator(".pager").inner_text()
