"""``column IN (ids)`` as SQL for a list of integer ids, the cheapest way each database takes it.

SQLite: one placeholder per id (under its parameter limit: callers slice their lists). PostgreSQL: one
parameter, the ids as the text of an array literal cast to ``bigint[]``. psycopg parses a statement's
placeholders client side (a statement with 1,000 of them cost more than running it), and dumping a Python
list as an array runs a regular expression per element (0.33 s of client CPU for the 85 lists of one
incremental verification at 1,000,000 applications, docs/performance.md); the text is built in one join.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def ids_condition(connection: Any, column: str, ids: Iterable[int]) -> tuple[str, list[Any]]:
    """(``column`` is one of ``ids``, its parameters): SQL for ``connection``'s database; ``ids`` not empty."""
    values = [int(value) for value in ids]
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, values)) + "}"]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values
