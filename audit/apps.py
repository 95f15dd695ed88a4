from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: append-only decision, override and access records."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Login / failed-login signal receivers live in audit.signals.
        from django.db.models.signals import post_migrate

        from audit import signals

        post_migrate.connect(signals.grant_role_permissions, sender=self)
