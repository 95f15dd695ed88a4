"""``manage.py score_pending``: score applications stored while the model was down."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from applications.selectors import pending_applications
from applications.services import record_scoring_failure, score_pending_application
from scoring.exceptions import ModelUnavailable


class Command(BaseCommand):
    help = "Score every PENDING application with the active model (each with its audit record)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Score at most this many.")

    def handle(self, *args, limit: int | None = None, **options) -> None:
        # Ids first: no read cursor stays open across the writes below.
        ids = list(pending_applications().values_list("pk", flat=True)[:limit])
        scored = failed = 0
        for pk in ids:
            application = pending_applications().filter(pk=pk).first()
            if application is None:  # scored meanwhile by another process
                continue
            try:
                score_pending_application(application=application)
            except ModelUnavailable as error:
                # The model is still down: stop, every further row would fail the same way.
                record_scoring_failure(application=application, error=error)
                raise CommandError(f"Model unavailable after scoring {scored}: {error}") from None
            except ValueError as error:
                # Inputs the current schema refuses: keep it pending, say why, go on.
                record_scoring_failure(application=application, error=error)
                failed += 1
                self.stderr.write(f"Application {application.pk}: {error}")
                continue
            scored += 1
        self.stdout.write(f"Scored {scored} pending application(s); {failed} could not be scored.")
        if failed:
            raise CommandError(f"{failed} pending application(s) could not be scored.")
