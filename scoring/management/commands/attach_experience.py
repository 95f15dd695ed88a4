"""Compute a stored model's training ranges (its sidecar ``experience.json``) from its training file.

For models trained before the ranges went into the manifest: the artifact and
manifest stay untouched (same predictions, same SHA-256), and the sidecar is
computed from the training file the manifest names by SHA-256, with the same
cleaning rules, so anyone holding that file can recompute it byte for byte
(``--check``).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring import schema
from scoring.exceptions import ModelUnavailable
from scoring.experience import EXPERIENCE_FILE, document_bytes, experience_document
from scoring.store import read_manifest, sha256_of_file
from scoring.training import clean_training_frame, read_dataset


class Command(BaseCommand):
    requires_system_checks = []
    help = "Write (or --check) models_store/<version>/experience.json from the model's own training file."

    def add_arguments(self, parser):
        parser.add_argument("--model", dest="model_version", required=True, help="model version in the store")
        parser.add_argument("--data", required=True, type=Path, help="the training CSV the manifest names")
        parser.add_argument("--check", action="store_true", help="compare with the stored sidecar, write nothing")

    def handle(self, *args, model_version: str, data: Path, check: bool, **options):
        store = Path(settings.MODELS_STORE_DIR)
        try:
            version = model_version
            manifest = read_manifest(store, version)
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        if "experience" in manifest:
            raise CommandError(f"Model {version} carries its ranges in its manifest; it needs no sidecar.")
        training = manifest.get("training_data") or {}
        if not data.is_file():
            raise CommandError(f"No training file at {data}.")
        actual = sha256_of_file(data)
        if actual != training.get("sha256"):
            raise CommandError(
                f"{data} is not the file model {version} was trained on "
                f"(SHA-256 {actual[:16]}…, the manifest records {str(training.get('sha256'))[:16]}…)."
            )
        frame, cleaning = clean_training_frame(read_dataset(data))
        if cleaning.rows_kept != training.get("rows_used"):
            raise CommandError(
                f"Cleaning kept {cleaning.rows_kept} rows, the model was trained on {training.get('rows_used')}: "
                "the cleaning rules changed since; the ranges would not be the model's."
            )
        document = experience_document(
            inputs=frame.loc[:, list(schema.INPUT_NAMES)],
            training_data_sha256=actual,
            rows_used=cleaning.rows_kept,
        )
        content = document_bytes(document)
        path = store / version / EXPERIENCE_FILE
        if check:
            if not path.is_file() or path.read_bytes() != content:
                raise CommandError(f"{path} differs from the ranges computed from {data}.")
            self.stdout.write(f"{path} matches the ranges computed from {data}")
            return
        path.write_bytes(content)
        self.stdout.write(f"wrote {path} ({cleaning.rows_kept} training rows)")
