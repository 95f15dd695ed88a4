"""Consistent online backups of the product database.

SQLite: ``sqlite3.Connection.backup`` copies a consistent snapshot while
the server keeps writing (a plain file copy of a WAL database can miss
committed pages still in the WAL). PostgreSQL: ``pg_dump --format=custom``,
one consistent snapshot, restorable with ``pg_restore``. Each backup is
written under a temporary name, fsynced and then renamed, so a crash never
leaves a file that looks complete but is not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connections


def _sha256_of_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class BackupError(Exception):
    """The backup could not be made; ``str()`` says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    sha256: str
    size: int
    vendor: str


def _fsync_and_publish(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def backup_sqlite(alias: str, target: Path) -> None:
    """Copy through Django's own connection (works for files and the in-memory test database)."""
    wrapper = connections[alias]
    wrapper.ensure_connection()
    if wrapper.in_atomic_block:
        raise BackupError("refusing to back up from inside a transaction: the copy would include uncommitted rows")
    copy = sqlite3.connect(target)
    try:
        wrapper.connection.backup(copy, pages=1024)
        # The copy is a standalone file: no WAL beside it to lose.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    check = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        raise BackupError(f"the SQLite copy failed its integrity check: {result}")


def pg_environment(database: Mapping[str, Any]) -> dict[str, str]:
    """libpq variables for the Django database settings (no password on the command line)."""
    env = dict(os.environ)
    mapping = {"HOST": "PGHOST", "PORT": "PGPORT", "USER": "PGUSER", "PASSWORD": "PGPASSWORD", "NAME": "PGDATABASE"}
    for key, variable in mapping.items():
        value = database.get(key)
        if value not in (None, ""):
            env[variable] = str(value)
    return env


def backup_postgresql(alias: str, target: Path) -> None:
    database = connections[alias].settings_dict
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    completed = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(target)],
        env=pg_environment(database),
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {completed.stderr.strip()}")


def make_backup(*, output_dir: Path, alias: str = "default", now: datetime | None = None) -> BackupResult:
    """Back up database ``alias`` into ``output_dir``; returns path and SHA-256."""
    vendor = connections[alias].vendor
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    output_dir.mkdir(parents=True, exist_ok=True)
    if vendor == "sqlite":
        final = output_dir / f"creditrisk-{stamp}.sqlite3"
        writer = backup_sqlite
    elif vendor == "postgresql":
        final = output_dir / f"creditrisk-{stamp}.pgdump"
        writer = backup_postgresql
    else:
        raise BackupError(f"no backup method for the {vendor} database")
    if final.exists():
        raise BackupError(f"{final} already exists")
    tmp = final.with_name(final.name + ".partial")
    try:
        writer(alias, tmp)
        _fsync_and_publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=final, sha256=_sha256_of_file(final), size=final.stat().st_size, vendor=vendor)
