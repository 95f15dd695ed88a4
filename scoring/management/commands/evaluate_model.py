"""python manage.py evaluate_model --data FILE.csv [--model VERSION]"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from scoring.exceptions import ModelUnavailable
from scoring.metrics import quality_metrics
from scoring.schema import TARGET
from scoring.services import score_batch
from scoring.training import read_dataset


class Command(BaseCommand):
    # The engine does not depend on the web app being importable.
    requires_system_checks = []
    help = "Score a labelled CSV with the active (or named) model; print metrics as JSON on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, type=Path)
        parser.add_argument("--model", default=None, help="model version (default: the active model)")

    def handle(self, *args, **options):
        try:
            frame = read_dataset(options["data"])
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {options['data']}: {error}") from None
        if TARGET not in frame.columns:
            raise CommandError(f"{options['data']} has no {TARGET} column to evaluate against.")
        try:
            scores = score_batch(frame, model_version=options["model"])
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        labels = frame[TARGET].reset_index(drop=True)
        labelled = labels.isin([0, 1]).to_numpy()
        usable = scores.accepted & labelled
        rejected = int((~scores.accepted).sum())
        unlabelled = int((scores.accepted & ~labelled).sum())
        if not usable.any():
            raise CommandError("No row could be scored against a 0/1 label.")
        summary = {
            "model_version": scores.model_version,
            "n": int(usable.sum()),
            "rejected": rejected,
            "unlabelled": unlabelled,
            **quality_metrics(labels[usable].astype(int).to_numpy(), scores.probability_of_default[usable]),
        }
        if rejected:
            for reason, count in scores.rejected.dropna().value_counts().items():
                self.stderr.write(f"rejected {count} row(s): {reason}")
        self.stdout.write(json.dumps(summary))
