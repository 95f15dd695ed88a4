"""Suite-wide pytest hooks: which tests run against which database.

Tests marked ``postgres`` need a PostgreSQL server and run only in the
PostgreSQL pass (``DATABASE_URL=postgres://... make test``); in the SQLite
pass they are skipped, saying so, even where a server happens to answer.
"""

from __future__ import annotations

import os

import pytest


def _database_is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _database_is_postgres():
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only: runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
