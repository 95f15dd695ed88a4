"""python manage.py train_model --data ../shared/data/credit_risk_train.csv

Trains and stores a model version; it never makes it serve. Which version
serves is governed (four eyes): propose the new version in the model
registry (``/governance/models/``) or with ``manage.py propose_model``, and
another admin approves it. ``--activate`` is refused, before any training,
with that advice: writing ``models_store/ACTIVE`` would change what serves
only on a database where no change was ever approved, and never with a
second pair of eyes.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from scoring.model_cache import forget_loaded_models
from scoring.training import DEFAULT_APPROVE_BELOW, DEFAULT_DECLINE_FROM, DEFAULT_SEED, train_and_store

ACTIVATION_IS_GOVERNED = (
    "--activate is no longer supported: which model serves is changed only by one admin's proposal and another "
    "admin's approval. Train without --activate, then propose the new version in the model registry "
    "(/governance/models/) or with 'manage.py propose_model --model VERSION --user ADMIN'. Nothing was trained."
)


class Command(BaseCommand):
    # The engine does not depend on the web app being importable.
    requires_system_checks = []
    help = "Train, cross-validate and store a model from a CSV in the dataset's schema."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, type=Path, help="CSV file in the dataset's schema")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--store", type=Path, default=None, help="model store (default: settings.MODELS_STORE_DIR)")
        parser.add_argument("--no-cv", action="store_true", help="skip cross-validation (metrics not recorded)")
        parser.add_argument("--approve-below", type=float, default=DEFAULT_APPROVE_BELOW)
        parser.add_argument("--decline-from", type=float, default=DEFAULT_DECLINE_FROM)
        parser.add_argument(
            "--activate", action="store_true", help="refused: activation is proposed and approved in the model registry"
        )

    def handle(self, *args, **options):
        if options["activate"]:
            raise CommandError(ACTIVATION_IS_GOVERNED)
        data = options["data"]
        if not data.is_file():
            raise CommandError(f"No training data at {data}.")
        store = options["store"] or Path(settings.MODELS_STORE_DIR)
        steps = 2 + (0 if options["no_cv"] else 5)
        with tqdm(total=steps, desc="training", unit="step", file=self.stderr._out, disable=None) as bar:

            def progress(message: str) -> None:
                bar.set_postfix_str(message)
                bar.update(1)

            try:
                manifest = train_and_store(
                    data_path=data,
                    store_dir=store,
                    seed=options["seed"],
                    cross_validate=not options["no_cv"],
                    approve_below=options["approve_below"],
                    decline_from=options["decline_from"],
                    progress=progress,
                )
            except (ValueError, KeyError) as error:
                raise CommandError(f"Cannot train on {data}: {error}") from None
        forget_loaded_models()
        metrics = manifest["cross_validation"]["metrics"]
        self.stdout.write(f"stored model {manifest['version']} in {store / manifest['version']}")
        if metrics:
            self.stdout.write(
                "cross-validated (stratified 5-fold): " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            )
        self.stdout.write(
            f"not serving: propose {manifest['version']} in the model registry (/governance/models/) or with "
            f"'manage.py propose_model --model {manifest['version']} --user ADMIN'; another admin approves it"
        )
        self.stdout.write(json.dumps({"version": manifest["version"], "metrics": metrics}))
