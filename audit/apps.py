from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: append-only decision, override and access records, and their verification."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from audit import sign_in_events

        user_logged_in.connect(sign_in_events.record_login, dispatch_uid="audit.record_login")
        user_logged_out.connect(sign_in_events.record_logout, dispatch_uid="audit.record_logout")
        user_login_failed.connect(sign_in_events.record_login_failure, dispatch_uid="audit.record_login_failure")
