from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API under /api/v1/: the pages' validation, services and roles, for other systems."""

    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from api import schema  # noqa: F401 - registers the token scheme with drf-spectacular
