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

    def failing(*, items, using="default"):
        calls.append(_index_definitions())
        raise KeyboardInterrupt  # as Ctrl-C would, mid-load

    monkeypatch.setattr("operations.demo_data.append_case_records_in_bulk", failing)
    with pytest.raises(KeyboardInterrupt):
        _seed(200, chunk=100)
    assert calls and calls[0] == {}  # the load ran without them
    assert _index_definitions() == before
    assert audit.bulk.append_case_records_in_bulk is not failing
