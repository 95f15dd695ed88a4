"""``LatestDecision``: each application's latest decision record and outcome, kept with the chains.

Written only here, by the services that append to the decision and outcome
chains, in their transaction: ``advance_latest_decisions`` after decision records are
inserted, ``record_latest_outcome`` after an outcome record is. The values
are copied by the database from the records just inserted (``INSERT ...
SELECT``), so they are the stored ones bit for bit. ``rebuild_latest_decisions`` recomputes the
whole table from the chains (the migration's backfill, bulk loaders that
write records directly); ``mismatched_applications`` is the check
``verify_decisions`` runs.
"""

from __future__ import annotations

from django.db import connections

from audit.models import DecisionRecord, LatestDecision, OutcomeRecord
from infrastructure.id_lists import ids_condition


def _names(using: str) -> dict[str, str]:
    quote = connections[using].ops.quote_name
    return {
        "latest": quote(LatestDecision._meta.db_table),
        "records": quote(DecisionRecord._meta.db_table),
        "outcomes": quote(OutcomeRecord._meta.db_table),
    }


# The latest outcome of application ``d.application_id``, "" while none.
_LATEST_OUTCOME = (
    "COALESCE((SELECT o.outcome FROM {outcomes} o WHERE o.application_id = d.application_id "
    "ORDER BY o.sequence DESC LIMIT 1), '')"
)

# The last record of each application among the decision records {where}, with how many it has there.
_LAST_RECORDS = (
    "SELECT d.application_id AS application_id, d.id AS decision_record_id, d.model_version AS model_version, "
    "d.created_at AS created_at, d.probability_of_default AS probability_of_default, c.n AS decision_records, "
    "{outcome} AS outcome "
    "FROM {records} d JOIN (SELECT application_id, MAX(sequence) AS last, COUNT(*) AS n FROM {records} "
    "{where} GROUP BY application_id) c ON d.sequence = c.last WHERE 1 = 1"  # WHERE: SQLite's upsert grammar
)
_COLUMNS = (
    "application_id, decision_record_id, model_version, created_at, probability_of_default, decision_records, outcome"
)


def advance_latest_decisions(*, first_sequence: int, last_sequence: int, using: str) -> None:
    """The decision records with sequences first..last were just appended: make each application's latest.

    One statement, in the appender's transaction, under the chain head's lock (so no record with a
    higher sequence exists yet). An application seen before keeps its outcome and adds to its count.
    """
    names = _names(using)
    select = _LAST_RECORDS.format(
        outcome="''", where="WHERE sequence >= %s AND sequence <= %s", records=names["records"]
    )
    sql = (
        f"INSERT INTO {names['latest']} ({_COLUMNS}) {select} "
        "ON CONFLICT (application_id) DO UPDATE SET decision_record_id = excluded.decision_record_id, "
        "model_version = excluded.model_version, created_at = excluded.created_at, "
        "probability_of_default = excluded.probability_of_default, "
        f"decision_records = {names['latest']}.decision_records + excluded.decision_records"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [first_sequence, last_sequence])


def record_latest_outcome(*, application_id: int, outcome: str, using: str) -> None:
    """An outcome record for ``application_id`` was just appended: it is the application's latest."""
    names = _names(using)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"UPDATE {names['latest']} SET outcome = %s WHERE application_id = %s", [outcome, application_id]
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"application {application_id} has an outcome but no latest decision")


def rebuild_latest_decisions(*, using: str) -> int:
    """Recompute the whole table from the decision and outcome chains; returns its rows."""
    names = _names(using)
    select = _LAST_RECORDS.format(outcome=_LATEST_OUTCOME.format(**names), where="", records=names["records"])
    with connections[using].cursor() as cursor:
        cursor.execute(f"DELETE FROM {names['latest']}")
        cursor.execute(f"INSERT INTO {names['latest']} ({_COLUMNS}) {select}")
        return cursor.rowcount


# Each index row against the record it names (a primary-key probe) and the application's latest outcome.
_WRONG_COPIES = (
    "SELECT l.application_id FROM {latest} l LEFT JOIN {records} d ON d.id = l.decision_record_id "
    "WHERE {within} (d.id IS NULL OR d.application_id <> l.application_id OR d.model_version <> l.model_version "
    "OR d.created_at <> l.created_at OR d.probability_of_default <> l.probability_of_default "
    "OR l.outcome <> COALESCE((SELECT o.outcome FROM {outcomes} o WHERE o.application_id = l.application_id "
    "ORDER BY o.sequence DESC LIMIT 1), ''))"
)
# Each application with records against its row: the row exists, names its highest record id (records
# are inserted under the chain head's lock, so the highest id is the latest) and counts its records. One
# pass over the application_id index of the records, in its order, instead of a probe per row.
_WRONG_LATEST = (
    "SELECT g.application_id FROM (SELECT application_id, MAX(id) AS last, COUNT(*) AS n FROM {records} "
    "{within} GROUP BY application_id) g LEFT JOIN {latest} l ON l.application_id = g.application_id "
    "{also} WHERE l.application_id IS NULL OR l.decision_record_id <> g.last OR l.decision_records <> g.n"
)


def mismatched_applications(*, among: list[int] | None = None, using: str = "default") -> list[int]:
    """Applications whose ``LatestDecision`` row is missing, extra or says other than their records, sorted.

    Every row (or those of ``among``) must name its application's latest record, copy that record's
    model version, time and probability, count the application's records and hold its latest outcome;
    every application with records must have a row. ``among`` goes in slices under SQLite's parameter limit.
    """
    names = _names(using)
    found: set[int] = set()
    slices = [None] if among is None else [among[i : i + 10_000] for i in range(0, len(among), 10_000)]
    connection = connections[using]
    with connection.cursor() as cursor:
        for chunk in slices:
            copies = latest = also = ""
            params: list = []
            if chunk is not None:
                # Of given applications (an incremental verification's): the ids as ``infrastructure.id_lists``
                # gives them (on PostgreSQL one array, not 10,000 placeholders for psycopg to parse).
                ids, params = ids_condition(connection, "application_id", chunk)
                copies, latest = f"l.{ids} AND", f"WHERE {ids}"
                # The same ids on the index's side too (true of every row the join keeps): without it PostgreSQL
                # hashed the whole index table, a sequential scan of every row (0.32 s at 1,000,000, 0.05 s with).
                also = f"AND l.{ids}"
            for sql, values in (
                (_WRONG_COPIES.format(within=copies, **names), params),
                (_WRONG_LATEST.format(within=latest, also=also, **names), params * 2),
            ):
                cursor.execute(sql, values)
                found.update(app_id for (app_id,) in cursor.fetchall())
    return sorted(found)
