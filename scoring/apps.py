from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """The credit-risk model: feature schema, training, model store, serving.

    Nothing is loaded at import or app-ready time: the model is loaded lazily
    on first use (or explicitly at worker start), so management commands and
    migrations never depend on a model file.
    """

    name = "scoring"
    verbose_name = "Scoring engine"
