"""The task queue: how our code hands work to the background workers.

The queue is django-q2 with its ORM broker (settings ``Q_CLUSTER``, README
"Background jobs"): a task is a row in the Django database, taken by a
``manage.py qcluster`` worker under a lease and deleted once its result is
saved. A worker killed mid-task never acknowledges it, so the task is handed
out again when the lease (``QUEUE_RETRY_SECONDS``) runs out: every task we
enqueue must be safe to run more than once.

Callers name the task by its dotted path (``"batches.tasks.run_chunk"``),
which keeps this module free of imports from the apps above it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_q.tasks import async_task


def enqueue(task: str, *args: Any, name: str | None = None, group: str | None = None) -> str:
    """Put ``task(*args)`` on the queue now; returns the queue's task id.

    With ``QUEUE_SYNC=1`` (the test suite) the task runs here and now, in
    this process, before this returns.
    """
    options: dict[str, Any] = {}
    if name:
        options["task_name"] = name
    if group:
        options["group"] = group
    return async_task(task, *args, **options)


def enqueue_on_commit(task: str, *args: Any, name: str | None = None, group: str | None = None) -> None:
    """Enqueue once the current transaction commits (at once outside one).

    A task enqueued inside a transaction could otherwise be taken by a
    worker before the rows it works on are visible, or run for rows that
    are then rolled back.
    """
    transaction.on_commit(lambda: enqueue(task, *args, name=name, group=group))


def enqueue_many(task: str, argument_lists: list[tuple[Any, ...]], *, group: str | None = None) -> None:
    """Enqueue ``task(*args)`` for each argument tuple, in one transaction (one commit, not one per task).

    Call it once the rows the tasks work on are committed (e.g. from
    ``transaction.on_commit``).
    """
    with transaction.atomic():
        for args in argument_lists:
            enqueue(task, *args, group=group)
