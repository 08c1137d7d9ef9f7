"""The webhook admin (improvement/admin/webhooks.py): receivers written through the webhook
services, whose refusals are page messages, never server errors."""

import uuid

import pytest
from django.contrib.auth.models import Permission

from improvement import services
from improvement.models import Event, Webhook, WebhookDelivery

from .support import admin_url, texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(csi, settings):
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    return services.webhook_create(actor=csi, name="ITSM", url="http://127.0.0.1:9/cir")


@pytest.fixture
def staff_client(client, team_member, settings):
    """A staff user who is no CSI manager but was given the admin's webhook rights."""
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    team_member.is_staff = True
    team_member.save()
    team_member.user_permissions.add(
        *Permission.objects.filter(
            content_type__model="webhook", content_type__app_label="improvement"
        )
    )
    client.force_login(team_member)
    return client


def test_a_webhook_save_by_another_role_is_refused_and_saves_nothing(staff_client):
    # webhooks are the CSI manager's alone, whatever permissions were given by hand
    data = {"name": "Shadow", "url": "http://127.0.0.1:9/shadow", "active": "on"}
    response = staff_client.post(admin_url(Webhook, "add"), data)
    assert response.status_code == 403
    assert not Webhook.objects.filter(name="Shadow").exists()


def test_a_webhook_deletion_by_another_role_is_refused(staff_client, hook):
    response = staff_client.post(admin_url(Webhook, "delete", hook.pk), {"post": "yes"})
    assert response.status_code == 403
    assert Webhook.objects.filter(pk=hook.pk).exists()


def test_a_secret_rotation_by_another_role_is_refused(staff_client, hook):
    secret = hook.secret
    response = staff_client.post(
        admin_url(Webhook, "changelist"), {"action": "rotate_secret", "_selected_action": [hook.pk]}
    )
    assert response.status_code == 403
    hook.refresh_from_db()
    assert hook.secret == secret


def test_a_csi_manager_rotates_the_secret(csi_client, hook):
    secret = hook.secret
    response = csi_client.post(
        admin_url(Webhook, "changelist"), {"action": "rotate_secret", "_selected_action": [hook.pk]}
    )
    assert "1 secret(s) rotated." in texts(response)
    hook.refresh_from_db()
    assert hook.secret != secret


def test_a_delivery_retry_by_another_role_is_refused(staff_client, hook):
    event = Event.objects.create(id=uuid.uuid4(), type="initiative.created", payload={"id": 1})
    delivery = WebhookDelivery.objects.create(webhook=hook, event=event, status="failed")
    response = staff_client.post(
        admin_url(WebhookDelivery, "changelist"),
        {"action": "retry_now", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "failed"
