"""Who may open the admin console: staff, but never the ITSM integration account.

Kept out of the `improvement.admin` package on purpose: the admin site class is loaded
while the app registry is being populated (AdminConfig.default_site), before the model
admins may be imported.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class CIRAdminSite(AdminSite):
    """The admin console: staff accounts, but never the ITSM integration's (SPEC §5: API
    only), unless it is a superuser."""

    def has_permission(self, request) -> bool:
        from improvement import permissions

        return permissions.may_use_admin(request.user)


class CIRAdminConfig(AdminConfig):
    """django.contrib.admin with CIR's admin site as `admin.site`."""

    default_site = "cir.adminsite.CIRAdminSite"
