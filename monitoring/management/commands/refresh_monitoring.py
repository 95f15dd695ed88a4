"""python manage.py refresh_monitoring [--rebuild]

The periodic task behind the monitoring pages: counts the decisions and
overrides recorded since the last run and recomputes the back-test when
outcomes arrived. The task queue runs the same thing every 5 minutes
(``monitoring.tasks``); this command runs it by hand. The pages show when it last ran. A run
costs what arrived since the previous one. ``--rebuild`` counts everything
again from the start (after drift bins were attached to a model already
serving, say). Last line: JSON summary.
"""

import json
import time

from django.core.management.base import BaseCommand

from monitoring.services import rebuild_aggregates, refresh_aggregates


class Command(BaseCommand):
    help = "Bring the monitoring aggregates up to date (periodic task)."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="empty the aggregates and count everything again")

    def handle(self, *args, **options):
        started = time.perf_counter()
        summary = rebuild_aggregates() if options["rebuild"] else refresh_aggregates()
        self.stdout.write(
            json.dumps(
                {
                    "decisions": summary.decisions,
                    "overrides": summary.overrides,
                    "outcomes_recomputed": summary.outcomes_recomputed,
                    "outcomes": summary.outcomes,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
        )
