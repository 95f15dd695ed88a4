"""Errors of the audit trail."""


class ImmutableRecordError(Exception):
    """An audit record was about to be changed or deleted.

    Audit records are append-only: corrections are new records (an override),
    never edits. Raised by the ORM guard; the database triggers refuse the
    same thing one level further down.
    """
