from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    """The review workflow: the queue, claims, decisions with reason codes, four eyes, delegated limits."""

    name = "reviews"
    verbose_name = "Review workflow"
    default_auto_field = "django.db.models.BigAutoField"
