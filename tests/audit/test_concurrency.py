"""Parallel writer processes append one valid chain: no forks, no gaps (SQLite and PostgreSQL).

Each writer is a separate Python process running the real submission path
(``submit_application``: validate, score, store, append the decision record)
against a database file (or PostgreSQL database) of its own for this test,
migrated from scratch, so the locking is exercised exactly as gunicorn
workers (or several servers) would exercise it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

WRITERS = 8
PER_WRITER = 200
BASE_DIR = Path(settings.BASE_DIR)

WRITER = textwrap.dedent("""
    import os, sys, time, traceback
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from tests.support.factories import submit_form
    from tests.support.factories import application_form_data
    number, count, start_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    officer = get_user_model().objects.get(username="writer")
    open(start_file + f".ready{number}", "w").close()
    while not os.path.exists(start_file):
        time.sleep(0.01)
    try:
        for i in range(count):
            app = submit_form(officer=officer, data=application_form_data(
                applicant_reference=f"W{number}-{i}", loan_amnt=str(1000 + 37 * i + number)))
            assert app.status == "SCORED", app.scoring_error
    except Exception:
        traceback.print_exc()
        sys.exit(1)
""")

SETUP = textwrap.dedent("""
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    get_user_model().objects.create_user(username="writer", password="not-used-0123456789")
""")


def child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "creditsite.settings",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "audit-concurrency-test-" + "k" * 40,
            "SCORING_MODELS_STORE": str(settings.MODELS_STORE_DIR),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def migrated_env(database_url: str) -> dict[str, str]:
    """Environment for child processes on ``database_url``, migrated and set up."""
    env = child_env(database_url)
    for args in ([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], [sys.executable, "-c", SETUP]):
        done = run(args, env)
        assert done.returncode == 0, done.stderr[-3000:]
    return env


def start_together(code: str, count: int, argument: int, env: dict[str, str], tmp_path: Path) -> list[subprocess.Popen]:
    """Start ``count`` processes running ``code`` and release them at the same instant.

    Each gets ``(its number, argument, start file)``; it touches
    ``<start file>.ready<n>`` when set up and waits for the start file, so
    the race begins only once every process is ready.
    """
    start_file = str(tmp_path / f"go-{uuid.uuid4().hex}")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(n), str(argument), start_file],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 120
    while not all(os.path.exists(f"{start_file}.ready{n}") for n in range(count)):
        assert time.monotonic() < deadline, "processes did not start"
        assert all(p.poll() is None for p in processes), [
            p.communicate()[1][-2000:] for p in processes if p.poll() is not None
        ]
        time.sleep(0.05)
    Path(start_file).touch()  # all go at once
    return processes


def hammer(database_url: str, tmp_path: Path) -> dict:
    """Migrate, start WRITERS processes together, wait, verify; return the verify summary."""
    env = migrated_env(database_url)
    writers = start_together(WRITER, WRITERS, PER_WRITER, env, tmp_path)
    errors = []
    for writer in writers:
        _, stderr = writer.communicate(timeout=600)
        if writer.returncode != 0:
            errors.append(stderr[-3000:])
    assert not errors, "\n".join(errors)
    done = run([sys.executable, "manage.py", "verify_decisions"], env)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return summary


@pytest.mark.slow
def test_parallel_writer_processes_build_one_chain_on_sqlite(tmp_path):
    database = tmp_path / "concurrency.sqlite3"
    summary = hammer(f"sqlite:///{database}", tmp_path)
    assert summary["checked"] == WRITERS * PER_WRITER
    assert summary["chain_ok"] is True and summary["first_bad_id"] is None
    with sqlite3.connect(database) as db:
        count, distinct, low, high, apps = db.execute(
            "SELECT count(*), count(DISTINCT previous_hash), min(sequence), max(sequence), count(DISTINCT application_id) "
            "FROM audit_decisionrecord"
        ).fetchone()
        applications = db.execute("SELECT count(*) FROM applications_loanapplication").fetchone()[0]
    assert (count, distinct, low, high, apps, applications) == (1600, 1600, 1, 1600, 1600, 1600)


@pytest.mark.slow
@pytest.mark.postgres
def test_parallel_writer_processes_build_one_chain_on_postgres(postgres_database, tmp_path):
    import psycopg

    summary = hammer(postgres_database, tmp_path)
    assert summary["checked"] == WRITERS * PER_WRITER and summary["chain_ok"] is True
    with psycopg.connect(postgres_database) as db:
        row = db.execute(
            "SELECT count(*), count(DISTINCT previous_hash), min(sequence), max(sequence), count(DISTINCT application_id) "
            "FROM audit_decisionrecord"
        ).fetchone()
    assert row == (1600, 1600, 1, 1600, 1600)
