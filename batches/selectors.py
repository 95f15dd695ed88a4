"""Read side of batch files: who sees which job, its progress and its results row by row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import selectors as audit_selectors
from batches.models import BatchChunk, BatchJob, BatchRow


def visible_jobs(*, user: Any) -> QuerySet[BatchJob]:
    """Jobs ``user`` may see: their own, or everyone's for those who see every application."""
    jobs = BatchJob.objects.select_related("officer")
    if not roles.can_view_any(user):
        return jobs.none()
    if roles.can_view_all(user):
        return jobs
    return jobs.filter(officer_id=user.pk)


def job_get(*, user: Any, pk: int) -> BatchJob:
    """One job ``user`` may see; 404 otherwise, whether or not it exists."""
    try:
        return visible_jobs(user=user).get(pk=pk)
    except BatchJob.DoesNotExist:
        raise Http404("No such batch file.") from None


def job_progress(*, job: BatchJob) -> dict[str, Any]:
    """What the progress bar shows: rows done of total, rate since the start, time left (JSON-ready)."""
    rate = None
    seconds_left = None
    if job.started_at and job.rows_done:
        end = job.finished_at or timezone.now()
        elapsed = max((end - job.started_at).total_seconds(), 0.001)
        rate = job.rows_done / elapsed
        if not job.is_finished:
            seconds_left = (job.total_rows - job.rows_done) / rate
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "total_rows": job.total_rows,
        "rows_done": job.rows_done,
        "rows_stored": job.rows_stored,
        "rows_rejected": job.rows_rejected,
        "percent": round(100 * job.rows_done / job.total_rows, 1)
        if job.total_rows
        else (100.0 if job.is_finished else 0.0),
        "rows_per_second": None if rate is None else round(rate, 1),
        "seconds_left": None if seconds_left is None else round(seconds_left),
        "refusal": job.refusal,
    }


RESULT_COLUMNS = (
    "row_number",
    "applicant_reference",
    "outcome",
    "rejection_reason",
    "application_id",
    "decision_record_id",
    "probability_of_default",
    "decision",
    "reason_codes",
    "model_version",
)
NOT_PROCESSED = "not processed (cancelled)"


def result_rows(*, job: BatchJob) -> Iterator[list[Any]]:
    """The results file: a header, then every input row in order (chunk by chunk, never all in memory)."""
    yield list(RESULT_COLUMNS)
    chunk_starts = list(BatchChunk.objects.filter(job=job).order_by("number").values_list("first_row", "done"))
    for index, (first_row, _done) in enumerate(chunk_starts):
        last_row = chunk_starts[index + 1][0] - 1 if index + 1 < len(chunk_starts) else job.total_rows
        rows = {
            row.row_number: row
            for row in BatchRow.objects.filter(job=job, row_number__gte=first_row, row_number__lte=last_row)
            .select_related("application")
            .order_by("row_number")
        }
        records = audit_selectors.latest_decision_record_ids(
            application_ids=[row.application_id for row in rows.values() if row.application_id]
        )
        for row_number in range(first_row, last_row + 1):
            yield _result_row(row_number, rows.get(row_number), records)


def _result_row(row_number: int, row: BatchRow | None, records: dict[int, int]) -> list[Any]:
    if row is None:
        return [row_number, "", NOT_PROCESSED, "", "", "", "", "", "", ""]
    application = row.application
    if application is None:
        return [row_number, row.applicant_reference, "rejected", row.rejection, "", "", "", "", "", ""]
    codes = [reason.get("code") or reason.get("feature", "") for reason in application.reasons or []]
    return [
        row_number,
        row.applicant_reference,
        "stored" if application.is_scored else "stored, pending (model unavailable)",
        "",
        application.pk,
        records.get(application.pk, ""),
        "" if application.probability_of_default is None else application.probability_of_default,
        application.decision,
        " ".join(code for code in codes if code),
        application.model_version,
    ]
