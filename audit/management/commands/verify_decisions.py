"""``manage.py verify_decisions [--replay]``: is the audit trail intact?

Prints each problem found, then a JSON summary as the last line
(``checked``, ``chain_ok``, ``first_bad_id``, ``replayed``, ``mismatches``,
plus the override and case chains, model errors and applications whose shown
outcome or case state disagrees with their records); exits 1 on any problem.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from audit.verification import summary_json, verify_audit_trail


class Command(BaseCommand):
    help = "Verify the decision, override, case and role-change hash chains; with --replay, re-score every decision bit for bit."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--replay",
            action="store_true",
            help="Also re-score every stored feature vector with its recorded model version and compare bits.",
        )

    def handle(self, *args, replay: bool = False, **options) -> None:
        started = time.perf_counter()
        summary = verify_audit_trail(replay=replay)
        elapsed = time.perf_counter() - started
        for line in summary.problems():
            self.stdout.write(f"PROBLEM {line}")
        self.stdout.write(
            f"{'OK' if summary.ok else 'FAILED'}: {summary.decisions.checked} decisions, "
            f"{summary.overrides.checked} overrides, {summary.cases.checked} case records and "
            f"{summary.role_changes.checked} role changes checked, {summary.applications_checked} scored applications compared"
            + (f", {summary.replayed} replayed" if replay else "")
            + f" in {elapsed:.2f} s; decision chain head #{summary.decisions.head_sequence} {summary.decisions.head_hash}"
        )
        self.stdout.write(summary_json(summary))
        if not summary.ok:
            raise CommandError("the audit trail failed verification (see above)", returncode=1)
