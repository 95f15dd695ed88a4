"""Safe loading: a model is used only if it is exactly what its manifest says.

Each way an artifact can go bad ends in one ModelUnavailable with a human
message, and never in a silent fallback to another model.
"""

import json
import shutil
import threading

import pytest

from scoring import model_cache, store
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.services import score_application
from tests.support.scoring import CANDIDATE_VERSION, good_application


def _artifact(store_dir):
    version = (store_dir / "ACTIVE").read_text().strip()
    return version, store_dir / version / "model.joblib"


@pytest.mark.parametrize("which", ["active", "candidate"])
def test_committed_models_load_and_verify(private_store, settings, which):
    if which == "candidate":
        settings.SCORING_MODEL_VERSION = CANDIDATE_VERSION
        version, artifact = CANDIDATE_VERSION, private_store / CANDIDATE_VERSION / "model.joblib"
    else:
        version, artifact = _artifact(private_store)
    model = get_model()
    assert model.version == version
    assert model.sha256 == store.sha256_of_file(artifact)
    manifest = json.loads((private_store / version / "manifest.json").read_text())
    for key in (
        "version",
        "created_at",
        "artifact_sha256",
        "training_data",
        "library_versions",
        "feature_schema",
        "hyper_parameters",
        "cross_validation",
        "thresholds",
    ):
        assert key in manifest
    if which == "candidate":  # the issue-12 design records its constraints, reason table and responses
        for key in ("monotonic_constraints", "reason_codes", "reason_reference", "response_on_training_file"):
            assert key in manifest
    assert manifest["training_data"]["rows"] == 26064
    assert manifest["library_versions"] == store.installed_versions()


def test_missing_artifact_is_refused(private_store):
    version, artifact = _artifact(private_store)
    artifact.unlink()
    with pytest.raises(ModelUnavailable, match=f"Model {version}: artifact .* is missing"):
        get_model()


def test_truncated_artifact_is_refused(private_store):
    _, artifact = _artifact(private_store)
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelUnavailable, match="does not match its manifest"):
        get_model()


def test_tampered_artifact_is_refused(private_store):
    _, artifact = _artifact(private_store)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="tampered"):
        get_model()


def test_another_valid_pickle_swapped_in_is_refused(private_store, tmp_path):
    import joblib

    _, artifact = _artifact(private_store)
    joblib.dump({"not": "the model"}, artifact)
    with pytest.raises(ModelUnavailable, match="does not match its manifest"):
        get_model()


def test_version_skew_is_refused(private_store):
    version, _ = _artifact(private_store)
    manifest_path = private_store / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["library_versions"]["scikit-learn"] = "1.0.2"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match=r"scikit-learn 1\.0\.2 recorded, .* installed"):
        get_model()


def test_sklearn_inconsistent_version_warning_is_an_error(private_store, monkeypatch):
    from sklearn.exceptions import InconsistentVersionWarning

    def load_with_warning(path):
        import warnings

        warnings.warn(
            InconsistentVersionWarning(estimator_name="X", current_sklearn_version="a", original_sklearn_version="b"),
            stacklevel=2,
        )
        return object()

    monkeypatch.setattr("joblib.load", load_with_warning)
    with pytest.raises(ModelUnavailable, match="Trying to unpickle estimator X"):
        get_model()


def test_missing_manifest_and_missing_pointer_are_refused(private_store):
    version, _ = _artifact(private_store)
    (private_store / version / "manifest.json").unlink()
    with pytest.raises(ModelUnavailable, match="manifest .* is missing"):
        get_model()
    (private_store / "ACTIVE").unlink()
    with pytest.raises(ModelUnavailable, match="No active model"):
        get_model()


def test_unknown_version_is_refused_without_fallback(private_store):
    with pytest.raises(ModelUnavailable, match="Model hgb-000000000000: manifest"):
        get_model("hgb-000000000000")


def test_damage_while_serving_stops_scoring_and_repair_resumes_without_restart(private_store, tmp_path):
    _, artifact = _artifact(private_store)
    before = score_application(good_application())
    backup = tmp_path / "backup.joblib"
    shutil.copy2(artifact, backup)
    artifact.unlink()
    with pytest.raises(ModelUnavailable):
        score_application(good_application())
    shutil.copy2(backup, artifact)
    after = score_application(good_application())
    assert after.probability_of_default == before.probability_of_default


def test_loaded_once_per_process_even_from_many_threads(private_store, monkeypatch):
    calls = []
    real = model_cache.load_verified

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_cache, "load_verified", counting)
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_model())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(model) for model in results}) == 1


def test_nothing_is_loaded_at_import_time():
    import subprocess
    import sys

    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='creditsite.settings'; "
        "os.environ.setdefault('DJANGO_DEBUG','1'); django.setup(); "
        "import scoring.services, scoring.model_cache as r; print(len(r._models))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


UNPICKLED_SWAPPED_FILE = []


def _mark_unpickled():
    UNPICKLED_SWAPPED_FILE.append(True)
    return {"swapped": "after the hash"}


class _Trap:
    """Unpickling this runs code: it records that it happened."""

    def __reduce__(self):
        return (_mark_unpickled, ())


def test_a_file_swapped_after_hashing_is_never_unpickled(private_store, monkeypatch):
    """The bytes that were hashed are the bytes unpickled: no second read."""
    import hashlib

    import joblib

    _, artifact = _artifact(private_store)
    real_sha256 = hashlib.sha256

    class SwapAfterDigest:
        def __init__(self, *args):
            self._digest = real_sha256(*args)

        def update(self, data):
            self._digest.update(data)

        def hexdigest(self):
            result = self._digest.hexdigest()
            joblib.dump(_Trap(), artifact)  # an attacker swaps the file right after the check
            return result

    monkeypatch.setattr(store.hashlib, "sha256", SwapAfterDigest)
    UNPICKLED_SWAPPED_FILE.clear()
    model = get_model()
    assert UNPICKLED_SWAPPED_FILE == []
    assert hasattr(model.pipeline, "predict_proba")
