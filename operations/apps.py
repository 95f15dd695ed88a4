from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the product: health, deploy checks, timeouts, backups, logs."""

    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Deploy system checks, and the sign-in timestamp receiver.
        from operations import checks, sessions  # noqa: F401
