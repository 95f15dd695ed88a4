"""Django's SQLite backend with a writer queue, checkpoints outside it, and placeholders converted once.

Durability is a setting, not code: WAL with ``synchronous=FULL`` and
``BEGIN IMMEDIATE`` in ``DATABASES["default"]["OPTIONS"]``. This backend
changes how writers *wait*:

* **Writer queue.** SQLite lets one writer in at a time; a second writer is
  put to sleep by SQLite's busy handler for 1, 2, 5, 10... milliseconds and
  retries, so after a commit it wakes long after the lock came free, and
  the core it runs on sits idle meanwhile. Here each transaction first takes
  an exclusive ``flock`` on ``<database>-writer.lock``; the kernel wakes the
  next writer the moment the previous one commits. Measured under
  ``make bench-load``: the cores' idle share during submissions is a third
  lower with the queue (docs/performance.md). ``BEGIN IMMEDIATE`` and the
  busy timeout stay for writers outside this backend (``dbshell``, a backup)
  and for autocommit writes. The lock is released when the transaction ends
  or the connection closes; if the process dies, the kernel releases it.
  In-memory databases (the test suite's default) have no file and take no lock.
* **Checkpoints outside the queue.** SQLite runs its automatic WAL
  checkpoint inside the COMMIT that crosses 1,000 pages, while this backend
  still holds the queue, so every other writer would wait for the page copy
  and its fsync. Here SQLite's automatic checkpoint is off and the
  committing connection runs a PASSIVE checkpoint right after releasing the
  queue, every ``CHECKPOINT_EVERY`` commits or when the WAL has grown too
  big. Each COMMIT still fsyncs the WAL: durability is unchanged.
* **Placeholders converted once** per distinct SQL text
  (``QmarkCursorWrapper``) instead of by regular expression on every execution.

It overrides private methods of Django's SQLite ``DatabaseWrapper``:
``UPGRADING.md`` names the tests that catch a change in Django.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3

from django.db.backends.sqlite3 import base

# This connection's commits between its checkpoints. A submission writes ~20
# WAL pages, so 50 is about SQLite's own default of 1,000 pages; with several
# writers each checkpoints every 50 of its own commits.
CHECKPOINT_EVERY = 50
# And whatever the count, once the WAL file holds more than this many pages
# (many writers that each commit rarely). journal_size_limit truncates the
# file back to this size whenever the WAL restarts, so its size says how much
# is in use.
CHECKPOINT_WAL_PAGES = 4000

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1024)
def _format_to_qmark(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class QmarkCursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, remembering each statement's ``%s`` -> ``?`` conversion.

    Django rewrites the placeholders with a regular expression on every
    execution, a measurable share of each submission (docs/performance.md).
    The ORM sends the same few statement texts over and over, so the
    conversion is a pure function worth keeping (bounded: SQL built with a
    varying number of placeholders cannot grow it without limit).
    """

    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _format_to_qmark(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock_fd: int | None = None
    _writer_lock_held = False
    _wal_path: str | None = None
    _commits_since_checkpoint = 0
    _wal_limit_bytes = 0

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        self._release_writer_lock()
        self._close_lock_file()
        self._wal_path = None
        if not self.is_in_memory_db():
            # One open file description per connection: flock then also
            # orders threads of one process, each with its own connection.
            self._writer_lock_fd = os.open(
                f"{self.settings_dict['NAME']}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            # SQLite would checkpoint inside the COMMIT that crosses the
            # threshold, i.e. while this backend still holds the writer lock,
            # and every other writer would wait for the copy and its fsyncs.
            # Here the committing connection checkpoints right after it has
            # released the lock (``_checkpoint_if_due``); other writers carry on.
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._wal_path = f"{self.settings_dict['NAME']}-wal"
            self._wal_limit_bytes = CHECKPOINT_WAL_PAGES * connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA journal_size_limit={self._wal_limit_bytes}")
            self._commits_since_checkpoint = 0
        return connection

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=QmarkCursorWrapper)

    def _start_transaction_under_autocommit(self):
        if self._writer_lock_fd is not None and not self._writer_lock_held:
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX)
            self._writer_lock_held = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            result = super()._commit()
        finally:
            # A failed COMMIT is followed by a rollback, which must still find
            # the transaction ours: release only once SQLite has left it.
            if self.connection is None or not self.connection.in_transaction:
                self._release_writer_lock()
        self._checkpoint_if_due()
        return result

    def _checkpoint_if_due(self) -> None:
        """A PASSIVE checkpoint every ``CHECKPOINT_EVERY`` commits, or once the WAL is too big.

        Runs after the writer lock is released: other writers commit while
        this connection copies WAL pages into the database. PASSIVE never
        waits for readers or writers; what it cannot copy yet, a later
        checkpoint will.
        """
        if self._wal_path is None or self.connection is None or self.connection.in_transaction:
            return
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint < CHECKPOINT_EVERY:
            try:
                if os.stat(self._wal_path).st_size <= self._wal_limit_bytes:
                    return
            except OSError:
                return
        self._commits_since_checkpoint = 0
        try:
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            # The transaction is committed and durable (the WAL was fsynced);
            # the pages stay in the WAL for the next checkpoint.
            logger.warning("WAL checkpoint failed, will retry after later commits: %s", error)

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
            self._close_lock_file()

    def _release_writer_lock(self) -> None:
        if self._writer_lock_held:
            self._writer_lock_held = False
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)

    def _close_lock_file(self) -> None:
        if self._writer_lock_fd is not None:
            os.close(self._writer_lock_fd)
            self._writer_lock_fd = None
