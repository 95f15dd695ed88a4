"""``manage.py verify_decisions [--full | --incremental] [--replay]``: is the audit trail intact?

``--full`` (the default) walks every chain from its first record and compares every scored
application; ``--incremental`` re-checks the checkpoint of the latest passed verification and
walks only the records after it (and compares the applications they touch); ``--replay`` also
re-scores every decision walked. Each run is stored (``audit.VerificationRun``) and is what
``/audit/`` shows. Prints each problem found, then a JSON summary as the last line
(``checked``, ``chain_ok``, ``first_bad_id``, ``replayed``, ``mismatches``, plus the other chains,
model errors and applications whose shown outcome or case state disagrees with their records);
exits 1 on any problem.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from audit.models import VerificationRun
from audit.services import verify_now
from audit.verification import summary_json


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chains (every record, or with --incremental only those after the last "
        "passed checkpoint); with --replay, re-score every decision walked bit for bit."
    )

    def add_arguments(self, parser) -> None:
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument(
            "--full", action="store_true", help="Every record of every chain from the first (the default)."
        )
        kind.add_argument(
            "--incremental",
            action="store_true",
            help="Re-check the latest passed run's checkpoint records and walk only the records after them.",
        )
        parser.add_argument(
            "--replay",
            action="store_true",
            help="Also re-score every stored feature vector with its recorded model version and compare bits.",
        )

    def handle(self, *args, replay: bool = False, incremental: bool = False, **options) -> None:
        started = time.perf_counter()
        run, summary = verify_now(
            kind=VerificationRun.INCREMENTAL if incremental else VerificationRun.FULL, replay=replay
        )
        elapsed = time.perf_counter() - started
        for line in summary.problems():
            self.stdout.write(f"PROBLEM {line}")
        scope = (
            "new records since the last passed checkpoint"
            if run.kind == VerificationRun.INCREMENTAL
            else "every record"
        )
        self.stdout.write(
            f"{'OK' if summary.ok else 'FAILED'} ({run.kind} verification #{run.pk}: {scope}): "
            f"{summary.decisions.checked} decisions, "
            f"{summary.overrides.checked} overrides, {summary.cases.checked} case records and "
            f"{summary.role_changes.checked} role changes checked, {summary.applications_checked} scored applications compared"
            + (f", {summary.replayed} replayed" if replay else "")
            + f" in {elapsed:.2f} s; decision chain head #{summary.decisions.head_sequence} {summary.decisions.head_hash}"
        )
        self.stdout.write(summary_json(summary))
        if not summary.ok:
            raise CommandError("the audit trail failed verification (see above)", returncode=1)
