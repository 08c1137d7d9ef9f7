"""The role groups exist and carry the model permissions the admin console needs."""

import pytest
from django.contrib.auth.models import Group

from improvement.choices import Role
from improvement.roles import sync_role_permissions

pytestmark = pytest.mark.django_db


def test_the_six_roles_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def _codenames(role: str) -> set[str]:
    return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))


def test_sync_gives_the_csi_manager_every_register_permission_including_later_models():
    # given a CSI manager group that lost its permissions (a model added after migration
    # 0002 created the groups starts like this)
    Group.objects.get(name=Role.CSI_MANAGER).permissions.clear()
    # when the sync runs (after every migrate)
    sync_role_permissions()
    # then it holds every permission of the register, the schedules and the API tokens
    codenames = _codenames(Role.CSI_MANAGER)
    for codename in ("add_initiative", "change_kpi", "view_kpicheck", "add_measurement",
                     "add_webhook", "view_webhookdelivery", "change_periodictask",
                     "delete_token", "view_user"):  # fmt: skip
        assert codename in codenames
    assert "change_user" not in codenames  # users: view only from the sync


@pytest.mark.parametrize("role", [r for r in Role if r != Role.CSI_MANAGER])
def test_sync_gives_other_roles_view_of_the_register_only(role):
    Group.objects.get(name=role).permissions.clear()
    sync_role_permissions()
    codenames = _codenames(role)
    assert {"view_initiative", "view_kpicheck"} <= codenames
    assert not {c for c in codenames if not c.startswith("view_")}
    # webhooks (their signing secrets, their deliveries) are the CSI manager's alone
    assert not {c for c in codenames if "webhook" in c}


def test_sync_runs_only_for_the_register_app():
    from django.apps import apps

    Group.objects.get(name=Role.VIEWER).permissions.clear()
    sync_role_permissions(sender=apps.get_app_config("auth"))
    assert _codenames(Role.VIEWER) == set()
    sync_role_permissions(sender=apps.get_app_config("improvement"))
    assert "view_initiative" in _codenames(Role.VIEWER)


def test_sync_is_idempotent():
    sync_role_permissions()
    before = {role: _codenames(role) for role in Role}
    sync_role_permissions()
    assert {role: _codenames(role) for role in Role} == before
