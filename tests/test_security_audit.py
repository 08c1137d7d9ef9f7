"""Nothing unaudited: overwriting a measurement, a measurement added in the admin, and every
webhook write (create, change, secret rotation, delete) leave history: who, when, what —
and a webhook's history never holds its secret."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from improvement import services
from improvement.choices import Step
from improvement.models import Measurement, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def kpi(initiative_at):
    return initiative_at(Step.ACTION).kpis.get()


def test_overwriting_a_measurement_keeps_the_old_and_the_new_value_with_who(kpi, csi, integration):
    at = timezone.now() - dt.timedelta(hours=1)
    # an ITSM tool posts a point in a batch (audited by its row) …
    services.measurements_record_bulk(
        actor=integration, rows=[{"kpi": kpi.key, "value": 9.0, "measured_at": at.isoformat()}]
    )
    point = Measurement.objects.get(kpi=kpi, measured_at=at)

    # … and someone overwrites it: same instant, new value
    services.measurements_record_bulk(
        actor=csi, rows=[{"kpi": kpi.key, "value": 3.0, "measured_at": at.isoformat()}]
    )

    history = list(point.history.order_by("history_date", "history_id"))
    assert [(h.history_type, h.value, h.history_user) for h in history] == [
        ("+", 9.0, integration),
        ("~", 3.0, csi),
    ]
    assert history[1].history_date >= history[0].history_date


def test_an_identical_resend_writes_no_history(kpi, integration):
    at = timezone.now() - dt.timedelta(hours=1)
    row = {"kpi": kpi.key, "value": 9.0, "measured_at": at.isoformat()}
    services.measurements_record_bulk(actor=integration, rows=[row])
    services.measurements_record_bulk(actor=integration, rows=[row])
    assert Measurement.history.count() == 0


def test_each_overwrite_adds_one_history_row(kpi, csi):
    at = timezone.now() - dt.timedelta(hours=1)
    for value in (1.0, 2.0, 3.0):
        services.measurement_record(
            kpi=kpi, actor=csi, points=[{"value": value, "measured_at": at}]
        )
    point = Measurement.objects.get(kpi=kpi, measured_at=at)
    assert [h.value for h in point.history.order_by("history_date", "history_id")] == [
        1.0,
        2.0,
        3.0,
    ]


def test_a_measurement_added_in_the_admin_has_history(client, csi, kpi):
    client.force_login(csi)
    at = timezone.localtime() - dt.timedelta(hours=2)
    response = client.post(
        reverse("admin:improvement_measurement_add"),
        {
            "kpi": kpi.pk,
            "value": "4.5",
            "measured_at_0": at.strftime("%d/%m/%Y"),
            "measured_at_1": at.strftime("%H:%M:%S"),
            "source": "admin",
            "note": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    point = Measurement.objects.get(kpi=kpi, source="admin")

    (entry,) = point.history.all()
    assert (entry.history_type, entry.value, entry.history_user) == ("+", 4.5, csi)
    history_page = client.get(reverse("admin:improvement_measurement_history", args=[point.pk]))
    assert history_page.status_code == 200


# --- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def allow_private(settings):
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True


def test_every_webhook_write_has_who_when_and_what(csi, make_user, allow_private):
    other = make_user("csi", username="mona")
    hook = services.webhook_create(actor=csi, name="ITSM", url="http://127.0.0.1:9/a")
    first_secret = hook.secret
    services.webhook_update(webhook=hook, actor=other, url="http://127.0.0.1:9/b")
    services.webhook_rotate_secret(webhook=hook, actor=csi)
    pk = hook.pk
    services.webhook_delete(webhook=hook, actor=other)

    history = list(Webhook.history.filter(id=pk).order_by("history_date", "history_id"))
    assert [(h.history_type, h.history_user) for h in history] == [
        ("+", csi),
        ("~", other),
        ("~", csi),
        ("-", other),
    ]
    assert history[1].url == "http://127.0.0.1:9/b"
    assert history[2].history_change_reason == "Signing secret rotated"
    assert history[2].secret_fingerprint != history[1].secret_fingerprint
    # the history never holds a secret
    assert not hasattr(history[0], "secret")
    assert first_secret not in str(history[0].__dict__)


def test_the_webhook_history_page_shows_no_secret(client, csi, allow_private):
    hook = services.webhook_create(actor=csi, name="ITSM", url="http://127.0.0.1:9/a")
    old_secret = hook.secret
    services.webhook_rotate_secret(webhook=hook, actor=csi)
    client.force_login(csi)

    page = client.get(reverse("admin:improvement_webhook_history", args=[hook.pk])).content
    text = page.decode()

    assert "Signing secret rotated" in text
    assert old_secret not in text and hook.secret not in text
    for entry in hook.history.all():
        detail = client.get(
            reverse("admin:improvement_webhook_simple_history", args=[hook.pk, entry.pk])
        ).content.decode()
        assert old_secret not in detail and hook.secret not in detail
