"""Content-Security-Policy in a real browser: every page family (register, portfolio, goals,
an initiative with its charts, the admin, the API docs) renders and works with no violation
reported, and htmx still swaps under the policy."""

from __future__ import annotations

import pytest

from improvement.models import Initiative
from tests.e2e import demo
from tests.e2e.test_browser import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

#: collects every violation the page reports (Playwright's init scripts are not subject to
#: the page's policy)
LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def visit(page, path: str, console: list[str]) -> list[str]:
    response = page.goto(path)
    assert response.status == 200, path
    page.wait_for_load_state("networkidle")
    policy = response.headers.get("content-security-policy", "")
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    return page.evaluate("window.__csp") + [c for c in console if "Content Security Policy" in c]


def test_no_page_reports_a_csp_violation(open_page):
    demo.build()
    initiative = Initiative.objects.filter(kpis__isnull=False).order_by("pk").first()
    page = open_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.context.add_init_script(LISTEN)
    sign_in(page, "csi")

    violations = {}
    for path in (
        "/",
        "/register/",
        "/propose/",
        "/portfolio/",
        "/goals/",
        f"/initiatives/{initiative.reference}/",
        "/admin/",
        "/admin/improvement/initiative/",
        f"/admin/improvement/initiative/{initiative.pk}/change/",
        "/admin/improvement/webhook/add/",
        "/api/docs/",
    ):
        found = visit(page, path, console)
        if found:
            violations[path] = found
        console.clear()

    assert violations == {}, "\n".join(f"{p}: {v}" for p, v in violations.items())


def test_the_charts_render_and_htmx_swaps_under_the_policy(open_page):
    demo.build()
    initiative = Initiative.objects.filter(kpis__isnull=False).order_by("pk").first()
    page = open_page()
    page.context.add_init_script(LISTEN)
    sign_in(page, "csi")

    page.goto(f"/initiatives/{initiative.reference}/")
    assert page.locator("svg").count() > 1  # the server-rendered KPI charts
    # htmx: filtering the register swaps its results in place
    page.goto("/register/")
    page.evaluate("document.getElementById('register-results').dataset.stale = '1'")
    page.locator("input[name=search], input[type=search]").first.fill("payroll")
    page.locator("input[name=search], input[type=search]").first.press("Enter")
    page.wait_for_function(
        "() => { const e = document.getElementById('register-results');"
        " return e && !e.dataset.stale; }"
    )
    assert "payroll" in page.locator("#register-results").inner_text().lower()
    # the API docs' Swagger UI started (its script is a file now, not inline)
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert page.evaluate("window.__csp") == []
