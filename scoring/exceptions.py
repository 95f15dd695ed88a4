"""Errors the scoring engine raises to its callers."""


class ModelUnavailable(Exception):
    """The model cannot be used: missing, truncated, tampered or version-skewed.

    ``str(error)`` is a sentence an operator can act on. Callers must not fall
    back to another model: an application that cannot be scored is kept as
    pending and scored later (``manage.py score_pending``).
    """
