"""infrastructure.sqlite_backend: writers queue on an OS lock that every transaction end releases;
WAL checkpoints run after it is released."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.utils import IntegrityError

from infrastructure.sqlite_backend import base as sqlite_backend
from infrastructure.sqlite_backend.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite backend only")


@pytest.fixture
def wrapper_factory(tmp_path: Path, django_db_blocker):
    made: list[DatabaseWrapper] = []
    settings_dict = {**connection.settings_dict, "NAME": str(tmp_path / "lock.sqlite3"), "TEST": {}}

    def build() -> DatabaseWrapper:
        wrapper = DatabaseWrapper(dict(settings_dict), alias=f"lock{len(made)}")
        made.append(wrapper)
        return wrapper

    with django_db_blocker.unblock():
        first = build()
        with first.cursor() as cursor:
            cursor.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        yield build, tmp_path / "lock.sqlite3-writer.lock"
        for wrapper in made:
            wrapper.close()


def _lock_is_free(lock_path: Path) -> bool:
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _begin(wrapper: DatabaseWrapper) -> None:
    wrapper.ensure_connection()
    wrapper._start_transaction_under_autocommit()


def test_a_transaction_holds_the_lock_until_commit(wrapper_factory):
    build, lock_path = wrapper_factory
    wrapper = build()
    _begin(wrapper)
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES ('a')")
    assert not _lock_is_free(lock_path)
    wrapper.commit()
    assert _lock_is_free(lock_path)


def test_rollback_and_close_release_the_lock(wrapper_factory):
    build, lock_path = wrapper_factory
    wrapper = build()
    _begin(wrapper)
    assert not _lock_is_free(lock_path)
    wrapper.rollback()
    assert _lock_is_free(lock_path)

    _begin(wrapper)
    with pytest.raises(IntegrityError), wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES ('dup')")
        cursor.execute("INSERT INTO item (name) VALUES ('dup')")
    assert not _lock_is_free(lock_path)
    wrapper.close()
    assert _lock_is_free(lock_path)


def test_a_second_writer_waits_and_is_woken_by_the_commit(wrapper_factory):
    build, _ = wrapper_factory
    first, second = build(), build()
    _begin(first)
    second_started = threading.Event()
    second_began_at: list[float] = []

    def second_writer() -> None:
        second.ensure_connection()
        # Without the queue, SQLite would answer "database is locked" at once.
        second.connection.execute("PRAGMA busy_timeout = 0")
        second_started.set()
        _begin(second)
        second_began_at.append(time.monotonic())
        with second.cursor() as cursor:
            cursor.execute("INSERT INTO item (name) VALUES ('second')")
        second.commit()

    # Each connection belongs to the thread that uses it.
    second.inc_thread_sharing()
    thread = threading.Thread(target=second_writer)
    thread.start()
    second_started.wait(5)
    time.sleep(0.3)
    assert not second_began_at, "the second writer got in while the first held the lock"
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES ('first')")
    committed_at = time.monotonic()
    first.commit()
    thread.join(5)
    second.dec_thread_sharing()
    assert second_began_at and second_began_at[0] >= committed_at
    assert second_began_at[0] - committed_at < 0.25
    with first.cursor() as cursor:
        cursor.execute("SELECT name FROM item ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["first", "second"]


def test_in_memory_databases_take_no_lock(django_db_blocker):
    with django_db_blocker.unblock():
        wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": ":memory:", "TEST": {}}, alias="memory")
        wrapper.ensure_connection()
        assert wrapper._writer_lock_fd is None
        _begin(wrapper)
        wrapper.commit()
        wrapper.close()


# --- Checkpoints after the lock --------------------------------------------------


def _wal_frames(database: Path) -> tuple[int, int]:
    """(frames in the WAL, frames already copied into the database), from the WAL index.

    The layout is SQLite's documented wal-index format (sqlite.org/walformat.html):
    ``mxFrame`` at byte 16 of the header, ``nBackfill`` at byte 96.
    """
    data = Path(f"{database}-shm").read_bytes()[:100]
    return struct.unpack_from("=I", data, 16)[0], struct.unpack_from("=I", data, 96)[0]


def _commit_one(wrapper: DatabaseWrapper, name: str) -> None:
    _begin(wrapper)
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", [name])
    wrapper.commit()


def test_checkpoints_run_after_the_lock_is_released(wrapper_factory, monkeypatch):
    build, lock_path = wrapper_factory
    database = Path(str(lock_path).removesuffix("-writer.lock"))
    monkeypatch.setattr(sqlite_backend, "CHECKPOINT_EVERY", 3)
    wrapper = build()
    wrapper.ensure_connection()
    # SQLite's own checkpoint would run inside COMMIT, under the lock.
    assert wrapper.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    lock_free_at_checkpoint: list[bool] = []
    original = DatabaseWrapper._checkpoint_if_due

    def spy(self) -> None:
        lock_free_at_checkpoint.append(_lock_is_free(lock_path))
        original(self)

    monkeypatch.setattr(DatabaseWrapper, "_checkpoint_if_due", spy)
    _commit_one(wrapper, "a")
    _commit_one(wrapper, "b")
    frames, copied = _wal_frames(database)
    assert frames > 0 and copied == 0  # two commits: nothing copied yet
    _commit_one(wrapper, "c")
    frames, copied = _wal_frames(database)
    assert frames > 0 and copied == frames  # the third commit checkpointed everything
    assert lock_free_at_checkpoint == [True, True, True]


def test_a_big_wal_is_checkpointed_whatever_the_count(wrapper_factory, monkeypatch):
    build, lock_path = wrapper_factory
    database = Path(str(lock_path).removesuffix("-writer.lock"))
    monkeypatch.setattr(sqlite_backend, "CHECKPOINT_WAL_PAGES", 2)
    wrapper = build()
    _commit_one(wrapper, "a")  # the first commit grows the WAL past two pages
    frames, copied = _wal_frames(database)
    assert frames > 2 and copied == frames


class _FailingCheckpoints:
    """The real connection, except that a checkpoint fails as on a full disk."""

    def __init__(self, connection) -> None:
        self._connection = connection

    def execute(self, sql, *args):
        if "wal_checkpoint" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return self._connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def test_a_failed_checkpoint_keeps_the_commit_and_is_logged(wrapper_factory, monkeypatch, caplog):
    build, _ = wrapper_factory
    monkeypatch.setattr(sqlite_backend, "CHECKPOINT_EVERY", 1)
    wrapper = build()
    wrapper.ensure_connection()
    wrapper.connection = _FailingCheckpoints(wrapper.connection)
    with caplog.at_level("WARNING", logger="infrastructure.sqlite_backend.base"):
        _commit_one(wrapper, "kept")
    assert "WAL checkpoint failed" in caplog.text
    reader = build()
    with reader.cursor() as cursor:
        cursor.execute("SELECT name FROM item")
        assert [row[0] for row in cursor.fetchall()] == ["kept"]
    wrapper.connection = wrapper.connection._connection
