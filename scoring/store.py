"""The model store: ``models_store/<version>/model.joblib`` + ``manifest.json``.

An artifact is unpickled only after its SHA-256 matches the manifest and the
installed library versions match the recorded ones, because unpickling runs
code and a model read by a different scikit-learn may predict differently.
Every way that can fail ends in one ``ModelUnavailable`` with a sentence for
a human; there is never a silent fallback to another model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from scoring.exceptions import ModelUnavailable

ARTIFACT_NAME = "model.joblib"
MANIFEST_NAME = "manifest.json"
ACTIVE_POINTER = "ACTIVE"
# Libraries whose exact versions decide what an unpickled model computes.
PINNED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas")


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in PINNED_LIBRARIES}


@dataclass(frozen=True)
class StoredModel:
    """A verified, loaded artifact and the manifest that vouches for it."""

    version: str
    pipeline: Any
    manifest: dict
    artifact_path: Path
    # (inode, size, mtime_ns) when verified: a change means re-verify.
    file_stamp: tuple[int, int, int]

    @property
    def sha256(self) -> str:
        return self.manifest["artifact_sha256"]


def file_stamp(path: str | Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def active_version(store_dir: Path) -> str:
    pointer = store_dir / ACTIVE_POINTER
    try:
        version = pointer.read_text().strip()
    except OSError:
        raise ModelUnavailable(f"No active model: {pointer} is missing. Train one with 'make model'.") from None
    if not version:
        raise ModelUnavailable(f"No active model: {pointer} is empty.")
    return version


def read_manifest(store_dir: Path, version: str) -> dict:
    if not version or "/" in version or version.startswith("."):
        raise ModelUnavailable(f"Model version {version!r} is not a valid version name.")
    path = store_dir / version / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelUnavailable(f"Model {version}: manifest {path} is missing.") from None
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"Model {version}: manifest {path} cannot be read ({error}).") from None


def load_verified(store_dir: Path, version: str) -> StoredModel:
    """Verify and unpickle one version; raise ModelUnavailable on any doubt."""
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    manifest = read_manifest(store_dir, version)
    artifact = store_dir / version / ARTIFACT_NAME
    try:
        stamp = file_stamp(artifact)
        # Hash and unpickle the same bytes: reading the file twice would let a
        # file swapped in between be unpickled (and its code run) unverified.
        data = artifact.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailable(f"Model {version}: artifact {artifact} is missing.") from None
    except OSError as error:
        raise ModelUnavailable(f"Model {version}: artifact {artifact} cannot be read ({error}).") from None
    actual = hashlib.sha256(data).hexdigest()
    expected = manifest.get("artifact_sha256")
    if actual != expected:
        raise ModelUnavailable(
            f"Model {version}: artifact {artifact} does not match its manifest "
            f"(SHA-256 {actual[:16]}…, expected {str(expected)[:16]}…); it is truncated, replaced or tampered with."
        )
    recorded = manifest.get("library_versions", {})
    installed = installed_versions()
    skew = {
        name: (recorded.get(name), installed[name])
        for name in PINNED_LIBRARIES
        if recorded.get(name) != installed[name]
    }
    if skew:
        detail = ", ".join(f"{name} {was} recorded, {now} installed" for name, (was, now) in sorted(skew.items()))
        raise ModelUnavailable(f"Model {version} was built with other library versions ({detail}); retrain it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            pipeline = joblib.load(io.BytesIO(data))
    except InconsistentVersionWarning as warning:
        raise ModelUnavailable(f"Model {version}: {warning}") from None
    except Exception as error:  # noqa: BLE001 - a verified file that still fails to unpickle
        raise ModelUnavailable(
            f"Model {version}: artifact cannot be loaded ({type(error).__name__}: {error})."
        ) from None
    return StoredModel(version=version, pipeline=pipeline, manifest=manifest, artifact_path=artifact, file_stamp=stamp)


# The drift reference of a model trained before training wrote one: written
# next to the manifest by ``manage.py build_monitoring_reference`` from the
# very training file the manifest names, so anyone holding that file can
# recompute it byte for byte (``--check``).
REFERENCE_SIDECAR = "monitoring_reference.json"


def reference_digest(reference: dict) -> str:
    """SHA-256 of a drift reference's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(reference, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sidecar_document(manifest: dict, reference: dict) -> dict:
    """The sidecar's content: the reference bound to its model's artifact and training data by hash."""
    return {
        "model_version": manifest["version"],
        "artifact_sha256": manifest["artifact_sha256"],
        "training_data_sha256": manifest["training_data"]["sha256"],
        "reference_sha256": reference_digest(reference),
        "reference": reference,
    }


def read_monitoring_reference(store_dir: Path, version: str) -> dict:
    """The training bins drift is measured against, for ``version``.

    From the manifest when training wrote them; otherwise from the sidecar,
    accepted only if it names this version, this artifact's SHA-256 and this
    training file's SHA-256, and its reference hashes to what it says.
    Raises ``ReferenceUnavailable`` (with the command to run) otherwise.
    """
    from scoring.exceptions import ReferenceUnavailable

    try:
        manifest = read_manifest(store_dir, version)
    except ModelUnavailable as error:
        raise ReferenceUnavailable(str(error)) from None
    if "monitoring_reference" in manifest:
        return manifest["monitoring_reference"]
    path = store_dir / version / REFERENCE_SIDECAR
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceUnavailable(
            f"Model {version} has no training bins: run 'manage.py build_monitoring_reference "
            f"--model {version} --data <its training file>'."
        ) from None
    except (OSError, ValueError) as error:
        raise ReferenceUnavailable(f"Model {version}: {path} cannot be read ({error}).") from None
    reference = document.get("reference")
    expected = {
        "model_version": version,
        "artifact_sha256": manifest.get("artifact_sha256"),
        "training_data_sha256": manifest.get("training_data", {}).get("sha256"),
    }
    for key, value in expected.items():
        if document.get(key) != value:
            raise ReferenceUnavailable(f"Model {version}: {path} was not computed for this model ({key} differs).")
    if not isinstance(reference, dict) or reference_digest(reference) != document.get("reference_sha256"):
        raise ReferenceUnavailable(f"Model {version}: {path} does not match its own SHA-256 (edited or damaged).")
    return reference
