from django.apps import AppConfig


class ImprovementConfig(AppConfig):
    """The register: initiatives, the seven-step workflow, KPIs and their checks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "improvement"
    verbose_name = "Continual improvement register"
