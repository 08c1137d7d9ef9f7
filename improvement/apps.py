from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ImprovementConfig(AppConfig):
    """The register: initiatives, the seven-step workflow, KPIs and their checks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "improvement"
    verbose_name = "Continual improvement register"

    def ready(self) -> None:
        from .roles import sync_role_permissions

        # after every migrate: new models' permissions reach the role groups
        post_migrate.connect(sync_role_permissions, dispatch_uid="cir-sync-role-permissions")
