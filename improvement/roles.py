"""Keeps the role groups' model permissions complete as models are added.

The groups themselves are created by migration 0002. After every `migrate`, the CSI
manager group gets every permission of the register (and of the schedules and API tokens),
and the other roles get `view` on the register, so a model added later is never missed —
except the webhooks (their signing secrets, their deliveries), which only CSI managers see:
a `view` on them given to another role (migration 0002 gave it) is taken back.
Permissions only open the admin console; what a user may do is decided by
improvement/permissions.py.
"""

from django.apps import apps as global_apps

from .choices import Role

FULL = {
    Role.CSI_MANAGER: ("improvement", "django_celery_beat", "authtoken"),
}
VIEW = {
    Role.CSI_MANAGER: ("auth",),
    Role.VIEWER: ("improvement",),
    Role.IMPROVEMENT_TEAM: ("improvement",),
    Role.SERVICE_OWNER: ("improvement",),
    Role.PROCESS_OWNER: ("improvement",),
    Role.ITSM_INTEGRATION: ("improvement",),
}
#: models of the register that only the CSI manager role holds permissions on
MANAGERS_ONLY = (
    "webhook", "webhookdelivery", "webhookattempt", "historicalwebhook",
    # a person's notifications and preferences are theirs
    "notification", "notificationpreference",
)  # fmt: skip


def sync_role_permissions(sender=None, *, apps=global_apps, **kwargs) -> None:
    """Grant each existing role group its permissions (idempotent; post_migrate).

    Runs once per migrate, after the register's own permissions were created.
    """
    if sender is not None and getattr(sender, "name", None) != "improvement":
        return
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    for role in Role:
        group = Group.objects.filter(name=role.value).first()
        if group is None:
            continue
        wanted = Permission.objects.none()
        for app_label in FULL.get(role, ()):
            wanted |= Permission.objects.filter(content_type__app_label=app_label)
        for app_label in VIEW.get(role, ()):
            wanted |= Permission.objects.filter(
                content_type__app_label=app_label, codename__startswith="view_"
            )
        if role != Role.CSI_MANAGER:
            managers_only = Permission.objects.filter(
                content_type__app_label="improvement", content_type__model__in=MANAGERS_ONLY
            )
            wanted = wanted.exclude(pk__in=managers_only)
            group.permissions.remove(*managers_only)
        group.permissions.add(*wanted)
