"""The task queue: synchronous in the suite, and a real worker that redelivers a task of a worker killed with SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import transaction
from django_q.models import Success

from infrastructure.task_queue import enqueue, enqueue_on_commit
from tests.support.workers import Site, wait_for


@pytest.mark.django_db
def test_tasks_run_synchronously_in_the_suite(tmp_path):
    target = tmp_path / "out.txt"
    enqueue("tests.support.queue_tasks.append_line", str(target), "hello", name="greeting")
    assert target.read_text() == "hello\n"
    assert Success.objects.get(name="greeting").result == "hello"


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(tmp_path, django_capture_on_commit_callbacks):
    target = tmp_path / "out.txt"
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        enqueue_on_commit("tests.support.queue_tasks.append_line", str(target), "after commit")
        assert not target.exists()
    assert len(callbacks) == 1 and target.read_text() == "after commit\n"


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path, queue_timeout=20, queue_retry=25)
    yield site
    site.close()


def _enqueue(site: Site, task: str, *args: object) -> None:
    site.python(f"from infrastructure.task_queue import enqueue; enqueue({task!r}, *{args!r})")


@pytest.mark.slow
def test_a_real_worker_runs_a_task(site, tmp_path):
    target = tmp_path / "out.txt"
    _enqueue(site, "tests.support.queue_tasks.append_line", str(target), "from the worker")
    worker = site.start_worker()
    wait_for(
        lambda: target.exists() and target.read_text() == "from the worker\n", timeout=60, site=site, what="the task"
    )
    started = time.monotonic()
    site.stop_worker(worker)
    assert worker.returncode == 0 and time.monotonic() - started < 20  # stops cleanly on SIGTERM


@pytest.mark.slow
def test_a_task_of_a_worker_killed_with_sigkill_is_run_again(tmp_path):
    site = Site(tmp_path, queue_timeout=4, queue_retry=5)
    try:
        target = tmp_path / "out.txt"
        _enqueue(site, "tests.support.queue_tasks.slow_on_first_attempt", str(target), 60)
        worker = site.start_worker()
        wait_for(lambda: target.exists(), timeout=60, site=site, what="the task to start")
        site.kill_worker(worker)
        assert Path(target).read_text() == "start\n"  # killed mid-task, never acknowledged
        site.start_worker()
        # The lease (5 s) runs out and the new worker takes the task again.
        wait_for(lambda: target.read_text().endswith("done\n"), timeout=60, site=site, what="the redelivered task")
        assert target.read_text() == "start\nstart\ndone\n"
    finally:
        site.close()
