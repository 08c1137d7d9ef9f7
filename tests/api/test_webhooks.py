"""Webhooks over the API: CSI managers register them, see their secret and deliveries."""

from __future__ import annotations

import uuid

from django.utils import timezone

from improvement.models import Event, Webhook, WebhookAttempt, WebhookDelivery

from .support import World
from .support import world as _world

world = _world  # the shared fixture (a binding, so parameters may shadow it)


def test_register_a_webhook_and_read_its_secret(world: World):
    client = world.client("csi")
    response = client.post(
        "/api/v1/webhooks/",
        {
            "name": "ServiceNow",
            "url": "http://127.0.0.1:8765/cir",
            "event_types": ["kpi.reverted", "initiative.transitioned", "kpi.reverted"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["secret"].startswith("whsec_")
    assert data["event_types"] == ["initiative.transitioned", "kpi.reverted"]
    assert data["created_by"] == "csi"
    assert client.get(f"/api/v1/webhooks/{data['id']}/").json()["secret"] == data["secret"]


def test_private_urls_are_refused_unless_the_operator_allows_them(world: World, settings):
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = False
    client = world.client("csi")
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "http://0.0.0.0/hook",
    ):
        response = client.post("/api/v1/webhooks/", {"name": "x", "url": url}, format="json")
        assert response.status_code == 400, url
        assert "private" in response.json()["errors"]["url"][0], url
    # and on update too
    response = client.patch(
        f"/api/v1/webhooks/{world.webhook.pk}/", {"url": "http://192.168.1.1/"}, format="json"
    )
    assert response.status_code == 400


def test_public_ip_urls_are_accepted(world: World, settings):
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = False
    response = world.client("csi").post(
        "/api/v1/webhooks/", {"name": "x", "url": "https://93.184.215.14/hook"}, format="json"
    )
    assert response.status_code == 201, response.json()


def test_rotate_secret(world: World):
    old = world.webhook.secret
    response = world.client("csi").post(f"/api/v1/webhooks/{world.webhook.pk}/rotate-secret/")
    assert response.status_code == 200
    assert response.json()["secret"] != old
    world.webhook.refresh_from_db()
    assert world.webhook.secret == response.json()["secret"]


def test_deliveries_show_every_attempt(world: World):
    event = Event.objects.create(id=uuid.uuid4(), type="initiative.created", payload={"id": 1})
    delivery = WebhookDelivery.objects.create(webhook=world.webhook, event=event, attempt_count=2)
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, at=now, status_code=500, latency_ms=12
    )
    WebhookAttempt.objects.create(
        delivery=delivery, number=2, at=now, status_code=200, latency_ms=8, succeeded=True
    )
    data = world.client("csi").get(f"/api/v1/webhooks/{world.webhook.pk}/deliveries/").json()
    (found,) = data["results"]
    assert found["event_type"] == "initiative.created"
    assert found["event_id"] == str(event.id)
    assert [a["status_code"] for a in found["attempts"]] == [500, 200]


def test_delete_a_webhook(world: World):
    assert world.client("csi").delete(f"/api/v1/webhooks/{world.webhook.pk}/").status_code == 204
    assert not Webhook.objects.exists()
