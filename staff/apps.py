from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The bank's staff accounts: who holds which role, and every change to it, recorded.

    Above ``audit`` (each grant and revocation is written to the audit trail)
    and beside ``applications``; ``accounts`` below says what a role may do.
    """

    name = "staff"
    verbose_name = "Staff and their roles"
