from django.apps import AppConfig


class BatchesConfig(AppConfig):
    """Batch files: a CSV of applications validated as a stream, scored on the task queue, with its results."""

    name = "batches"
    verbose_name = "Batch files"
    default_auto_field = "django.db.models.BigAutoField"
