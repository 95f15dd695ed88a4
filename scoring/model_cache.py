"""Which model serves, loaded once per process, lazily and thread-safely.

The active version is named by ``settings.SCORING_MODEL_VERSION`` or, if
that is empty, by the ``ACTIVE`` file in the model store. Nothing is loaded
at import time. Each use re-checks the artifact's file stamp (one ``stat``):
a file removed or rewritten under a running server is re-verified, so a
damaged model stops scoring at once and a repaired one resumes without a
restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings

from scoring.engine import CompiledModel
from scoring.exceptions import ModelUnavailable
from scoring.experience import Experience, ExperienceMissing, load_experience
from scoring.reason_codes import REASON_CODE_TABLE_VERSION
from scoring.store import ACTIVE_POINTER, StoredModel, active_version, file_stamp, load_verified


@dataclass(frozen=True)
class ReasonReference:
    """The applicant every reason is measured against (manifest ``reason_reference``)."""

    features: dict
    row: np.ndarray  # encoded, in the model's column order
    raw_score: float
    # Which way the reference goes at every tree node (CompiledModel.reference_directions).
    directions: np.ndarray


@dataclass(frozen=True)
class LoadedModel:
    stored: StoredModel
    compiled: CompiledModel
    approve_below: float
    decline_from: float
    risky_above: float
    # The ranges seen in training (scoring.experience): outside them, REVIEW.
    experience: Experience
    # None for models before issue 12 (path contributions, uncoded reasons).
    reference: ReasonReference | None = None

    @property
    def version(self) -> str:
        return self.stored.version

    @property
    def sha256(self) -> str:
        return self.stored.sha256

    @property
    def pipeline(self):
        return self.stored.pipeline


_lock = threading.Lock()
_models: dict[tuple[str, str], LoadedModel] = {}
_active: dict[str, tuple[tuple[int, int, int], str]] = {}


@lru_cache(maxsize=16)
def _store_paths(configured: str | Path) -> tuple[Path, str, str]:
    """(directory, its path as text, the ACTIVE pointer's path): built once per setting, not per score."""
    directory = Path(configured)
    return directory, str(directory), str(directory / ACTIVE_POINTER)


def _active_version(directory: Path, directory_key: str, pointer: str) -> str:
    configured = getattr(settings, "SCORING_MODEL_VERSION", None)
    if configured:
        return configured
    try:
        stamp = file_stamp(pointer)
    except OSError:
        raise ModelUnavailable(f"No active model: {pointer} is missing. Train one with 'make model'.") from None
    cached = _active.get(directory_key)
    if cached and cached[0] == stamp:
        return cached[1]
    version = active_version(directory)
    _active[directory_key] = (stamp, version)
    return version


def get_model(version: str | None = None) -> LoadedModel:
    """The verified model ``version`` (default: the active one).

    Raises ModelUnavailable if it is missing, damaged or version-skewed.
    """
    directory, directory_key, pointer = _store_paths(settings.MODELS_STORE_DIR)
    version = version or _active_version(directory, directory_key, pointer)
    key = (directory_key, version)
    model = _models.get(key)
    if model is not None and _unchanged(model):
        return model
    with _lock:
        model = _models.get(key)
        if model is not None and _unchanged(model):
            return model
        _models.pop(key, None)
        stored = load_verified(directory, version)
        try:
            compiled = CompiledModel(stored.pipeline)
        except (TypeError, AttributeError, KeyError) as error:
            raise ModelUnavailable(f"Model {version} is not a model this product can serve ({error}).") from None
        try:
            experience = load_experience(version_dir=stored.artifact_path.parent, manifest=stored.manifest)
        except ExperienceMissing as error:
            raise ModelUnavailable(f"Model {version}: {error}.") from None
        thresholds = stored.manifest.get("thresholds") or {}
        try:
            model = LoadedModel(
                stored=stored,
                compiled=compiled,
                approve_below=float(thresholds["approve_below"]),
                decline_from=float(thresholds["decline_from"]),
                risky_above=float(thresholds.get("risky_above", 0.5)),
                experience=experience,
                reference=_reason_reference(version, stored.manifest, compiled),
            )
        except (KeyError, TypeError, ValueError):
            raise ModelUnavailable(f"Model {version}: its manifest has no valid decision thresholds.") from None
        _models[key] = model
        return model


def _reason_reference(version: str, manifest: dict, compiled: CompiledModel) -> ReasonReference | None:
    """The reference applicant of a coded-reason model; None for a model that predates them."""
    recorded = manifest.get("reason_reference")
    if recorded is None:
        return None
    table = (manifest.get("reason_codes") or {}).get("version")
    if table != REASON_CODE_TABLE_VERSION:
        raise ModelUnavailable(
            f"Model {version} gives reasons from reason-code table {table!r}; "
            f"this product has {REASON_CODE_TABLE_VERSION!r}."
        )
    try:
        features = dict(recorded["features"])
        row = compiled.encode(features)
    except (KeyError, TypeError, ValueError):
        raise ModelUnavailable(f"Model {version}: its manifest's reason reference is not a valid applicant.") from None
    raw = float(compiled.raw_scores(row[np.newaxis, :])[0])
    return ReasonReference(features=features, row=row, raw_score=raw, directions=compiled.reference_directions(row))


def _unchanged(model: LoadedModel) -> bool:
    try:
        return file_stamp(model.stored.artifact_path) == model.stored.file_stamp
    except OSError:
        return False


def forget_loaded_models() -> None:
    """Drop every loaded model (tests, and after retraining in-process)."""
    with _lock:
        _models.clear()
        _active.clear()
