from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Portfolio monitoring: volumes, decision mix, drift, back-testing and fairness (issue 18)."""

    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"
