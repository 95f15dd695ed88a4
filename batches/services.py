"""Write side of batch files (HackSoft style: keyword-only services).

``create_batch_job`` reads an upload as a stream into chunks and queues one
task per chunk; ``process_chunk`` (run by the queue, ``batches.tasks``)
validates a chunk's rows with the form's own rules, scores them with the
form's own service code and stores applications, decision records and row
outcomes in one transaction; ``cancel_batch_job`` stops what has not started.
"""

from __future__ import annotations

import hashlib
import logging
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import roles
from applications.forms import clean_application_rows
from applications.models import LoanApplication
from applications.services import PreparedApplication, prepare_applications, store_prepared_applications
from audit.models import DecisionRecord, LatestDecision
from batches import parsing
from batches.models import BatchChunk, BatchJob, BatchRow
from governance.models import ChallengerScore
from infrastructure.planner import refresh_planner_statistics
from infrastructure.rows import insert_values
from infrastructure.task_queue import enqueue_many

logger = logging.getLogger(__name__)

CHUNK_TASK = "batches.tasks.run_chunk"


def create_batch_job(*, officer: Any, file: IO[bytes], file_name: str, max_rows: int = parsing.MAX_ROWS) -> BatchJob:
    """Read ``file`` (a CSV upload, binary) into a new job and queue its chunks.

    A file refused as a whole leaves a job with status REFUSED and its
    ``refusal`` reason, and no rows at all (the chunks read before the
    problem showed are deleted). Raises ``PermissionDenied`` for a user who
    may not enter applications.
    """
    if not roles.can_create(officer):
        raise PermissionDenied("You may not enter applications.")
    job = BatchJob.objects.create(officer=officer, file_name=(file_name or "upload.csv")[:255])
    digest = hashlib.sha256()
    chunk_rows = settings.BATCH_CHUNK_ROWS  # read per upload: tests and benchmarks change it
    total = 0
    number = 0
    try:
        rows = parsing.read_rows(file, max_rows=max_rows, digest=digest)
        columns = next(rows)
        chunk: list[list[str]] = []
        for cells in rows:
            chunk.append(cells)
            total += 1
            if len(chunk) == chunk_rows:
                _stage_chunk(job, number, total - len(chunk) + 1, chunk)
                number += 1
                chunk = []
        if chunk:
            _stage_chunk(job, number, total - len(chunk) + 1, chunk)
            number += 1
    except parsing.FileRefused as refusal:
        BatchChunk.objects.filter(job=job).delete()
        BatchJob.objects.filter(pk=job.pk).update(
            status=BatchJob.Status.REFUSED, refusal=str(refusal), finished_at=timezone.now()
        )
        job.refresh_from_db()
        logger.info("Batch %s refused: %s", job.pk, refusal)
        return job
    status = BatchJob.Status.QUEUED if total else BatchJob.Status.DONE
    with transaction.atomic():
        BatchJob.objects.filter(pk=job.pk).update(
            columns=columns,
            total_rows=total,
            chunk_count=number,
            file_sha256=digest.hexdigest(),
            status=status,
            finished_at=None if total else timezone.now(),
        )
        transaction.on_commit(lambda: enqueue_many(CHUNK_TASK, [(job.pk, n) for n in range(number)]))
    job.refresh_from_db()
    return job


def _stage_chunk(job: BatchJob, number: int, first_row: int, rows: list[list[str]]) -> None:
    BatchChunk.objects.create(job=job, number=number, first_row=first_row, rows=rows)


def _row_key(job_id: int, row_number: int) -> str:
    """The application's idempotency key: unique in the database, so a row is never stored twice."""
    return f"batch{job_id}-row{row_number}"


def _rejection_text(errors: dict[str, list[str]] | dict[str, str]) -> str:
    parts = []
    for field, messages in errors.items():
        text = " ".join(messages) if isinstance(messages, list) else messages
        parts.append(f"{field}: {text}")
    return "; ".join(parts)


