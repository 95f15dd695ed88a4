"""A batch file and what became of each of its rows.

``BatchJob`` is one uploaded file. Its rows are kept, as uploaded, in
``BatchChunk`` rows of up to ``settings.BATCH_CHUNK_ROWS`` (one INSERT per chunk while the
file streams in, and one queue task per chunk). Each row processed leaves a
``BatchRow``: the ``LoanApplication`` it became, or why it was rejected.
``BatchRow`` is unique per (job, row number) and the application's
idempotency key names the job and row, so a chunk run twice (a worker killed
after the commit and before the queue heard of it) stores nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class BatchJob(models.Model):
    class Status(models.TextChoices):
        STAGING = "STAGING", "Reading the file"
        QUEUED = "QUEUED", "Waiting for a worker"
        RUNNING = "RUNNING", "Scoring"
        DONE = "DONE", "Done"
        CANCELLED = "CANCELLED", "Cancelled"
        REFUSED = "REFUSED", "File refused"

    FINISHED = (Status.DONE, Status.CANCELLED, Status.REFUSED)

    officer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batch_jobs")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField("File SHA-256", max_length=64, blank=True)
    # The header's column names, in the file's order: the cells of each chunk row follow it.
    columns = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STAGING)
    # Why the whole file was refused (status REFUSED), for a person to read.
    refusal = models.TextField(blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_stored = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rows_done__lte=models.F("total_rows")), name="batchjob_done_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.file_name})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class BatchChunk(models.Model):
    """Up to ``settings.BATCH_CHUNK_ROWS`` consecutive rows of the file, cells as uploaded (texts)."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    first_row = models.PositiveIntegerField()
    rows = models.JSONField()
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="batchchunk_job_number_unique")]

    def __str__(self) -> str:
        return f"Batch {self.job_id} chunk {self.number}"


class BatchRow(models.Model):
    """One processed row: the application it became, or why it was rejected."""

    job = models.ForeignKey(BatchJob, on_delete=models.PROTECT, related_name="results")
    row_number = models.PositiveIntegerField()
    applicant_reference = models.CharField(max_length=64, blank=True)
    application = models.OneToOneField(
        "applications.LoanApplication", on_delete=models.PROTECT, null=True, blank=True, related_name="batch_row"
    )
    rejection = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "row_number"], name="batchrow_job_row_unique"),
            models.CheckConstraint(
                condition=(models.Q(application__isnull=False) & models.Q(rejection=""))
                | (models.Q(application__isnull=True) & ~models.Q(rejection="")),
                name="batchrow_stored_or_rejected",
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.job_id} row {self.row_number}"
