"""Loading many rows at once: COPY on PostgreSQL, ``executemany`` on SQLite.

For generated data only (``manage.py seed_demo``): the rows are written as
given, with their primary keys, no ``pre_save``, no per-row ORM work. The
owning app builds each row (it knows what its columns mean) and calls
``insert_many``; ``relaxed_durability`` lets a loader trade SQLite's per-commit
fsync for speed while it runs, and ``sync_primary_key_sequence`` tells
PostgreSQL about the keys that were written explicitly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import connections, models


def _datetime_positions(model: type[models.Model], columns: Sequence[str]) -> list[int]:
    fields = {field.column: field for field in model._meta.concrete_fields}
    return [i for i, column in enumerate(columns) if isinstance(fields[column], models.DateTimeField)]


@functools.lru_cache(maxsize=65536)
def _sqlite_datetime(value: dt.datetime) -> str:
    """How Django's SQLite backend stores an aware datetime: naive UTC text (a row's times repeat: cached)."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ")


def datetime_adapter(*, using: str = "default") -> Callable[[dt.datetime], Any]:
    """What ``insert_many`` makes of an aware datetime on ``using``'s database (to prepare rows elsewhere).

    SQLite: Django's naive UTC text; PostgreSQL: the datetime itself (the driver sends it).
    """
    if connections[using].vendor == "sqlite":
        return _sqlite_datetime
    return _unchanged


def _unchanged(value: Any) -> Any:
    return value


def insert_many(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    using: str = "default",
    prepared: bool = False,
) -> int:
    """Insert ``rows`` (values in ``columns`` order, Python values) into ``model``'s table; returns the count.

    Values: ``datetime`` aware (UTC), ``Decimal``, ``int``, ``float``, ``str``,
    ``bool``, ``None``; a JSON column takes its JSON text. Call inside a
    transaction. PostgreSQL: one ``COPY ... FROM STDIN``. SQLite: one
    prepared INSERT run by ``executemany``; datetimes are stored as Django
    stores them (naive UTC text). ``prepared``: the rows' datetimes are already
    in that form (``datetime_adapter``), so SQLite's rows go to the driver as they are.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column_list = ", ".join(quote(column) for column in columns)
    count = 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
                count += 1
        return count
    positions = [] if prepared else _datetime_positions(model, columns)

    def adapted() -> Iterator[Sequence[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            if positions:
                row = list(row)
                for i in positions:
                    value = row[i]
                    if value is not None:
                        row[i] = _sqlite_datetime(value)
            yield row

    placeholders = ", ".join(["?"] * len(columns))
    connection.ensure_connection()
    # The driver's own cursor: Django's wrapper would convert "%s" placeholders row by row.
    raw = connection.connection.cursor()
    try:
        statement = f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})"
        if prepared and isinstance(rows, Sequence):
            raw.executemany(statement, rows)
            count = len(rows)
        else:
            raw.executemany(statement, adapted())
    finally:
        raw.close()
    return count


def next_primary_key(model: type[models.Model], *, using: str = "default") -> int:
    """One more than the table's largest primary key (1 for an empty table)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX({quote(model._meta.pk.column)}) FROM {quote(model._meta.db_table)}")
        (largest,) = cursor.fetchone()
    return (largest or 0) + 1


