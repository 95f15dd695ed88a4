"""Batch files on real queue workers (``manage.py qcluster`` subprocesses): two workers share a job; a
cluster killed with SIGKILL mid-job is replaced and the job finishes with no row lost and none stored twice."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.batches import batch_csv, varied_rows
from tests.support.workers import Site, wait_for

pytestmark = pytest.mark.slow

# Enough rows that the job outlasts a progress poll (a subprocess of a few seconds on a busy machine)
# several times over: the kill must land mid-job.
ROWS = 30_000


def _progress(site: Site, job_id: int) -> dict:
    out = site.python(
        "import json; from batches.models import BatchJob; from batches.selectors import job_progress; "
        f"print(json.dumps(job_progress(job=BatchJob.objects.get(pk={job_id}))))"
    )
    return json.loads(out.strip().splitlines()[-1])


def _counts(site: Site, job_id: int) -> dict:
    out = site.python(
        "import json; from applications.models import LoanApplication; from batches.models import BatchRow; "
        "from audit.models import DecisionRecord; "
        "print(json.dumps({"
        f"'applications': LoanApplication.objects.filter(idempotency_key__startswith='batch{job_id}-').count(), "
        "'records': DecisionRecord.objects.count(), "
        f"'rows': BatchRow.objects.filter(job_id={job_id}).count(), "
        f"'distinct_rows': BatchRow.objects.filter(job_id={job_id}).values('row_number').distinct().count()"
        "}))"
    )
    return json.loads(out.strip().splitlines()[-1])


def _start_job(site: Site, tmp_path) -> int:
    site.python(
        "from accounts import roles; from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        "user = get_user_model().objects.create_user('batch-officer', password='x' * 20); "
        "user.groups.add(Group.objects.get(name=roles.OFFICER))"
    )
    path = tmp_path / "batch.csv"
    rows = varied_rows(ROWS)
    rows[10]["loan_amnt"] = "0"  # one row rejected, naming the field
    path.write_bytes(batch_csv(rows))
    out = site.manage("score_batch_file", str(path), "--officer", "batch-officer")
    return json.loads(out.strip().splitlines()[-1])["id"]


def _check_finished(site: Site, job_id: int) -> None:
    progress = _progress(site, job_id)
    assert (progress["status"], progress["rows_done"], progress["rows_stored"], progress["rows_rejected"]) == (
        "DONE",
        ROWS,
        ROWS - 1,
        1,
    )
    assert _counts(site, job_id) == {"applications": ROWS - 1, "records": ROWS - 1, "rows": ROWS, "distinct_rows": ROWS}
    summary = json.loads(site.manage("verify_decisions").strip().splitlines()[-1])
    assert summary["ok"] is True, summary
    results = site.python(
        "import sys; from batches.models import BatchJob; from batches.selectors import result_rows; "
        "from infrastructure.csv_export import csv_lines; "
        f"sys.stdout.writelines(csv_lines(result_rows(job=BatchJob.objects.get(pk={job_id}))))"
    )
    rows = list(csv.DictReader(io.StringIO(results[results.index('"row_number"') :])))
    assert [int(row["row_number"]) for row in rows] == list(range(1, ROWS + 1))
    assert rows[10]["outcome"] == "rejected" and rows[10]["rejection_reason"].startswith("loan_amnt:")


def test_a_cluster_killed_mid_job_is_replaced_and_nothing_is_lost_or_doubled(tmp_path):
    site = Site(tmp_path, queue_timeout=30, queue_retry=35, workers=2)
    try:
        job_id = _start_job(site, tmp_path)
        worker = site.start_worker()
        wait_for(lambda: _progress(site, job_id)["rows_done"] >= 1000, timeout=120, site=site, what="the first chunks")
        site.kill_worker(worker)  # SIGKILL to the whole cluster, mid-chunk or between chunks
        stopped_at = _progress(site, job_id)
        assert 0 < stopped_at["rows_done"] < ROWS, "the job finished before the kill: make ROWS larger"
        site.start_worker()
        wait_for(lambda: _progress(site, job_id)["finished"], timeout=240, site=site, what="the job to finish")
        _check_finished(site, job_id)
    finally:
        site.close()
