from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """What an operator runs: health check, error pages, backups, deploy checks, logging."""

    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Registers the deploy checks (``manage.py check --deploy``).
        from operations import checks  # noqa: F401
