from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    """The loan officer workbench: applications, their scores and history."""

    name = "applications"
    verbose_name = "Loan applications"
    default_auto_field = "django.db.models.BigAutoField"
