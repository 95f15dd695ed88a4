"""Errors the scoring engine raises to its callers."""


class ModelUnavailable(Exception):
    """The model cannot be used: missing, truncated, tampered or version-skewed.

    ``str(error)`` is a sentence an operator can act on. Callers must not fall
    back to another model: an application that cannot be scored is kept as
    pending and scored later (``manage.py score_pending``).
    """


class ReferenceUnavailable(Exception):
    """A model's drift reference (training bins) is absent, or present but not the one its model vouches for.

    ``str(error)`` says which and what to run; drift is then not shown for that
    version rather than measured against bins nobody can vouch for.
    """
