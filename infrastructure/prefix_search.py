"""Case-insensitive prefix search on an index, the same on SQLite and PostgreSQL.

``LIKE 'abc%'`` uses an ordinary index on neither database as configured
(SQLite's LIKE is case-insensitive and so skips a BINARY index; PostgreSQL
needs a pattern-ops index and a C collation), and ``icontains`` reads every
row. Instead the column is indexed on ``SearchKey(column)``, its upper-case
form compared byte by byte (PostgreSQL: ``COLLATE "C"``; SQLite's default is
already binary), and a prefix becomes a range on that key:
``key >= 'ABC' AND key < 'ABD'``, which both databases answer from the index.

Upper-casing is SQL's ``UPPER``: ASCII letters on SQLite (every letter on
PostgreSQL), so a search is case-insensitive for ASCII and exact otherwise.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Func, Q


class SearchKey(Func):
    """``UPPER(column)``, compared in binary (code point) order: what a prefix range needs."""

    function = "UPPER"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = self.as_sql(compiler, connection, **extra_context)
        return f'({sql} COLLATE "C")', params


def prefix_range(alias: str, prefix: str) -> Q:
    """The condition "``alias`` (a ``SearchKey`` annotation) starts with ``prefix``", case-insensitively.

    Empty ``prefix``: no condition.
    """
    key = prefix.upper()
    if not key:
        return Q()
    # The smallest string greater than every string that starts with ``key``.
    above = key[:-1] + chr(ord(key[-1]) + 1)
    return Q(**{f"{alias}__gte": key, f"{alias}__lt": above})


def search_key(field: str) -> dict[str, Any]:
    """``alias(**search_key("applicant_reference"))`` names the key ``<field>_key``."""
    return {f"{field}_key": SearchKey(field)}
