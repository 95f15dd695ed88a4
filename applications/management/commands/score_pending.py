"""``manage.py score_pending``: score applications stored while the model was down.

The periodic task ``applications.tasks.score_pending`` does the same every
minute on the task queue; this command stays for operators.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from applications.services import score_pending_applications


class Command(BaseCommand):
    help = "Score every PENDING application with the active model (each with its audit record)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Score at most this many.")

    def handle(self, *args, limit: int | None = None, **options) -> None:
        outcome = score_pending_applications(limit=limit)
        if outcome.model_unavailable is not None:
            raise CommandError(f"Model unavailable after scoring {outcome.scored}: {outcome.model_unavailable}")
        for pk, error in outcome.failed:
            self.stderr.write(f"Application {pk}: {error}")
        self.stdout.write(f"Scored {outcome.scored} pending application(s); {len(outcome.failed)} could not be scored.")
        if outcome.failed:
            raise CommandError(f"{len(outcome.failed)} pending application(s) could not be scored.")
