"""axe-core on every page, as every role, at desktop and phone widths.

Playwright drives Debian's Chromium against one live server loaded with the demo register
(`seed_demo`); axe-core comes from the `axe-playwright-python` package, which ships
axe.min.js (no CDN, no copy in this repository). Every CIR page — the register, filtered,
propose, portfolio, goals, an initiative in each kind of step, the sign-in, 403 and 404
pages — is checked as a CSI manager, an improvement team member and a viewer at 1366 and
375 px, and the admin pages a CSI manager uses at both widths. Every `<details>` is opened
first, so the forms folded in them are checked too (a KPI card's edit and re-baseline
forms once they have come in). Each viewer is a test of its own (the CSI manager's admin
pages apart), so that `make test` runs them side by side.

A violation of serious or critical impact fails the test; the message lists each one with
the page, role, width, rule id, impact, target and axe's summary of the fix.
"""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from improvement.choices import Step
from improvement.models import KPI, Initiative
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "cir-demo-2026"
WIDTHS = (1366, 375)
BLOCKING = {"serious", "critical"}
#: the steps whose initiative page is checked (the demo's step 4 has actions)
STEPS = (Step.PROPOSED, Step.VISION, Step.PLAN, Step.ACTION, Step.REVIEW, Step.CLOSED,
         Step.ON_HOLD)  # fmt: skip


@pytest.fixture(scope="module")
def chromium(browser):
    """The session's Chromium (tests/e2e/conftest.py) and axe.min.js as the package ships it."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        skip_or_fail("the axe-playwright-python package is not installed")
    return browser, Axe().axe_script


def cir_pages() -> list[tuple[str, str, int]]:
    """(name, path, expected status) of every CIR page a signed-in user reaches."""
    pages = [
        ("my work", reverse("improvement:my-work"), 200),
        ("register", reverse("improvement:register"), 200),
        ("register stale", reverse("improvement:register") + "?stale=true", 200),
        ("propose duplicates", reverse("improvement:propose") + "?title=payroll service", 200),
        ("register filtered", reverse("improvement:register") + "?step=action&q=a", 200),
        ("propose", reverse("improvement:propose"), 200),
        ("portfolio", reverse("improvement:portfolio"), 200),
        ("goals", reverse("improvement:goals"), 200),
        ("opportunities", reverse("improvement:opportunities") + "?dimension=subcategory", 200),
        ("notifications", reverse("improvement:notifications"), 200),
        ("notification settings", reverse("improvement:notification-settings"), 200),
        ("404", "/initiatives/CIR-99999/", 404),
    ]
    for step in STEPS:
        initiatives = Initiative.objects.filter(step=step).order_by("pk")
        if step == Step.PLAN:
            initiatives = initiatives.filter(actions__isnull=False)  # step 4 with actions
        initiative = initiatives.first()
        assert initiative is not None, f"the demo has no initiative in step {step}"
        url = reverse("improvement:initiative", args=[initiative.reference])
        pages.append((f"initiative {step}", url, 200))
    kpi = KPI.objects.filter(measurements__isnull=False).order_by("pk").first()
    data = reverse("improvement:kpi-data", args=[kpi.initiative.reference, kpi.pk])
    pages.append(("KPI measurements", data, 200))
    reviewed = Initiative.objects.filter(step=Step.REVIEW).order_by("pk").first().reference
    pages += [
        ("portfolio report", reverse("improvement:portfolio-report"), 200),
        ("initiative report", reverse("improvement:initiative-report", args=[reviewed]), 200),
        ("initiative PDCA", reverse("improvement:initiative", args=[reviewed]) + "?view=pdca", 200),
    ]
    return pages


def admin_pages() -> list[tuple[str, str, int]]:
    """(name, path, expected status) of the admin pages a CSI manager works with."""

    def url(name, *args):
        return reverse(f"admin:improvement_{name}", args=args)

    kpi = KPI.objects.exclude(initiative__step__in=[Step.PROPOSED, Step.VISION]).first()
    pages = [
        ("admin index", reverse("admin:index"), 200),
        ("initiatives", url("initiative_changelist"), 200),
        ("KPIs", url("kpi_changelist"), 200),
        ("KPI", url("kpi_change", kpi.pk), 200),
        ("KPI re-baseline", url("kpi_rebaseline", kpi.pk), 200),
        ("measurements", url("measurement_changelist"), 200),
        ("KPI checks", url("kpicheck_changelist"), 200),
        ("events", url("event_changelist"), 200),
        ("comments", url("comment_changelist"), 200),
        ("webhook deliveries", url("webhookdelivery_changelist"), 200),
        ("webhooks", url("webhook_changelist"), 200),
    ]
    for step in (Step.PROPOSED, Step.PLAN, Step.ACTION, Step.REVIEW, Step.ON_HOLD):
        initiative = Initiative.objects.filter(step=step).order_by("pk").first()
        pages.append((f"initiative {step}", url("initiative_change", initiative.pk), 200))
    acting = Initiative.objects.filter(step=Step.ACTION).first()
    pages += [
        ("initiative moves", url("initiative_transition", acting.pk), 200),
        ("initiative history", url("initiative_history", acting.pk), 200),
    ]
    return pages


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def blocking_violations(page) -> list[dict]:
    """axe's serious and critical violations of the page as it stands, details opened (and
    the forms a KPI card loads when they are opened, loaded)."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.wait_for_function("() => !document.querySelector('.kpi__later')")
    violations = page.evaluate("axe.run({resultTypes: ['violations']}).then(r => r.violations)")
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(where: str, violation: dict) -> list[str]:
    lines = []
    for node in violation["nodes"][:4]:
        summary = " ".join(node.get("failureSummary", "").split())
        lines.append(
            f"{where}: {violation['id']} ({violation['impact']}) at "
            f"{' '.join(map(str, node['target']))}: {summary}"
        )
    if len(violation["nodes"]) > 4:
        lines.append(f"{where}: {violation['id']}: and {len(violation['nodes']) - 4} more")
    return lines


