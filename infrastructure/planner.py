"""Planner statistics after a bulk write (PostgreSQL).

PostgreSQL plans from the statistics ``ANALYZE`` gathers; autovacuum refreshes
them in time, but this server runs without it (and even with it there is a lag).
After tens of thousands of rows written in one go (a batch file, ``seed_demo``) the
planner still takes the tables for their old size and picks plans made for
small tables: ``verify_decisions`` after a large batch ran its
never-reviewed statement as a per-application backward scan that did not
finish (docs/performance.md). ``ANALYZE`` reads a fixed-size sample of each
table (300 x ``default_statistics_target`` rows), so its cost stays bounded
however large the table grows. SQLite plans without gathered statistics here:
nothing to do there.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, models


def refresh_planner_statistics(tables: Iterable[type[models.Model]], *, using: str = "default") -> list[str]:
    """``ANALYZE`` each model's table on PostgreSQL; returns the tables analysed (none on other databases).

    Runs inside or outside a transaction (unlike ``VACUUM``).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    analysed = []
    with connection.cursor() as cursor:
        for model in tables:
            table = model._meta.db_table
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
            analysed.append(table)
    return analysed
