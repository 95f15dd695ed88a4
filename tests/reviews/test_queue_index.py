"""The queue reads the partial index of open cases, not the applications table (SQLite and PostgreSQL).

The plan is asked of the database itself: the queue page's query (oldest first, the reviewer's own
applications left out, 25 rows) and the navigation's count must both use ``loanapp_queue``,
without sorting, however many final applications there are. The migration that adds the lifecycle
must also keep the applications table's DELETE-refusing trigger (its SQLite table rebuild drops it).
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts import roles
from applications.models import LoanApplication
from reviews import selectors
from tests.support.factories import UserFactory, review_case, scored_application

pytestmark = pytest.mark.django_db


def _plan(queryset_or_sql, params=()) -> str:
    if hasattr(queryset_or_sql, "query"):
        sql, params = queryset_or_sql.query.sql_with_params()
    else:
        sql = queryset_or_sql
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        else:
            # Too few rows for the planner to prefer an index on its own: ask what it would use.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def test_the_queue_and_its_count_use_the_open_cases_index():
    reviewer = UserFactory(role=roles.REVIEWER)
    for _ in range(3):
        review_case()
        scored_application()
    with transaction.atomic():
        page = _plan(selectors.review_queue(user=reviewer)[:25])
        assert "loanapp_queue" in page, page
        assert "TEMP B-TREE" not in page and "Sort" not in page, page
        waiting = _plan(selectors.review_queue(user=reviewer, filters={"show": "waiting"})[:25])
        assert "loanapp_queue" in waiting, waiting
        with CaptureQueriesContext(connection) as queries:
            assert selectors.open_case_count(user=reviewer) == 3
        count = _plan(queries[-1]["sql"])
        assert "loanapp_queue" in count, count
        # Bounded: however long the queue, the count reads at most limit + 1 index entries.
        assert f"LIMIT {selectors.NAV_COUNT_LIMIT + 1}" in queries[-1]["sql"]


def test_the_lifecycle_migration_kept_the_no_delete_trigger():
    application = scored_application()
    with pytest.raises(DatabaseError, match="keeps every row"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LoanApplication._meta.db_table} WHERE id = %s", [application.pk])
    assert LoanApplication.objects.filter(pk=application.pk).exists()
