"""The browser of the end-to-end tests: one Chromium for the whole session (Playwright's
sync API allows one instance at a time), shared by every module of tests/e2e/; and where
their screenshots go."""

import os
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

CHROMIUM = os.environ.get("CIR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    # the sync Playwright API runs an event loop in this thread; Django's ORM calls made by
    # the test itself are still synchronous and safe
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def open_page(browser, live_server):
    """open_page(width=1280) → a fresh browser page (its own cookies) on the live server."""
    contexts = []

    def make(width: int = 1280, height: int = 900):
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=live_server.url
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """The folder the screenshots go to: docs/screenshots under `make screenshots`
    (CIR_SCREENSHOTS names it), else a temporary one, so a test run leaves the checkout as
    it was."""
    folder = Path(os.environ.get("CIR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _serialized_rollback_in_every_context(django_db_setup):
    """The database as the migrations left it, for `serialized_rollback` to restore, on every
    connection object of the backend. Playwright's sync API keeps an event loop running in
    this thread, so Django keeps a connection object per context here instead of per
    thread: the test's is not the one the database was set up with, and without this its
    transactional tests would start from an empty database (no practices, no roles) after
    the first one."""
    from django.db import DEFAULT_DB_ALIAS, connections

    wrapper = connections[DEFAULT_DB_ALIAS]
    contents = getattr(wrapper, "_test_serialized_contents", None)
    if contents is not None:
        type(wrapper)._test_serialized_contents = contents
