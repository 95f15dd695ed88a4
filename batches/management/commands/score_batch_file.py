"""``manage.py score_batch_file FILE --officer NAME``: upload a batch file from the command line (as the page does)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from batches import services
from batches.models import BatchJob
from batches.selectors import job_progress


class Command(BaseCommand):
    help = "Read a CSV batch file into a new job for OFFICER and queue it; --wait follows it to the end."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--officer", required=True, help="Username the applications are entered under.")
        parser.add_argument("--wait", action="store_true", help="Wait until the job is finished (needs a worker).")

    def handle(self, *args, file: Path, officer: str, wait: bool, **options) -> None:
        try:
            user = get_user_model().objects.get(username=officer)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {officer!r}.") from None
        with file.open("rb") as handle:
            job = services.create_batch_job(officer=user, file=handle, file_name=file.name)
        if job.status == BatchJob.Status.REFUSED:
            raise CommandError(f"Batch {job.pk} refused: {job.refusal}")
        while wait and not job.is_finished:
            time.sleep(0.5)
            job.refresh_from_db()
        self.stdout.write(json.dumps(job_progress(job=job)))
