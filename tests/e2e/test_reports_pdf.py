"""The printable reports in a real browser: the initiative report and the portfolio report
printed to PDF by headless Chromium (page.pdf, A4) carry the expected text on A4 pages,
and the print stylesheet hides the toolbar. Set CIR_REPORT_ARTIFACTS=<dir> to keep the
PDFs and a print-emulated screenshot of each report to look at."""

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from improvement import choices, services
from improvement.models import Measurement
from tests import factories
from tests.conftest import force_step

from . import pdftext
from .test_browser import people, sign_in  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

#: A4 in PostScript points (210 × 297 mm), as Chromium writes it (rounded to 1 pt)
A4 = (595.0, 842.0)


def _keep(name: str, data: bytes) -> None:
    folder = os.environ.get("CIR_REPORT_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(data)


@pytest.fixture
def reviewed(people):  # noqa: F811
    """An initiative in step 6 with a KPI measured and checked, and a benefit realised."""
    tina = people["tina"]
    initiative = factories.InitiativeFactory(title="Faster payroll restores", accountable=tina)
    initiative.responsible.add(tina)
    factories.VisionFactory(initiative=initiative, statement="Payroll back within the hour.")
    factories.BaselineFactory(initiative=initiative)
    factories.TargetFactory(initiative=initiative)
    factories.PlanFactory(initiative=initiative)
    factories.ActionFactory(
        initiative=initiative, title="Swarm on P1", status=choices.ActionStatus.DONE
    )
    kpi = factories.KPIFactory(
        initiative=initiative,
        name="Mean time to restore payroll",
        unit="h",
        baseline_date=dt.date.today() - dt.timedelta(days=120),
        target_date=dt.date.today() + dt.timedelta(days=60),
    )
    now = timezone.now()
    Measurement.objects.bulk_create(
        Measurement(kpi=kpi, value=v, measured_at=now - dt.timedelta(days=d))
        for d, v in ((100, 9.5), (70, 9.0), (40, 8.6), (10, 8.2), (1, 8.1))
    )
    services.kpis_check(kpi_ids=[kpi.pk])
    force_step(initiative, choices.Step.REVIEW)
    benefit = services.benefit_create(
        actor=tina,
        initiative=initiative,
        category=choices.BenefitCategory.TIME_SAVED,
        amount=Decimal("1200"),
        unit="hours",
        kpi=kpi,
        description="Payroll staff hours no longer lost",
    )
    services.benefit_realise(actor=tina, benefit=benefit, amount=Decimal("900"))
    return initiative


def _print(page, path: str, name: str) -> bytes:
    page.goto(path)
    page.emulate_media(media="print")
    _keep(f"{name}.png", page.screenshot(full_page=True))
    assert not page.locator(".report-toolbar").is_visible()  # hidden on paper
    data = page.pdf(format="A4", print_background=True)
    _keep(f"{name}.pdf", data)
    return data


def test_the_initiative_report_prints_to_a4_with_its_kpis_and_benefits(open_page, reviewed):
    page = open_page()
    sign_in(page, "victor")  # a viewer may present it too
    # the Present button of the review step opens the report
    page.goto(f"/initiatives/{reviewed.reference}/")
    page.locator("#step-review").get_by_role("link", name=re.compile("^Present")).click()
    page.wait_for_url(re.compile(rf"/initiatives/{reviewed.reference}/report/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Faster payroll restores"
    assert page.locator("svg.chart").count() == 1  # the KPI's chart

    data = _print(page, f"/initiatives/{reviewed.reference}/report/", "initiative-report")

    assert data.startswith(b"%PDF")
    sizes = pdftext.page_sizes(data)
    assert sizes, "no page in the PDF"
    for width, height in sizes:
        assert abs(width - A4[0]) < 2 and abs(height - A4[1]) < 2, (width, height)
    words = pdftext.text(data)
    for expected in ("Faster payroll restores", "Mean time to restore payroll", "Time saved",
                     "1,200 hours", "900 hours", "Payroll back within the hour."):  # fmt: skip
        assert expected.replace(" ", "") in words.replace(" ", ""), expected
    assert "Print or save as PDF".replace(" ", "") not in words.replace(" ", "")


def test_the_portfolio_report_prints_to_a4_with_its_counts_and_benefit_sums(open_page, reviewed):
    page = open_page()
    sign_in(page, "csi")
    page.goto("/portfolio/")
    page.get_by_role("link", name=re.compile("^Portfolio report")).click()
    page.wait_for_url(re.compile(r"/portfolio/report/$"))

    data = _print(page, "/portfolio/report/", "portfolio-report")

    sizes = pdftext.page_sizes(data)
    assert sizes and all(abs(w - A4[0]) < 2 and abs(h - A4[1]) < 2 for w, h in sizes), sizes
    words = pdftext.text(data).replace(" ", "")
    for expected in ("Portfolio report", "By PDCA phase", "Check", "Time saved", "1,200",
                     "900", "75 %"):  # fmt: skip
        assert expected.replace(" ", "") in words, expected
