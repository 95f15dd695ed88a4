"""Django's SQLite backend, converting ``%s`` placeholders to ``?`` once per statement text.

Durability and write queueing are settings, not code: ``synchronous=FULL``
and WAL in ``DATABASES["default"]["OPTIONS"]``, and ``BEGIN IMMEDIATE`` with
a busy timeout so concurrent writers queue rather than fail.

Django's ``SQLiteCursorWrapper.convert_query`` rewrites the placeholders with
a regular expression on every execution. The ORM sends the same few
statement texts over and over (two long INSERTs on every submission), so the
conversion is a pure function of the SQL text worth remembering; the cache
is bounded, so SQL built with a varying number of placeholders cannot grow
it without limit. It overrides a private method: ``UPGRADING.md`` names the
test that catches a change in Django.
"""

from __future__ import annotations

import functools

from django.db.backends.sqlite3 import base


@functools.lru_cache(maxsize=1024)
def _format_to_qmark(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class QmarkCursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, remembering each statement's ``%s`` -> ``?`` conversion."""

    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _format_to_qmark(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        return self.connection.cursor(factory=QmarkCursorWrapper)
