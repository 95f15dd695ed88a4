"""The append-only triggers on PostgreSQL, on a database migrated from scratch.

Runs against the PostgreSQL server named by ``AUDIT_POSTGRES_URL`` or a
postgres ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/postgres``),
in a throwaway database created and dropped here. Skipped only when no
server answers *and* the suite is not configured for PostgreSQL; with a
postgres ``DATABASE_URL`` an unreachable server is a failure.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.postgres


TABLES = ("audit_decisionrecord", "audit_overriderecord", "audit_caserecord", "audit_accessevent")


def _seed(db) -> None:
    """One row per audit table, inserted directly (INSERT is allowed: append-only)."""
    user_id = db.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) "
        "VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id",
        (f"pg-{uuid.uuid4().hex[:8]}",),
    ).fetchone()[0]
    app_id = db.execute(
        "INSERT INTO applications_loanapplication (person_age, person_income, person_home_ownership, person_emp_length, "
        "loan_intent, loan_grade, loan_amnt, loan_int_rate, cb_person_default_on_file, cb_person_cred_hist_length, "
        "applicant_reference, officer_id, created_at, scored_at, loan_percent_income, interest_burden, status, "
        "probability_of_default, decision, final_decision, risk_label, reasons, model_version, model_sha256, scoring_error, "
        "case_state, case_version, queued_at, proposed_decision) "
        "VALUES (30, 50000, 'RENT', 5, 'EDUCATION', 'B', 10000, 10, 'N', 5, 'pg', %s, now(), now(), 0.2, 0.02, 'SCORED', "
        "0.1, 'REVIEW', 'REVIEW', 'SAFE', '[]', 'v', 's', '', 'IN_QUEUE', 0, now(), '') RETURNING id",
        (user_id,),
    ).fetchone()[0]
    seq = db.execute("SELECT coalesce(max(sequence), 0) + 1 FROM audit_decisionrecord").fetchone()[0]
    tag = uuid.uuid4().hex
    decision_id = db.execute(
        "INSERT INTO audit_decisionrecord (sequence, previous_hash, record_hash, payload, created_at, application_id, "
        "officer_id, probability_of_default, decision, approve_below, decline_from, model_version, model_sha256) "
        "VALUES (%s, %s, %s, '{}', now(), %s, %s, 0.1, 'REVIEW', 0.1, 0.5, 'v', 's') RETURNING id",
        (seq, "p" + tag, "r" + tag, app_id, user_id),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO audit_overriderecord (sequence, previous_hash, record_hash, payload, created_at, application_id, "
        "decision_record_id, reviewer_id, from_decision, to_decision, reason) "
        "VALUES (%s, %s, %s, '{}', now(), %s, %s, %s, 'REVIEW', 'APPROVE', 'why')",
        (seq, "p" + tag, "r" + tag, app_id, decision_id, user_id),
    )
    db.execute(
        "INSERT INTO audit_caserecord (sequence, previous_hash, record_hash, payload, created_at, application_id, "
        "decision_record_id, actor_id, action, from_state, to_state, from_decision, to_decision, proposed_decision, "
        "reason_code, reason_label, explanation, version) "
        "VALUES (%s, %s, %s, '{}', now(), %s, %s, %s, 'CLAIM', 'IN_QUEUE', 'CLAIMED', 'REVIEW', 'REVIEW', '', '', '', '', 1)",
        (seq, "p" + tag, "r" + tag, app_id, decision_id, user_id),
    )
    db.execute(
        "INSERT INTO audit_accessevent (created_at, username, action, target, method, path) "
        "VALUES (now(), 'x', 'login', '', 'GET', '/')"
    )


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET created_at = now()", "DELETE FROM {t}", "TRUNCATE {t} CASCADE"])
def test_postgres_triggers_refuse_update_delete_truncate(postgres_database, table, statement):
    import psycopg

    with psycopg.connect(postgres_database, autocommit=True) as db:
        _seed(db)
        before = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            db.execute(statement.format(t=table))
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == before > 0


def test_postgres_triggers_exist(postgres_database):
    import psycopg

    with psycopg.connect(postgres_database) as db:
        names = {row[0] for row in db.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert {f"{t}_{kind}" for t in TABLES for kind in ("no_change", "no_truncate")} <= names
