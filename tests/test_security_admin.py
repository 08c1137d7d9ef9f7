"""Who may use the admin console: webhooks and their signing secrets for CSI managers only,
no admin at all for the ITSM integration account, and superuser rights given only by a
superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from improvement import services
from improvement.choices import Role
from improvement.models import Webhook
from improvement.roles import sync_role_permissions

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def hook(csi, settings):
    settings.CIR_WEBHOOK_ALLOW_PRIVATE = True
    return services.webhook_create(actor=csi, name="ITSM", url="http://127.0.0.1:9/cir")


def staff(make_user, role):
    return make_user(role, is_staff=True)


WEBHOOK_PAGES = [
    ("changelist", False),
    ("change", True),
    ("add", False),
    ("history", True),
]


@pytest.mark.parametrize("role", ["viewer", "team", "service_owner", "process_owner"])
@pytest.mark.parametrize("page,with_pk", WEBHOOK_PAGES, ids=[p for p, _ in WEBHOOK_PAGES])
def test_staff_of_other_roles_never_see_a_webhook_or_its_secret(
    client, make_user, hook, role, page, with_pk
):
    client.force_login(staff(make_user, role))
    url = reverse(f"admin:improvement_webhook_{page}", args=[hook.pk] if with_pk else [])

    response = client.get(url)

    assert response.status_code == 403
    assert hook.secret not in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "team"])
def test_the_admin_index_does_not_list_webhooks_for_other_roles(client, make_user, hook, role):
    client.force_login(staff(make_user, role))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "/admin/improvement/webhook/" not in response.content.decode()
    assert "/admin/improvement/webhookdelivery/" not in response.content.decode()


def test_a_permission_given_by_hand_does_not_open_the_secrets(client, team_member, hook):
    team_member.is_staff = True
    team_member.save()
    team_member.user_permissions.add(
        *Permission.objects.filter(content_type__model__in=["webhook", "webhookdelivery"])
    )
    client.force_login(team_member)
    assert (
        client.get(reverse("admin:improvement_webhook_change", args=[hook.pk])).status_code == 403
    )
    assert client.get(reverse("admin:improvement_webhookdelivery_changelist")).status_code == 403
    response = client.post(
        reverse("admin:improvement_webhook_changelist"),
        {"action": "rotate_secret", "_selected_action": [hook.pk]},
    )
    assert response.status_code == 403
    assert Webhook.objects.get(pk=hook.pk).secret == hook.secret


@pytest.mark.parametrize("superuser", [False, True], ids=["csi manager", "superuser"])
def test_csi_managers_and_superusers_manage_webhooks_and_see_the_secret(
    client, csi, hook, make_user, superuser
):
    user = make_user(None, is_staff=True, is_superuser=True) if superuser else csi
    client.force_login(user)
    response = client.get(reverse("admin:improvement_webhook_change", args=[hook.pk]))
    assert response.status_code == 200
    assert hook.secret in response.content.decode()
    assert client.get(reverse("admin:improvement_webhookdelivery_changelist")).status_code == 200


def test_the_integration_account_cannot_use_the_admin(client, integration, hook):
    integration.is_staff = True
    integration.save()
    client.force_login(integration)

    for url in (
        reverse("admin:index"),
        reverse("admin:improvement_webhook_changelist"),
        reverse("admin:improvement_initiative_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_the_role_groups_hold_no_webhook_permission_but_the_csi_manager(db):
    # migration 0002 gave every role `view` on the whole register; the sync takes the
    # webhooks back from the roles that must not see them
    sync_role_permissions()
    for role in Role:
        codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        webhook_perms = {c for c in codenames if "webhook" in c}
        if role == Role.CSI_MANAGER:
            assert {"view_webhook", "change_webhook"} <= webhook_perms
        else:
            assert webhook_perms == set(), role


# --- superusers -----------------------------------------------------------------------------


def user_change_data(user, **changes):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
        "groups": [g.pk for g in user.groups.all()],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_csi_manager_cannot_make_anyone_a_superuser(client, csi, viewer):
    client.force_login(csi)
    url = reverse("admin:auth_user_change", args=[viewer.pk])
    permission = Permission.objects.get(codename="delete_user")

    response = client.post(
        url,
        user_change_data(
            viewer, is_staff="on", is_superuser="on", user_permissions=[permission.pk]
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    viewer.refresh_from_db()
    assert viewer.is_staff  # admin access is the CSI manager's to give …
    assert not viewer.is_superuser  # … superuser rights are not
    assert not viewer.user_permissions.exists()


def test_a_csi_manager_cannot_make_themself_a_superuser(client, csi):
    client.force_login(csi)
    client.post(
        reverse("admin:auth_user_change", args=[csi.pk]),
        user_change_data(csi, is_staff="on", is_superuser="on"),
    )
    csi.refresh_from_db()
    assert not csi.is_superuser


def test_a_csi_manager_cannot_change_a_superusers_account(client, csi, make_user):
    root = make_user(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(csi)

    change = client.post(
        reverse("admin:auth_user_change", args=[root.pk]),
        user_change_data(root, username="root", is_staff=None, is_superuser=None),
    )
    password = client.post(
        reverse("admin:auth_user_password_change", args=[root.pk]),
        {"password1": "Taken-over-2026!", "password2": "Taken-over-2026!"},
    )

    assert change.status_code == 403
    assert password.status_code in (403, 404)
    root.refresh_from_db()
    assert root.is_superuser and root.is_staff
    assert root.check_password("pass-1234")


def test_a_csi_manager_cannot_hand_permissions_to_a_role_group(client, csi):
    client.force_login(csi)
    group = Group.objects.get(name=Role.VIEWER)
    before = set(group.permissions.values_list("pk", flat=True))
    everything = list(Permission.objects.values_list("pk", flat=True))

    client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": group.name, "permissions": everything},
    )

    assert set(group.permissions.values_list("pk", flat=True)) == before


def test_a_superuser_may_make_a_superuser(client, make_user, viewer):
    root = make_user(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    response = client.post(
        reverse("admin:auth_user_change", args=[viewer.pk]),
        user_change_data(viewer, is_staff="on", is_superuser="on"),
    )
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.is_superuser
