"""``manage.py seed_demo --applications N``: realistic, scored, chained demo data (``operations.demo_data``)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from operations.demo_data import DEFAULT_DATA, MissingData, seed_demo


class Command(BaseCommand):
    help = (
        "Add N applications sampled from the shared training data, scored and chained as submissions are, "
        "spread over two years, with review cases and overrides. For demo and benchmark databases."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--applications", type=int, required=True, help="How many applications to add.")
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"Training CSV (default {DEFAULT_DATA}).")
        parser.add_argument("--seed", type=int, default=20261130, help="Random seed (same seed, same data).")
        parser.add_argument("--chunk", type=int, default=20_000, help="Applications per transaction.")
        parser.add_argument(
            "--one-process",
            action="store_true",
            help="Make the rows in this process instead of a producer process and scoring pool (to compare).",
        )

    def handle(self, *args, **options) -> None:
        if options["applications"] < 1:
            raise CommandError("--applications must be at least 1.")
        verbose = options["verbosity"] >= 1
        try:
            report = seed_demo(
                applications=options["applications"],
                data=options["data"],
                seed=options["seed"],
                chunk_size=options["chunk"],
                pipeline=False if options["one_process"] else None,
                progress=(lambda message: self.stdout.write(message)) if verbose else (lambda message: None),
            )
        except MissingData as error:
            raise CommandError(str(error)) from None
        versions = ", ".join(f"{version}: {count:,}" for version, count in sorted(report.by_model.items()))
        self.stdout.write(
            f"Seeded {report.applications:,} applications ({versions}), {report.decision_records:,} decision records, "
            f"{report.case_records:,} case records ({report.overridden:,} final decisions differ from the model's) "
            f"in {report.seconds:.1f} s: {report.per_second:,.0f} applications/s."
        )
