"""The opportunities page, promoting from it, and the import with its progress page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from improvement.models import KPI, Initiative, ITSMImport, ITSMRecord

from ..itsm.reference import SAMPLE
from .conftest import HTMX, text, url

PERIOD = {"start": "2026-08-31", "end": "2026-11-28"}


@pytest.fixture
def imported(csi, django_capture_on_commit_callbacks, client_for):
    client = client_for(csi)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("itsm-import-new"),
            {"file": SimpleUploadedFile("export.csv", SAMPLE.read_bytes()),
             "system": "servicenow", "kind": "incident"},
        )  # fmt: skip
    assert response.status_code == 302, text(response)
    return ITSMImport.objects.get()


def test_import_runs_as_a_task_and_its_page_shows_the_answer(imported, client_for, csi):
    assert imported.status == "done" and imported.progress == 100
    assert imported.result["records"] == 180 and imported.content in (b"", memoryview(b""))
    assert ITSMRecord.objects.count() == 180
    page = text(client_for(csi).get(url("itsm-import", imported.pk)))
    assert "180 records, 180 created" in page
    # while it runs, the part polls itself; finished, it stops polling
    part = client_for(csi).get(url("itsm-import", imported.pk), **HTMX)
    assert "<html" not in text(part) and "hx-trigger" not in text(part)


def test_a_running_import_polls_its_progress(csi, client_for):
    job = ITSMImport.objects.create(created_by=csi, system="servicenow", kind="incident",
                                    status="running", progress=40)  # fmt: skip
    part = text(client_for(csi).get(url("itsm-import", job.pk), **HTMX))
    assert 'hx-trigger="every 1s"' in part and 'value="40"' in part


def test_a_bad_import_form_is_422_and_keeps_nothing(csi, client_for):
    response = client_for(csi).post(
        url("itsm-import-new"),
        {"file": SimpleUploadedFile("x.csv", b"a"), "system": "bad system!", "kind": "incident"},
    )
    assert response.status_code == 422 and "short name" in text(response)
    assert not ITSMImport.objects.exists()


def test_a_failed_import_says_why_and_writes_nothing(
    csi, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(csi).post(
            url("itsm-import-new"),
            {"file": SimpleUploadedFile("x.csv", b"number\n1\n"), "system": "servicenow",
             "kind": "incident"},
        )  # fmt: skip
    job = ITSMImport.objects.get()
    assert job.status == "failed" and "opened_at" in job.error
    assert not ITSMRecord.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "team"])
def test_only_csi_managers_import_in_the_browser(make_user, client_for, role):
    assert client_for(make_user(role)).get(url("itsm-import-new")).status_code == 403


def test_the_page_ranks_the_groups_for_a_viewer_without_promote(
    imported, make_user, client_for, django_assert_num_queries
):
    client = client_for(make_user("viewer"))
    # session, user, roles 3; two grouped queries; coverage 2
    with django_assert_num_queries(8):  # + the header's unread notifications
        response = client.get(url("opportunities"), {"dimension": "subcategory", **PERIOD})
    page = text(response)
    assert response.status_code == 200
    assert page.index('data-group="VPN"') < page.index('data-group="Oracle"')
    assert "Ranked 1 of 6" in page and "Promote" not in page


def test_promote_from_the_page(imported, csi, client_for):
    client = client_for(csi)
    assert "Promote" in text(
        client.get(url("opportunities"), {"dimension": "subcategory", **PERIOD})
    )
    response = client.post(
        url("promote"),
        {"dimension": "subcategory", "group": "VPN", "kind": "incident", "system": "",
         "metric": "reopen_rate", **PERIOD},
    )  # fmt: skip
    initiative = Initiative.objects.get()
    assert response.status_code == 302 and initiative.reference in response["Location"]
    kpi = KPI.objects.get()
    assert kpi.derived and kpi.baseline_value > 0
    page = text(client.get(url("opportunities"), {"dimension": "subcategory", **PERIOD}))
    assert f'covered by <a href="/initiatives/{initiative.reference}/">' in page


def test_promote_an_empty_group_says_why(imported, csi, client_for):
    response = client_for(csi).post(
        url("promote"),
        {"dimension": "subcategory", "group": "Nothing", "kind": "incident", "metric":
         "reopen_rate", **PERIOD},
        follow=True,
    )  # fmt: skip
    assert "no records in the period" in text(response)
    assert not Initiative.objects.exists()


def test_viewers_cannot_promote(imported, make_user, client_for):
    response = client_for(make_user("viewer")).post(
        url("promote"), {"dimension": "subcategory", "group": "VPN", "kind": "incident",
                         "metric": "reopen_rate", **PERIOD},
    )  # fmt: skip
    assert response.status_code == 403 and not Initiative.objects.exists()


def test_a_derived_kpi_offers_no_measurement_form_and_refuses_one(imported, csi, client_for):
    client = client_for(csi)
    client.post(
        url("promote"),
        {"dimension": "subcategory", "group": "VPN", "kind": "incident", "metric": "reopen_rate",
         **PERIOD},
    )  # fmt: skip
    kpi = KPI.objects.get()
    page = text(client.get(url("initiative", kpi.initiative.reference)))
    assert "measured from ITSM records" in page and "Record a measurement" not in page
    count = kpi.measurements.count()
    response = client.post(
        url("measurement-create", kpi.initiative.reference, kpi.pk),
        {"value": "1", "measured_at": "2026-11-20T09:00"},
        **HTMX,
    )
    assert response.status_code in (409, 422) and "derived from ITSM records" in text(response)
    assert kpi.measurements.count() == count


def test_the_admin_shows_a_derived_kpis_points_read_only(imported, make_user, client_for):
    from improvement import services

    admin_user = make_user("csi", username="boss", is_staff=True)
    client = client_for(admin_user)
    client.post(
        url("promote"),
        {"dimension": "subcategory", "group": "VPN", "kind": "incident", "metric": "reopen_rate",
         **PERIOD},
    )  # fmt: skip
    point = KPI.objects.get().measurements.first()
    page = text(client.get(f"/admin/improvement/measurement/{point.pk}/change/"))
    assert 'name="value"' not in page and "_save" not in page
    assert services is not None


def test_an_import_left_queued_is_started_by_its_periodic_job(csi, client_for):
    import datetime as dt

    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from cir.celery import app as celery_app

    # given an import kept two minutes ago whose task never reached a worker
    job = ITSMImport.objects.create(created_by=csi, system="servicenow", kind="incident",
                                    content=SAMPLE.read_bytes())  # fmt: skip
    ITSMImport.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    # when beat (or the embedded scheduler) runs its periodic job, every minute
    periodic = PeriodicTask.objects.get(name="Start imports left queued")
    assert periodic.enabled and (periodic.interval.every, periodic.interval.period) == (
        1, "minutes",
    )  # fmt: skip
    assert celery_app.tasks[periodic.task].delay().get() == 1
    # then the import ran, and its page shows the answer
    job.refresh_from_db()
    assert job.status == "done"
    assert "180 records, 180 created" in text(client_for(csi).get(url("itsm-import", job.pk)))
