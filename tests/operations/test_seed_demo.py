"""``manage.py seed_demo``: realistic applications, scored as submissions are, chained so verification passes."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Max, Min

from applications.models import LoanApplication
from audit.models import CaseRecord, DecisionRecord
from scoring.services import score_application
from tests.support.audit import run_verify
from tests.support.scoring import require_shared_data

pytestmark = pytest.mark.django_db


def _seed(count: int, **options) -> str:
    out = io.StringIO()
    call_command("seed_demo", applications=count, data=require_shared_data(), stdout=out, **options)
    return out.getvalue()


def test_seeded_applications_are_scored_exactly_chained_and_verify_clean():
    text = _seed(600, chunk=250)
    assert "Seeded 600 applications" in text
    applications = LoanApplication.objects.order_by("id")
    assert applications.count() == 600 and DecisionRecord.objects.count() == 600
    # Two model versions over two years, ids in time order.
    assert set(applications.values_list("model_version", flat=True)) == {"hgb-3409bea3c4cf", "hgb-47ffccc83994"}
    span = applications.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["last"] - span["first"] > dt.timedelta(days=600)
    created = list(applications.values_list("created_at", flat=True))
    assert created == sorted(created)
    # Every stored probability is what score_application says for the stored inputs under the recorded model.
    for application in applications[::37]:
        result = score_application(application.model_inputs(), model_version=application.model_version)
        assert result.probability_of_default.hex() == application.probability_of_default.hex()
        assert [r.as_dict() for r in result.reasons] == application.reasons
    # Review cases worked through the lifecycle, some still open.
    assert CaseRecord.objects.filter(action="DECIDE").exists()
    assert CaseRecord.objects.filter(action="CONFIRM").exists()
    assert applications.filter(case_state="DECIDED").exists()
    code, _, summary = run_verify("--replay")
    assert code == 0, summary
    assert (summary["checked"], summary["replayed"], summary["mismatches"]) == (600, 600, 0)
    assert summary["cases_checked"] == CaseRecord.objects.count() > 0
    assert summary["application_mismatches"] == 0


def test_a_second_seed_continues_the_chains():
    _seed(120)
    _seed(80, seed=7)
    assert LoanApplication.objects.count() == 200
    assert list(DecisionRecord.objects.order_by("sequence").values_list("sequence", flat=True)) == list(range(1, 201))
    code, _, summary = run_verify()
    assert code == 0, summary


def test_missing_training_data_is_said_plainly(tmp_path: Path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(CommandError, match="The shared training data is not at .*nowhere.csv.*Pass --data FILE"):
        call_command("seed_demo", applications=10, data=missing, stdout=io.StringIO())
    assert LoanApplication.objects.count() == 0


def test_on_postgresql_the_seeded_tables_have_current_planner_statistics():
    # Without them the planner took a fresh million-row seed for a few hundred rows and verification's
    # lateral join scanned the decision records once per application (docs/performance.md).
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    text = _seed(300, chunk=150)
    assert "ANALYZE in" in text
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('applications_loanapplication', 'audit_decisionrecord')"
        )
        estimates = dict(cursor.fetchall())
    assert estimates == {"applications_loanapplication": 300.0, "audit_decisionrecord": 300.0}


def _index_definitions() -> dict[str, str]:
    from infrastructure.bulk import _secondary_indexes

    tables = [model._meta.db_table for model in (LoanApplication, DecisionRecord, CaseRecord)]
    return {name: definition for table in tables for name, definition in _secondary_indexes(connection, table)}


def test_into_empty_tables_the_indexes_are_built_after_the_load_exactly_as_the_migrations_made_them():
    before = _index_definitions()
    assert {"loanapp_queue", "loanapp_reference_key", "decision_version_sequence"} <= set(before)
    seen_during: list[dict[str, str]] = []
    _seed(300, chunk=100)
    assert _index_definitions() == before
    # And the queries the pages make still find them.
    from infrastructure.bulk import indexes_built_after_load

    with indexes_built_after_load([LoanApplication, DecisionRecord, CaseRecord]) as dropped:
        seen_during.append(_index_definitions())
    assert dropped is False and seen_during == [before]  # tables not empty: nothing dropped


def test_a_failed_load_still_restores_the_indexes(monkeypatch):
    import audit.bulk

    before = _index_definitions()
    calls = []

    def failing(**kwargs):
        calls.append(_index_definitions())
        raise KeyboardInterrupt  # as Ctrl-C would, mid-load

    monkeypatch.setattr("operations.demo_data.write_case_records", failing)
    with pytest.raises(KeyboardInterrupt):
        _seed(200, chunk=100)
    assert calls and calls[0] == {}  # the load ran without them
    assert _index_definitions() == before
    assert audit.bulk.write_case_records is not failing


def _stored_rows() -> dict[str, list[tuple]]:
    """Every row the seed writes (applications, both chains and their heads, the latest decisions)."""
    from audit.models import ChainHead, LatestDecision

    return {
        "applications": list(LoanApplication.objects.order_by("id").values_list()),
        "decisions": list(DecisionRecord.objects.order_by("id").values_list()),
        "cases": list(CaseRecord.objects.order_by("id").values_list()),
        "heads": list(
            ChainHead.objects.filter(name__in=[ChainHead.DECISIONS, ChainHead.CASES]).order_by("name").values_list()
        ),
        "latest": list(LatestDecision.objects.order_by("application_id").values_list()),
    }


class _Rollback(Exception):
    pass


def test_rows_made_in_a_producer_process_are_stored_exactly_as_rows_made_in_process(monkeypatch):
    # The same seed and clock give the same rows whether the producer is forked or not (the rows cross a
    # process boundary by pickling); the first load is rolled back so the second starts from the same state.
    import types

    from django.db import transaction

    import operations.demo_data as demo_data
    from accounts import roles

    fixed = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

    class _Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    monkeypatch.setattr(demo_data, "dt", types.SimpleNamespace(datetime=_Clock, UTC=dt.UTC, timedelta=dt.timedelta))
    # The seed's users first, outside the rolled-back load (their keys must not move between the loads).
    demo_data._users("seed-officer-", demo_data.OFFICERS, roles.OFFICER)
    demo_data._users("seed-reviewer-", demo_data.REVIEWERS, roles.REVIEWER)
    results = {}
    for pipeline in (False, True):
        try:
            with transaction.atomic():
                report = demo_data.seed_demo(
                    applications=700, data=require_shared_data(), chunk_size=200, pipeline=pipeline
                )
                results[pipeline] = (_stored_rows(), report.case_records, report.overridden, report.by_model)
                raise _Rollback
        except _Rollback:
            pass
        assert LoanApplication.objects.count() == 0
    in_process, forked = results[False], results[True]
    assert len(in_process[0]["applications"]) == 700 and in_process[1] > 0
    assert forked == in_process


def test_a_failing_producer_process_stops_the_load_and_says_why(monkeypatch):
    import operations.demo_data as demo_data

    def broken(self, *args, **kwargs):
        raise ValueError("no rows today")

    monkeypatch.setattr(demo_data._Seeder, "_batch", broken)
    before = _index_definitions()
    with pytest.raises(RuntimeError, match="producer failed:(.|\n)*ValueError: no rows today"):
        demo_data.seed_demo(applications=50, data=require_shared_data(), pipeline=True)
    assert LoanApplication.objects.count() == 0
    assert _index_definitions() == before


def test_on_postgresql_the_foreign_keys_come_back_exactly_and_check_the_loaded_rows():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's foreign keys are part of the table; its load runs with foreign_keys=OFF")
    from infrastructure.bulk import _foreign_keys

    tables = [model._meta.db_table for model in (LoanApplication, DecisionRecord, CaseRecord)]
    before = {table: _foreign_keys(connection, table) for table in tables}
    assert all(before.values())
    _seed(200, chunk=100)
    assert {table: _foreign_keys(connection, table) for table in tables} == before


def test_one_process_seeds_the_same_way():
    text = _seed(150, one_process=True)
    assert "Seeded 150 applications" in text
    code, _, summary = run_verify("--replay")
    assert code == 0, summary
    assert (summary["checked"], summary["replayed"], summary["mismatches"]) == (150, 150, 0)