def process_chunk(*, job_id: int, number: int) -> int:
    """Validate, score and store one chunk's rows; returns how many rows this call processed.

    Idempotent: a chunk already done (or a job cancelled or finished) is
    left alone, and everything a chunk writes commits in one transaction
    together with the chunk's ``done`` mark, so a run killed at any point
    leaves either all of it or none of it.
    """
    job = BatchJob.objects.select_related("officer").get(pk=job_id)
    if job.status not in (BatchJob.Status.QUEUED, BatchJob.Status.RUNNING):
        return 0
    chunk = BatchChunk.objects.filter(job_id=job_id, number=number).first()
    if chunk is None or chunk.done:
        return 0
    if job.status == BatchJob.Status.QUEUED:
        BatchJob.objects.filter(pk=job_id, status=BatchJob.Status.QUEUED).update(
            status=BatchJob.Status.RUNNING, started_at=timezone.now()
        )
    columns = job.columns
    outcomes: list[tuple[int, str, str]] = []  # (row number, reference, rejection or "")
    to_clean: list[tuple[int, dict[str, str]]] = []  # (position in outcomes, the row's values)
    for offset, cells in enumerate(chunk.rows):
        row_number = chunk.first_row + offset
        problems = parsing.row_problems(columns, cells)
        if problems:
            outcomes.append((row_number, "", _rejection_text(problems)))
            continue
        values = parsing.row_values(columns, cells)
        to_clean.append((len(outcomes), values))
        outcomes.append((row_number, values.get(parsing.REFERENCE, ""), ""))
    to_score: list[tuple[str, dict[str, Any]]] = []
    # The form's rules, column by column over the chunk (exactly clean_application_data's results).
    for (position, _), (cleaned, errors) in zip(
        to_clean, clean_application_rows([values for _, values in to_clean]), strict=True
    ):
        row_number, reference, _ = outcomes[position]
        if errors:
            outcomes[position] = (row_number, reference[:64], _rejection_text(errors))
        else:
            to_score.append((_row_key(job_id, row_number), cleaned))
    prepared_iter = iter(prepare_applications(officer=job.officer, rows=to_score))
    rows: list[dict[str, Any]] = []  # BatchRow values, by attribute name
    stored: list[PreparedApplication] = []
    for row_number, reference, rejection in outcomes:
        if not rejection:
            item = next(prepared_iter)
            if isinstance(item, ValidationError):
                rejection = _rejection_text(item.message_dict)
            else:
                stored.append(item)
                rows.append({"job_id": job_id, "row_number": row_number, "applicant_reference": reference})
                rows[-1]["_prepared"] = item
                continue
        rows.append(
            {
                "job_id": job_id,
                "row_number": row_number,
                "applicant_reference": reference,
                "application_id": None,
                "rejection": rejection,
            }
        )
    with transaction.atomic():
        # Lock the chunk: a second run of it (a redelivered task) waits here and then finds it done.
        locked = BatchChunk.objects.select_for_update().filter(pk=chunk.pk, done=False).values_list("pk", flat=True)
        if not list(locked):
            return 0
        status = BatchJob.objects.filter(pk=job_id).values_list("status", flat=True).get()
        if status != BatchJob.Status.RUNNING:
            return 0
        store_prepared_applications(prepared=stored)
        for row in rows:
            prepared = row.pop("_prepared", None)
            if prepared is not None:
                row["application_id"] = prepared.application.pk
                row["rejection"] = ""
        insert_values(BatchRow, rows)
        BatchChunk.objects.filter(pk=chunk.pk).update(done=True, rows=[])
        accepted = len(stored)
        BatchJob.objects.filter(pk=job_id).update(
            rows_done=F("rows_done") + len(rows),
            rows_stored=F("rows_stored") + accepted,
            rows_rejected=F("rows_rejected") + (len(rows) - accepted),
        )
    _finish_if_complete(job_id)
    return len(rows)


# What a job writes in bulk, whose planner statistics are refreshed when it ends (PostgreSQL).
WRITTEN_TABLES = (LoanApplication, DecisionRecord, LatestDecision, ChallengerScore, BatchRow)


def _finish_if_complete(job_id: int) -> None:
    finished = BatchJob.objects.filter(pk=job_id, status=BatchJob.Status.RUNNING, rows_done=F("total_rows")).update(
        status=BatchJob.Status.DONE, finished_at=timezone.now()
    )
    if finished:
        # Without autovacuum (or before it comes round) the planner would still take these tables for their
        # size before the job, and the next reader (verify_decisions, the history) pick a plan made for small
        # tables. Only the run that marked the job done gets here.
        refresh_planner_statistics(WRITTEN_TABLES)


def cancel_batch_job(*, job: BatchJob, user: Any) -> BatchJob:
    """Stop a job: chunks not yet stored are not processed; rows already stored stay (each is a real decision)."""
    if not roles.can_cancel_batch(user, job):
        raise PermissionDenied("Only the person who uploaded the file (or an admin) may cancel it.")
    BatchJob.objects.filter(pk=job.pk, status__in=(BatchJob.Status.QUEUED, BatchJob.Status.RUNNING)).update(
        status=BatchJob.Status.CANCELLED, cancelled_by=user, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