#: who looks (their username, or None) and at which pages: one test each, so that they run
#: side by side (make test)
VIEWERS = {
    "anonymous": (None, lambda: [("sign-in", "/accounts/login/", 200)]),
    "csi": ("csi", lambda: cir_pages() + [("import", reverse("improvement:register-import"), 200)]),
    "csi admin": ("csi", admin_pages),
    "tina": ("tina", cir_pages),
    "victor": ("victor", lambda: (
        [p for p in cir_pages() if p[0] not in ("propose", "propose duplicates")]
        + [("403", reverse("improvement:propose"), 403)]  # a viewer may not propose
    )),
}  # fmt: skip


@pytest.mark.parametrize("viewer", VIEWERS)
def test_no_serious_or_critical_violations_on_any_page(chromium, live_server, viewer):
    # given the demo register
    call_command("seed_demo", stdout=StringIO())
    browser, axe_script = chromium
    found: list[str] = []
    counts: dict[str, int] = {}

    def check(page, name: str, path: str, status: int, who: str) -> None:
        response = page.goto(path)
        assert response.status == status, f"{path} as {who}: {response.status}, not {status}"
        violations = blocking_violations(page)
        counts[f"{name} ({path}) as {who}"] = sum(len(v["nodes"]) for v in violations)
        for violation in violations:
            found.extend(describe(f"{name} ({path}) as {who}", violation))

    # when every page is shown to them at each width
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(30_000)
    context.add_init_script(script=axe_script)  # in every page the context opens
    page = context.new_page()
    username, pages_of = VIEWERS[viewer]
    if username:
        sign_in(page, username)
    pages = pages_of()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path, status in pages:
            check(page, name, path, status, f"{viewer} at {width} px")
    context.close()

    # then none has a serious or critical violation
    failing = {where: n for where, n in counts.items() if n}
    assert len(counts) == 2 * len(pages)
    assert not found, (
        f"{len(found)} serious or critical axe-core violations on {len(failing)} of "
        f"{len(counts)} page views:\n" + "\n".join(found)
    )
