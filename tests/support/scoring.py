"""Shared helpers for the scoring tests: the training file, a private model store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data" / "credit_risk_train.csv"
COMMITTED_STORE = Path(settings.BASE_DIR) / "models_store"
# The issue-12 design (no age, monotone, reason codes): in the store, not serving until a model validator
# activates it (docs/performance.md). Its own tests pin it.
CANDIDATE_VERSION = "hgb-47ffccc83994"


def require_shared_data() -> Path:
    if not SHARED_DATA.is_file():
        pytest.skip(f"needs the shared training data at {SHARED_DATA} (absent on this machine; CI has it)")
    return SHARED_DATA


def good_application(**overrides) -> dict:
    inputs = {
        "person_age": 22,
        "person_income": 59000,
        "person_home_ownership": "RENT",
        "person_emp_length": 5,
        "loan_intent": "PERSONAL",
        "loan_grade": "D",
        "loan_amnt": 35000,
        "loan_int_rate": 16.02,
        "cb_person_default_on_file": "Y",
        "cb_person_cred_hist_length": 3,
    }
    inputs.update(overrides)
    return inputs


@pytest.fixture
def private_store(tmp_path, settings):
    """A copy of the committed model store that a test may damage freely."""
    from scoring.model_cache import forget_loaded_models

    store = tmp_path / "models_store"
    shutil.copytree(COMMITTED_STORE, store)
    settings.MODELS_STORE_DIR = store
    settings.SCORING_MODEL_VERSION = None
    forget_loaded_models()
    yield store
    forget_loaded_models()


@pytest.fixture(scope="module")
def candidate_model_serving():
    """Module-wide: the issue-12 candidate answers ``get_model()`` and ``score_application``."""
    from django.test import override_settings

    with override_settings(SCORING_MODEL_VERSION=CANDIDATE_VERSION):
        yield CANDIDATE_VERSION
