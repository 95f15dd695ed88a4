"""Real queue workers for tests: a database of their own and ``manage.py`` subprocesses.

The suite's SQLite test database lives in memory, out of reach of another
process, so tests that need a real ``manage.py qcluster`` (a worker killed
with SIGKILL, say) get a ``Site``: a fresh SQLite file, or in the PostgreSQL
pass a fresh database on the same server, migrated, and driven through
``manage.py`` commands. Tasks run for real there: ``QUEUE_SYNC`` is off.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

SECRET = "w0rker-" + "Zq8r5tWv1xYb7nPc0mLd2sFg6hJk4aEo9uIy3" * 2


def _admin_execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


class Site:
    """One database with the product migrated into it, and processes working on it."""

    def __init__(self, tmp_path: Path, *, queue_timeout: int = 20, queue_retry: int = 25, workers: int = 1) -> None:
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen] = []
        base = os.environ.get("DATABASE_URL", "")
        self._drop: str | None = None
        if base.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(base)
            name = f"{parts.path.lstrip('/') or 'postgres'}_site_{secrets.token_hex(4)}"
            admin_url = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
            _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
            self._drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            self._admin_url = admin_url
            self.database_url = urlunsplit(parts._replace(path=f"/{name}"))
        else:
            self.database_url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "QUEUE_"))}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "creditsite.settings",
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": SECRET,
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "DATABASE_URL": self.database_url,
                "SCORING_MODELS_STORE": str(settings.MODELS_STORE_DIR),
                "QUEUE_SYNC": "0",
                "QUEUE_TIMEOUT_SECONDS": str(queue_timeout),
                "QUEUE_RETRY_SECONDS": str(queue_retry),
                "QUEUE_WORKERS": str(workers),
                "QUEUE_POLL_SECONDS": "0.2",
                # Chunks of a known size: a test's job spans the tasks it expects.
                "BATCH_CHUNK_ROWS": "1000",
                # The test modules' task functions must be importable by the worker.
                "PYTHONPATH": str(settings.BASE_DIR),
                "OMP_NUM_THREADS": "1",
            }
        )
        self.manage("migrate", "--noinput", "-v", "0")

    def manage(self, *args: str, timeout: float = 300) -> str:
        """Run ``manage.py args`` against this site's database; its stdout (raises on failure)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, code: str, timeout: float = 120) -> str:
        """Run ``code`` in ``manage.py shell``; its stdout."""
        return self.manage("shell", "-c", code, timeout=timeout)

    def start_worker(self) -> subprocess.Popen:
        """``manage.py qcluster`` in a process group of its own (the cluster and its worker processes)."""
        log = open(self.tmp_path / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115 - the process owns it
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_workers"],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL to the whole cluster at once (its master and worker processes): the power cord."""
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait(timeout=60)

    def stop_worker(self, worker: subprocess.Popen) -> None:
        """Stop the cluster as an operator would (SIGTERM to its master); SIGKILL if it hangs."""
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker(worker)
        try:  # anything the master left behind
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def worker_logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp_path.glob("worker-*.log")))

    def close(self) -> None:
        for worker in self.workers:
            self.stop_worker(worker)
        if self._drop:
            _admin_execute(self._admin_url, self._drop)


def wait_for(condition: Callable[[], bool], *, timeout: float, site: Site | None = None, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail with the workers' logs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = site.worker_logs() if site else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs[-4000:]}")
