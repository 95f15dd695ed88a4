"""The history's and the admin's queries at a million rows: each read from an index, never a scan or a sort of the table.

The queries are the ones the pages run (the selectors' and the admins' own
querysets, sliced as the pages slice them). On SQLite the plan must name an
index for the big tables and have no "SCAN <table>" without one and no
temporary B-tree for the ORDER BY (beyond ordering ties of the index's leading column). On PostgreSQL a planner looking at a
tiny test table prefers a sequential scan whatever indexes exist, so the
PostgreSQL pass asks with sequential scans and sorts priced out
(``enable_seqscan``/``enable_sort`` off, for this transaction only): if the
plan still has a ``Seq Scan`` of a big table or a ``Sort``, no index can serve
the query. The plans measured at 1,000,000 rows are printed by
``make bench-scale`` (docs/performance.md).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import RequestFactory

from accounts import roles
from applications import selectors
from applications.admin import LoanApplicationAdmin
from applications.models import LoanApplication
from audit.admin import DecisionRecordAdmin
from audit.models import DecisionRecord
from infrastructure.pagination import COUNT_LIMIT
from tests.support.factories import UserFactory, application_form_data, submit_form

pytestmark = pytest.mark.django_db

BIG_TABLES = (LoanApplication._meta.db_table, DecisionRecord._meta.db_table)


def _sqlite_plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _postgres_plan(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        try:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            return cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def assert_served_by_an_index(queryset) -> None:
    if connection.vendor == "sqlite":
        plan = _sqlite_plan(queryset)
        for line in plan.splitlines():
            for table in BIG_TABLES:
                if f"SCAN {table}" in line:
                    assert "USING" in line and "INDEX" in line, plan
        # "FOR RIGHT PART OF ORDER BY" only orders rows tied on the index's leading columns (an officer's
        # applications entered in the same microsecond, by id), as it reads them: it stops at the page's end.
        assert "TEMP B-TREE" not in plan.replace("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", ""), plan
        assert any(table in plan for table in BIG_TABLES), plan
    else:
        plan = _postgres_plan(queryset)
        for node in _nodes(plan):
            assert node["Node Type"] != "Sort", json.dumps(plan, indent=1)
            if node["Node Type"] == "Seq Scan":
                assert node["Relation Name"] not in BIG_TABLES, json.dumps(plan, indent=1)


def assert_found_by_the_reference_index(queryset) -> None:
    """A reference search: the matches come from the reference index (only they are then put in the page's order)."""
    if connection.vendor == "sqlite":
        plan = _sqlite_plan(queryset)
        assert "USING INDEX loanapp_reference_key" in plan, plan
    else:
        for node in _nodes(_postgres_plan(queryset)):
            if node["Node Type"] == "Seq Scan":
                assert node["Relation Name"] not in BIG_TABLES, node


@pytest.fixture
def history(db):
    officer = UserFactory(role=roles.OFFICER)
    for number in range(3):
        submit_form(officer=officer, data=application_form_data(applicant_reference=f"PLAN-{number}"))
    return UserFactory(role=roles.REVIEWER)


SORTS = ("newest", "oldest", "pd_high", "pd_low", "amount_high", "amount_low", "reference")


@pytest.mark.parametrize("sort", SORTS)
def test_each_sort_reads_its_first_and_last_page_from_an_index(history, sort):
    queryset = selectors.application_list(user=history, filters={"sort": sort})
    assert_served_by_an_index(queryset[:25])
    assert_served_by_an_index(queryset.reverse()[:25])  # the last page: the same query backwards


@pytest.mark.parametrize("sort", ("newest", "oldest"))
def test_the_model_version_filter_reads_from_its_index(history, sort):
    version = LoanApplication.objects.values_list("model_version", flat=True).first()
    queryset = selectors.application_list(user=history, filters={"model_version": version, "sort": sort})
    assert_served_by_an_index(queryset[:25])
    assert_served_by_an_index(queryset.reverse()[:25])


def test_an_officers_own_history_reads_from_the_officer_index(history):
    officer = LoanApplication.objects.first().officer
    assert_served_by_an_index(selectors.application_list(user=officer, filters={})[:25])


def test_the_reference_search_is_a_range_on_the_reference_index(history):
    queryset = selectors.application_list(user=history, filters={"q": "plan-"})
    assert [a.applicant_reference for a in queryset] == ["PLAN-2", "PLAN-1", "PLAN-0"]
    assert_found_by_the_reference_index(queryset.all()[:25])


@pytest.mark.parametrize("filters", ({}, {"sort": "pd_high"}, {"model_version": "hgb-3409bea3c4cf"}))
def test_bounded_counts_read_at_most_the_limit_from_the_pages_index(history, filters):
    queryset = selectors.application_list(user=history, filters=filters)
    # What infrastructure.pagination.bounded_count counts: the page's query, in its order, cut at the limit.
    assert_served_by_an_index(queryset.values("pk")[: COUNT_LIMIT + 1])


def test_the_admin_lists_read_from_indexes(history):
    admin_user = UserFactory(role=roles.ADMIN)
    request = RequestFactory().get("/")
    request.user = admin_user
    applications = LoanApplicationAdmin(LoanApplication, None).get_queryset(request)
    assert_served_by_an_index(applications[:50])
    version = LoanApplication.objects.values_list("model_version", flat=True).first()
    assert_served_by_an_index(applications.filter(model_version=version)[:50])
    found, _ = LoanApplicationAdmin(LoanApplication, None).get_search_results(request, applications, "plan-1")
    assert [a.applicant_reference for a in found] == ["PLAN-1"]
    assert_found_by_the_reference_index(found.all()[:50])
    records = DecisionRecordAdmin(DecisionRecord, None).get_queryset(request)
    assert_served_by_an_index(records[:100])
    assert_served_by_an_index(records.filter(model_version=version)[:100])
    by_reference, _ = DecisionRecordAdmin(DecisionRecord, None).get_search_results(request, records, "PLAN-1")
    assert [r.application.applicant_reference for r in by_reference] == ["PLAN-1"]
    assert_found_by_the_reference_index(by_reference.all()[:100])
