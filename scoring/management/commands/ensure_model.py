"""Make sure the active model is in place and verifies (used by make run/test)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.store import ACTIVE_POINTER
from scoring.training import train_and_store

DEFAULT_DATA = Path(settings.BASE_DIR).parent / "shared" / "data" / "credit_risk_train.csv"


class Command(BaseCommand):
    # The engine does not depend on the web app being importable.
    requires_system_checks = []
    help = "Verify the active model; train the default one only if there is none at all."

    def handle(self, *args, **options):
        store = Path(settings.MODELS_STORE_DIR)
        if not (store / ACTIVE_POINTER).exists():
            if not DEFAULT_DATA.is_file():
                raise CommandError(f"No active model in {store} and no training data at {DEFAULT_DATA}.")
            self.stdout.write(f"No active model in {store}: training the default model from {DEFAULT_DATA}")
            train_and_store(data_path=DEFAULT_DATA, store_dir=store, activate=True)
        # A model that exists but fails verification is reported, never
        # silently replaced: that would hide tampering.
        try:
            model = get_model()
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"model {model.version} verified (SHA-256 {model.sha256[:16]}…)")
