from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Model governance: which model version and which cut-offs serve, changed only with four eyes.

    The model registry (every version's manifest and usage), proposals to
    activate a version or adopt new cut-offs, their approval by a second
    admin, the serving state every process reads, and the cut-off simulator.
    Approved changes are recorded in the audit trail's governance chain.
    """

    name = "governance"
    verbose_name = "Model governance"
    default_auto_field = "django.db.models.BigAutoField"
