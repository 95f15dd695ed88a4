"""Indexes written on every submission: only those a query uses.

Each index on the application and decision tables is one more B-tree page
written (and fsynced) per submission. Two were dropped by migration
(infrastructure.indexes): the officer foreign key's own index (the
``("officer", "-created_at")`` index serves every lookup by officer) and
``DecisionRecord.decision`` (three values; no query narrowed by it). The
drop must not rebuild the audit table on SQLite, which would take the
append-only triggers with it.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from applications.models import LoanApplication
from audit.models import DecisionRecord
from tests.support.audit import scored_application

pytestmark = pytest.mark.django_db


def _plain_indexes(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]
    ]


def _indexed_columns(table: str) -> set[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {tuple(info["columns"]) for info in constraints.values() if info["index"] or info["unique"]}


def test_the_dropped_indexes_are_gone_and_the_rest_are_there():
    applications, decisions = LoanApplication._meta.db_table, DecisionRecord._meta.db_table
    assert _plain_indexes(applications, "officer_id") == []
    assert _plain_indexes(decisions, "decision") == []
    assert ("officer_id", "created_at") in _indexed_columns(applications)
    assert {("idempotency_key",), ("created_at",), ("applicant_reference",)} <= _indexed_columns(applications)
    # Issue 16: the model version's own index gave way to (model_version, created_at, id) on applications and
    # (model_version, sequence) on decision records, dropped without a table rebuild (infrastructure.indexes).
    assert _plain_indexes(applications, "model_version") == [] and _plain_indexes(decisions, "model_version") == []
    assert {
        ("model_version", "created_at", "id"),
        ("probability_of_default", "id"),
        ("loan_amnt", "id"),
    } <= _indexed_columns(applications)
    assert {
        ("sequence",),
        ("previous_hash",),
        ("record_hash",),
        ("created_at",),
        ("application_id",),
        ("officer_id",),
        ("model_version", "sequence"),
    } <= _indexed_columns(decisions)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")
def test_an_officers_history_uses_the_officer_and_time_index():
    application = scored_application()
    query = LoanApplication.objects.filter(officer=application.officer).order_by("-created_at")[:25]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "loanapp_officer_created" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_migrating_down_and_up_restores_and_drops_the_indexes_and_keeps_the_triggers():
    decisions = DecisionRecord._meta.db_table
    try:
        call_command("migrate", "audit", "0002", verbosity=0)
        call_command("migrate", "applications", "0002", verbosity=0)
        assert len(_plain_indexes(decisions, "decision")) >= 1
        assert len(_plain_indexes(LoanApplication._meta.db_table, "officer_id")) >= 1
    finally:
        call_command("migrate", verbosity=0)
    assert _plain_indexes(decisions, "decision") == []
    assert _plain_indexes(LoanApplication._meta.db_table, "officer_id") == []
    # The audit table was not rebuilt: its append-only triggers still refuse changes.
    scored_application()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {decisions} SET decision = 'APPROVE'")
    assert DecisionRecord.objects.count() == 1
