"""python manage.py build_monitoring_reference --data FILE.csv [--model VERSION] [--check]

Attaches drift bins to a model trained before training wrote them
(``hgb-3409bea3c4cf``), without touching its artifact or manifest: the bins
are computed from the training file the manifest names (its SHA-256 must
match), with the model's own verified pipeline scoring the cleaned training
rows, and written as ``models_store/<version>/monitoring_reference.json``
bound to the artifact's and the data's SHA-256. The computation is
deterministic: ``--check`` recomputes it and fails if the stored sidecar
differs by one byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from threadpoolctl import threadpool_limits

from scoring import schema
from scoring.drift import build_reference
from scoring.exceptions import ModelUnavailable
from scoring.store import (
    REFERENCE_SIDECAR,
    active_version,
    load_verified,
    read_manifest,
    sha256_of_file,
    sidecar_document,
)
from scoring.training import clean_training_frame, read_dataset


def sidecar_text(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"


class Command(BaseCommand):
    requires_system_checks = []
    help = "Write (or --check) the drift bins of a model whose manifest has none, from its own training file."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, type=Path, help="the training file the manifest names")
        parser.add_argument("--model", default=None, help="model version (default: the active model)")
        parser.add_argument("--check", action="store_true", help="recompute and compare with the stored sidecar")

    def handle(self, *args, **options):
        store = Path(settings.MODELS_STORE_DIR)
        try:
            version = options["model"] or active_version(store)
            manifest = read_manifest(store, version)
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        if "monitoring_reference" in manifest:
            raise CommandError(f"Model {version} was trained with its drift bins in its manifest; nothing to attach.")
        data = options["data"]
        try:
            data_sha = sha256_of_file(data)
        except OSError as error:
            raise CommandError(f"Cannot read {data}: {error}") from None
        if data_sha != manifest["training_data"]["sha256"]:
            raise CommandError(
                f"{data} is not the file model {version} was trained on "
                f"(SHA-256 {data_sha[:16]}…, the manifest says {manifest['training_data']['sha256'][:16]}…)."
            )
        try:
            model = load_verified(store, version)
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        frame, cleaning = clean_training_frame(read_dataset(data))
        if cleaning.rows_kept != manifest["training_data"]["rows_used"]:
            raise CommandError(
                f"Cleaning kept {cleaning.rows_kept} rows, the manifest says {manifest['training_data']['rows_used']}: "
                "the cleaning rules changed since this model was trained."
            )
        inputs = frame.loc[:, list(schema.INPUT_NAMES)]
        with threadpool_limits(limits=1):
            probabilities = model.pipeline.predict_proba(inputs)[:, 1]
        text = sidecar_text(sidecar_document(manifest, build_reference(inputs, probabilities)))
        path = store / version / REFERENCE_SIDECAR
        if options["check"]:
            try:
                stored = path.read_text()
            except OSError as error:
                raise CommandError(f"Cannot read {path}: {error}") from None
            if stored != text:
                raise CommandError(f"{path} differs from the bins recomputed from {data}.")
            self.stdout.write(f"{path} matches the bins recomputed from {data.name} ({cleaning.rows_kept} rows).")
            return
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)
        self.stdout.write(f"wrote {path} ({cleaning.rows_kept} training rows)")