def sync_primary_key_sequence(model: type[models.Model], *, using: str = "default") -> None:
    """After explicit keys were inserted, make PostgreSQL's sequence hand out larger ones (SQLite needs nothing)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({connection.ops.quote_name(column)}), 1)) "
            f"FROM {connection.ops.quote_name(table)}",
            [table, column],
        )


@contextlib.contextmanager
def relaxed_durability(*, using: str = "default") -> Iterator[None]:
    """No flush to disk per commit while a bulk load runs, on this connection only; restored afterwards.

    SQLite: ``synchronous=OFF``, foreign-key checks off, a larger page cache. A power cut during the
    load may lose its last commits (the database stays consistent: WAL). The product's own writes
    keep ``synchronous=FULL`` (settings). PostgreSQL: ``synchronous_commit=off`` for the session
    (a crash may lose the last commits, never corrupt; the server's other sessions are unaffected),
    restored with ``RESET``.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        # SQLite refuses to change the safety level inside a transaction (a test's, or a caller's).
        yield
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        return
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (synchronous,) = cursor.fetchone()
        cursor.execute("PRAGMA cache_size")
        (cache_size,) = cursor.fetchone()
        cursor.execute("PRAGMA foreign_keys")
        (foreign_keys,) = cursor.fetchone()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("PRAGMA cache_size=-524288")  # 512 MiB: the hash indexes stay in memory while they grow
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous={int(synchronous)}")
            cursor.execute(f"PRAGMA foreign_keys={int(foreign_keys)}")
            cursor.execute(f"PRAGMA cache_size={int(cache_size)}")


def _secondary_indexes(connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of ``table``'s non-unique indexes, as the database itself stores them."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL "
                "AND sql NOT LIKE 'CREATE UNIQUE%%' ORDER BY name",
                [table],
            )
        else:
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
                [connection.ops.quote_name(table)],
            )
        return list(cursor.fetchall())


def _foreign_keys(connection, table: str) -> list[tuple[str, str]]:
    """PostgreSQL: (name, definition) of ``table``'s foreign keys, as the database itself states them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [connection.ops.quote_name(table)],
        )
        return list(cursor.fetchall())


def _is_empty(connection, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
        return cursor.fetchone() is None


@contextlib.contextmanager
def indexes_built_after_load(
    tables: Sequence[type[models.Model]], *, using: str = "default", progress=lambda message: None
) -> Iterator[bool]:
    """Into empty tables only: drop their non-unique indexes (and on PostgreSQL their foreign keys), load,
    create them again (sorted, in one pass each; each foreign key checked by one join over the table).

    Yields whether it did (it does nothing unless every table is empty: rebuilding indexes over rows
    already there would cost more than it saves). The indexes are created again from the
    statements the database itself holds for them (``sqlite_master.sql``, ``pg_get_indexdef``), so
    names and definitions stay exactly the migrations'; in a ``finally``, so an error or Ctrl-C
    (KeyboardInterrupt) restores them too. Only a killed process (SIGKILL, power cut) leaves them
    missing: ``manage.py migrate`` does not notice, so ``seed_demo`` is for a fresh database only.
    Unique indexes and primary keys stay: they keep the keys and hashes honest during the load.
    Foreign keys (PostgreSQL): instead of a queued check per row and key at every commit, each is
    added back ``DEFERRABLE INITIALLY DEFERRED`` as the migration made it, which checks every loaded
    row at once (a dangling reference fails the load loudly). SQLite's cannot be dropped: the load
    runs with ``foreign_keys=OFF`` (``relaxed_durability``).
    """
    connection = connections[using]
    names = [model._meta.db_table for model in tables]
    if not all(_is_empty(connection, table) for table in names):
        yield False
        return
    dropped: list[tuple[str, str]] = []
    quote = connection.ops.quote_name
    try:
        with connection.cursor() as cursor:
            for table in names:
                for name, statement in _secondary_indexes(connection, table):
                    cursor.execute(f"DROP INDEX {quote(name)}")
                    dropped.append((name, statement))
                if connection.vendor == "postgresql":
                    for name, definition in _foreign_keys(connection, table):
                        cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                        dropped.append((name, f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"))
        yield True
    finally:
        if dropped:
            progress(f"creating {len(dropped)} indexes and foreign keys …")
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # Inside a caller's transaction (a test's) the loaded rows' deferred foreign-key checks
                    # are still pending, and PostgreSQL refuses CREATE INDEX on a table with pending checks.
                    if connection.in_atomic_block:
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    # The sort of each index build in memory rather than in temporary files.
                    cursor.execute("SET maintenance_work_mem = '512MB'")
                for _name, statement in dropped:
                    cursor.execute(statement)
                if connection.vendor == "postgresql":
                    cursor.execute("RESET maintenance_work_mem")
