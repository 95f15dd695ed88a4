"""Fixtures for the audit tests: a fresh, migrated PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest


def _server_url() -> tuple[str, bool]:
    configured = os.environ.get("AUDIT_POSTGRES_URL") or ""
    database_url = os.environ.get("DATABASE_URL", "")
    required = bool(configured) or database_url.startswith(("postgres://", "postgresql://", "pgsql://"))
    url = configured or (database_url if required else "postgres://postgres@127.0.0.1:5432/postgres")
    return url.replace("pgsql://", "postgres://", 1), required


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="module")
def postgres_database():
    """URL of a fresh, migrated PostgreSQL database (dropped afterwards)."""
    import psycopg

    url, required = _server_url()
    admin_url = _with_database(url, "postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if required:
            pytest.fail(f"PostgreSQL is configured but unreachable at {admin_url}: {error}")
        pytest.skip(f"no PostgreSQL server at {admin_url} and the suite is not configured for one")
    name = f"audit_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = _with_database(url, name)
    try:
        from tests.audit.test_concurrency import BASE_DIR, child_env

        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=child_env(database_url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield database_url
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
