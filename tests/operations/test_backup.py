"""``manage.py backup`` and the restore drill: back up a database holding scored
decisions, restore the copy somewhere else, and prove with ``verify_decisions
--replay`` (in a separate process pointed at the copy) that it is intact."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts import roles
from applications.models import LoanApplication
from audit.models import DecisionRecord
from tests.support.factories import UserFactory, application_form_data, submit_form

pytestmark = pytest.mark.django_db(transaction=True)  # a backup sees committed rows only


def _scored_applications(count: int = 3) -> list[LoanApplication]:
    officer = UserFactory(role=roles.OFFICER)
    stored = [
        submit_form(
            officer=officer,
            data=application_form_data(person_income=str(40000 + 7000 * i), applicant_reference=f"BK-{i}"),
        )
        for i in range(count)
    ]
    assert all(app.status == LoanApplication.Status.SCORED for app in stored)
    return stored


def _backup(output: Path) -> tuple[Path, str]:
    out = io.StringIO()
    call_command("backup", output=str(output), stdout=out)
    lines = out.getvalue().splitlines()
    path = Path(lines[0])
    sha = re.search(r"sha256 ([0-9a-f]{64})", lines[1]).group(1)
    assert path.parent == output and path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert not list(output.glob("*.partial"))
    return path, sha


def _verify(database_url: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "1",
        "SCORING_MODELS_STORE": str(settings.MODELS_STORE_DIR),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_decisions", "--replay"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    return result, summary


def test_backup_refuses_inside_a_transaction(tmp_path):
    from django.core.management import CommandError
    from django.db import transaction

    if connection.vendor != "sqlite":
        pytest.skip("pg_dump runs in its own session; the rule is for the SQLite connection we copy through")
    with transaction.atomic(), pytest.raises(CommandError, match="inside a transaction"):
        call_command("backup", output=str(tmp_path), stdout=io.StringIO())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite backup")
@pytest.mark.slow
def test_sqlite_restore_drill(tmp_path):
    stored = _scored_applications()
    path, _ = _backup(tmp_path / "backups")
    # Restore: the backup file is a complete database; copy it where a server would use it.
    restored = tmp_path / "restored.sqlite3"
    shutil.copyfile(path, restored)
    with sqlite3.connect(restored) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = copy.execute(
            "SELECT id, probability_of_default, decision FROM applications_loanapplication ORDER BY id"
        ).fetchall()
    assert rows == [(app.pk, app.probability_of_default, app.decision) for app in stored]
    result, summary = _verify(f"sqlite:///{restored}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary["chain_ok"] is True and summary["checked"] == DecisionRecord.objects.count() == 3
    assert summary["replayed"] == 3 and summary["mismatches"] == 0


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite backup")
@pytest.mark.slow
def test_a_tampered_restore_fails_verification(tmp_path):
    """The drill would notice a bad copy: the check is not vacuous."""
    _scored_applications(2)
    path, _ = _backup(tmp_path / "backups")
    with sqlite3.connect(path) as copy:
        for (trigger,) in copy.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            copy.execute(f'DROP TRIGGER "{trigger}"')
        table = DecisionRecord._meta.db_table
        copy.execute(
            f"UPDATE {table} SET probability_of_default = probability_of_default / 2 "
            f"WHERE id = (SELECT MIN(id) FROM {table})"
        )
    result, summary = _verify(f"sqlite:///{path}")
    assert result.returncode != 0
    assert summary["chain_ok"] is False


def test_backup_names_are_timestamped_and_never_overwritten(tmp_path):
    if connection.vendor == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed")
    first, _ = _backup(tmp_path)
    second, _ = _backup(tmp_path)
    assert first != second
    assert re.fullmatch(r"creditrisk-\d{8}T\d{12}Z\.(sqlite3|pgdump)", first.name)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL backup")
def test_postgresql_restore_drill(tmp_path):
    for tool in ("pg_dump", "pg_restore", "createdb", "dropdb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    from operations.backup import pg_environment

    stored = _scored_applications()
    path, _ = _backup(tmp_path / "backups")
    database = dict(connection.settings_dict)
    env = pg_environment(database)
    target = f"restore_drill_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", target], env=env, check=True, capture_output=True)
    try:
        restore = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", target, str(path)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert restore.returncode == 0, restore.stderr
        user = database.get("USER") or "postgres"
        host = database.get("HOST") or "127.0.0.1"
        port = database.get("PORT") or 5432
        password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
        result, summary = _verify(f"postgres://{user}{password}@{host}:{port}/{target}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert summary["chain_ok"] is True and summary["checked"] == len(stored)
        assert summary["replayed"] == len(stored) and summary["mismatches"] == 0
    finally:
        subprocess.run(["dropdb", "--if-exists", target], env=env, capture_output=True)
