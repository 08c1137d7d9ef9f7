"""The role groups exist and carry the model permissions the admin console needs."""

import pytest
from django.contrib.auth.models import Group

from improvement.choices import Role
from improvement.roles import sync_role_permissions

pytestmark = pytest.mark.django_db


def test_the_six_roles_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_csi_manager_holds_every_register_permission_including_later_models():
    codenames = set(
        Group.objects.get(name=Role.CSI_MANAGER).permissions.values_list("codename", flat=True)
    )
    for codename in ("add_initiative", "change_kpi", "view_kpicheck", "add_measurement",
                     "add_webhook", "view_webhookdelivery", "change_periodictask"):  # fmt: skip
        assert codename in codenames


@pytest.mark.parametrize("role", [r for r in Role if r != Role.CSI_MANAGER])
def test_other_roles_only_view_the_register(role):
    codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
    assert "view_initiative" in codenames
    assert "view_kpicheck" in codenames
    assert not {c for c in codenames if not c.startswith("view_")}


def test_sync_is_idempotent():
    group = Group.objects.get(name=Role.CSI_MANAGER)
    before = group.permissions.count()
    sync_role_permissions()
    sync_role_permissions()
    assert group.permissions.count() == before
