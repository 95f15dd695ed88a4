"""Drift bins and PSI (issue 18, point 2): hand-computed figures, the sidecar's bindings, training's bins."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from scoring import drift
from scoring.exceptions import ReferenceUnavailable
from scoring.store import REFERENCE_SIDECAR, read_monitoring_reference, reference_digest
from scoring.training import train_and_store
from tests.scoring.test_training import SMALL, sample_csv  # noqa: F401 - a fixture
from tests.support.scoring import CANDIDATE_VERSION, COMMITTED_STORE, require_shared_data

SERVING_VERSION = "hgb-3409bea3c4cf"


def test_psi_matches_a_hand_computation():
    # Training shares 0.25 / 0.25 / 0.5; this month 10, 30, 60 of 100 applications.
    # (0.1-0.25)ln(0.1/0.25) + (0.3-0.25)ln(0.3/0.25) + (0.6-0.5)ln(0.6/0.5)
    #   = 0.137444 + 0.009116 + 0.018232 = 0.164792
    assert drift.psi([0.25, 0.25, 0.5], [10, 30, 60]) == pytest.approx(0.1647921, abs=1e-6)
    assert drift.psi([0.25, 0.25, 0.5], [25, 25, 50]) == 0.0
    assert drift.psi([0.5, 0.5], [0, 0]) is None


def test_an_empty_bin_is_floored_not_infinite():
    # Nothing in the first bin this month: its share counts as 0.0001.
    expected = (0.0001 - 0.5) * math.log(0.0001 / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    assert drift.psi([0.5, 0.5], [0, 40]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.0999, "stable"), (0.1, "watch"), (0.25, "watch"), (0.2501, "act"), (None, None)],
)
def test_the_usual_bands(value, band):
    assert drift.psi_band(value) == band


def test_numeric_bins_are_training_deciles_with_a_missing_bin():
    values = np.array([*range(1, 11), np.nan], dtype=float)  # 1..10 and one blank
    edges = drift.numeric_edges(values)
    assert edges == pytest.approx([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1])
    assert list(drift.bin_numeric(np.array([1.0, 1.9, 9.1, 50.0, np.nan]), edges)) == [0, 1, 9, 9, 10]
    spec = drift.feature_spec("loan_int_rate", values)
    assert spec["shares"] == pytest.approx([1 / 11] * 11)
    assert drift.bin_labels(spec)[0] == "< 1.9" and drift.bin_labels(spec)[-1] == "missing"


def test_categories_are_their_own_bins():
    spec = drift.feature_spec("person_home_ownership", np.array(["RENT", "RENT", "OWN", "MORTGAGE"], dtype=object))
    assert spec["categories"] == ["RENT", "OWN", "MORTGAGE", "OTHER"]
    assert spec["shares"] == [0.5, 0.25, 0.25, 0.0]


def test_the_serving_models_sidecar_is_bound_to_its_artifact_and_data(tmp_path):
    reference = read_monitoring_reference(COMMITTED_STORE, SERVING_VERSION)
    assert set(reference["features"]) == set(drift.DRIFT_FEATURES)
    assert reference["rows"] == 25954
    for spec in reference["features"].values():
        assert sum(spec["shares"]) == pytest.approx(1.0)
        assert len(spec["shares"]) == drift.bin_count(spec)

    store = tmp_path / "store"
    shutil.copytree(COMMITTED_STORE, store)
    sidecar = store / SERVING_VERSION / REFERENCE_SIDECAR
    document = json.loads(sidecar.read_text())

    # One share edited: the reference no longer matches its own hash.
    edited = json.loads(json.dumps(document))
    edited["reference"]["features"]["person_age"]["shares"][0] += 0.01
    sidecar.write_text(json.dumps(edited))
    with pytest.raises(ReferenceUnavailable, match="does not match its own SHA-256"):
        read_monitoring_reference(store, SERVING_VERSION)

    # Re-hashed, but copied from another model: the artifact binding refuses it.
    other = json.loads((store / CANDIDATE_VERSION / REFERENCE_SIDECAR).read_text())
    other["reference_sha256"] = reference_digest(other["reference"])
    sidecar.write_text(json.dumps(other))
    with pytest.raises(ReferenceUnavailable, match="not computed for this model"):
        read_monitoring_reference(store, SERVING_VERSION)

    sidecar.unlink()
    with pytest.raises(ReferenceUnavailable, match="build_monitoring_reference"):
        read_monitoring_reference(store, SERVING_VERSION)


def test_the_sidecar_recomputes_byte_for_byte_from_the_training_file(settings, tmp_path):
    data = require_shared_data()
    settings.MODELS_STORE_DIR = COMMITTED_STORE
    # --check recomputes from the data with the verified model and compares bytes.
    call_command("build_monitoring_reference", "--data", str(data), "--model", SERVING_VERSION, "--check")
    reference = read_monitoring_reference(COMMITTED_STORE, SERVING_VERSION)
    # An independent look at one figure: the share of renters among the cleaned training rows.
    from scoring.training import clean_training_frame, read_dataset

    frame, _ = clean_training_frame(read_dataset(data))
    renters = (frame["person_home_ownership"] == "RENT").mean()
    assert reference["features"]["person_home_ownership"]["shares"][0] == pytest.approx(renters, rel=1e-12)

    wrong = tmp_path / "other.csv"
    frame.head(100).to_csv(wrong, index=False)
    with pytest.raises(CommandError, match="is not the file model"):
        call_command("build_monitoring_reference", "--data", str(wrong), "--model", SERVING_VERSION)


def test_training_writes_the_bins_into_the_manifest(sample_csv, tmp_path):  # noqa: F811
    manifest = train_and_store(data_path=sample_csv, store_dir=tmp_path, params=SMALL, cross_validate=False)
    reference = read_monitoring_reference(tmp_path, manifest["version"])
    assert reference == manifest["monitoring_reference"]
    from scoring.training import clean_training_frame, read_dataset

    frame, _ = clean_training_frame(read_dataset(sample_csv))
    # The ages' deciles, computed independently with pandas on the rows training kept.
    assert reference["rows"] == manifest["training_data"]["rows_used"] == len(frame)
    ages = frame["person_age"].astype(float)
    expected_edges = sorted(set(ages.quantile([i / 10 for i in range(1, 10)]).tolist()))
    assert reference["features"]["person_age"]["edges"] == pytest.approx(expected_edges)
    probability = reference["features"][drift.PROBABILITY]
    assert sum(probability["shares"][:-1]) == pytest.approx(1.0)
