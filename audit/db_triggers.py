"""Database triggers that refuse UPDATE and DELETE on the audit tables.

The ORM guard stops honest code; these stop everything else that goes
through the database with ordinary privileges (raw SQL, a DB shell, another
program). Dropping them needs the table owner's rights, and anything done
after that is still caught by the hash chain (``verify_decisions``).

Installed by migration ``0002``; also used by the test-only flush and by
tests that deliberately tamper with the tables.
"""

from __future__ import annotations

from django.db import NotSupportedError

PROTECTED_TABLES: tuple[str, ...] = (
    "audit_decisionrecord",
    "audit_overriderecord",
    "audit_accessevent",
    "audit_rolechangerecord",
    "audit_caserecord",
    "audit_outcomerecord",
    "audit_governancerecord",
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def install_sql(vendor: str, tables: tuple[str, ...] = PROTECTED_TABLES) -> list[str]:
    if vendor == "sqlite":
        statements = []
        for table in tables:
            for op in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {op} refused'); END"
                )
        return statements
    if vendor == "postgresql":
        statements = [_PG_FUNCTION]
        for table in tables:
            statements += [
                f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
            ]
        return statements
    raise NotSupportedError(
        f"The audit trail's append-only triggers exist for SQLite and PostgreSQL only, not {vendor!r}."
    )


def drop_sql(vendor: str, tables: tuple[str, ...] = PROTECTED_TABLES) -> list[str]:
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op} " for table in tables for op in ("update", "delete")]
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}"
            for table in tables
            for kind in ("no_change", "no_truncate")
        ]
    raise NotSupportedError(f"No append-only triggers for database vendor {vendor!r}.")


# --- Rows kept forever but still updated: DELETE (and TRUNCATE) refused ---------
# Loan applications change after they are stored (a pending one is scored, a
# reviewer overrides the decision) but are never removed: a bank keeps every
# application, and a deleted one would leave no trace but Django's ordinary,
# deletable admin log. Installed by the applications app's migration 0005,
# which names its table.

_PG_NO_DELETE_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % keeps every row: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def no_delete_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'table {table} keeps every row: DELETE refused'); END"
            for table in tables
        ]
    if vendor == "postgresql":
        statements = [_PG_NO_DELETE_FUNCTION]
        for table in tables:
            statements += [
                f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}",
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()",
            ]
        return statements
    raise NotSupportedError(f"No delete-refusing triggers for database vendor {vendor!r}.")


def drop_no_delete_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_delete" for table in tables]
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}"
            for table in tables
            for kind in ("no_delete", "no_truncate")
        ]
    raise NotSupportedError(f"No delete-refusing triggers for database vendor {vendor!r}.")


def install_no_delete(connection, tables: tuple[str, ...]) -> None:
    with connection.cursor() as cursor:
        for statement in no_delete_sql(connection.vendor, tables):
            cursor.execute(statement)


def drop_no_delete(connection, tables: tuple[str, ...]) -> None:
    with connection.cursor() as cursor:
        for statement in drop_no_delete_sql(connection.vendor, tables):
            cursor.execute(statement)


def install(connection, tables: tuple[str, ...] = PROTECTED_TABLES) -> None:
    with connection.cursor() as cursor:
        for statement in install_sql(connection.vendor, tables):
            cursor.execute(statement)


def drop(connection, tables: tuple[str, ...] = PROTECTED_TABLES) -> None:
    with connection.cursor() as cursor:
        for statement in drop_sql(connection.vendor, tables):
            cursor.execute(statement)
