"""The periodic refresh as a task-queue job (django-q2, ``infrastructure.task_queue``).

Scheduled every ``REFRESH_MINUTES`` by migration ``0003``; a worker
(``manage.py qcluster``, started by ``make run``) runs it. Safe to run twice
or concurrently: each batch moves its watermark in the same transaction as
its sums, and a batch another run counted first is skipped.
"""

from __future__ import annotations

from monitoring.services import refresh_aggregates

REFRESH_MINUTES = 5
SCHEDULE_NAME = "monitoring: refresh aggregates"


def refresh() -> dict:
    summary = refresh_aggregates()
    return {"decisions": summary.decisions, "overrides": summary.overrides, "outcomes": summary.outcomes}
