"""``flush`` for the test suite, which knows about the append-only audit tables.

Django's test framework empties the database with ``flush`` after every
transactional test (``TransactionTestCase``, ``live_server``); the audit
triggers (and the applications table's, which keeps every row) rightly
refuse that DELETE/TRUNCATE. This command lifts the
triggers for the flush and puts them back, on a test database only (it
refuses anything else). It lives in the tests, installed only by
``tests.settings``: in the product, ``flush`` is Django's own, and the
triggers refuse it.
"""

from __future__ import annotations

from django.core import mail
from django.core.management import CommandError
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from applications.models import LoanApplication
from audit import db_triggers


def is_test_database(connection) -> bool:
    """True only inside Django's test environment on a test database."""
    if not hasattr(mail, "outbox"):  # set by setup_test_environment()
        return False
    name = str(connection.settings_dict.get("NAME") or "")
    test_name = str((connection.settings_dict.get("TEST") or {}).get("NAME") or "")
    return name.startswith(TEST_DATABASE_PREFIX) or "mode=memory" in name or (bool(test_name) and name == test_name)


class Command(DjangoFlush):
    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if not is_test_database(connection):
            raise CommandError(
                "flush refused: the audit trail is append-only and would be erased. "
                "(Test databases are flushed normally.)"
            )
        kept = (LoanApplication._meta.db_table,)  # never deleted in the product (applications migration 0005)
        db_triggers.drop(connection)
        db_triggers.drop_no_delete(connection, kept)
        try:
            return super().handle(**options)
        finally:
            db_triggers.install(connection)
            db_triggers.install_no_delete(connection, kept)
