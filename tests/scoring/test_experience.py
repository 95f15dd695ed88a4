"""Issue 15.4: the out-of-range guard, from the model version's training ranges.

An application with a value outside the ordinary band of the training data
(0.5th-99.5th percentile) is REVIEW, with a sentence naming the value and
the range; the ranges are part of the model version (sidecar for the serving
model, manifest for models trained since), recorded by SHA-256 in each
decision record, and replay reproduces the decision.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.exceptions import ModelUnavailable
from scoring.experience import EXPERIENCE_FILE, NUMERIC_COLUMNS, document_bytes
from scoring.model_cache import forget_loaded_models, get_model
from scoring.services import score_application
from tests.support.factories import scoring_inputs
from tests.support.scoring import CANDIDATE_VERSION, COMMITTED_STORE, private_store, require_shared_data  # noqa: F401

SERVING_VERSION = "hgb-3409bea3c4cf"


def _ranges():
    return get_model().experience.ranges


@pytest.mark.parametrize("name", [n for n in NUMERIC_COLUMNS if n != "person_age"])
def test_each_guarded_column_on_both_sides_of_its_band(name):
    experience = get_model().experience
    bounds = experience.ranges[name]
    features = {n: None for n in NUMERIC_COLUMNS}
    for edge, outward in (("ordinary_low", -math.inf), ("ordinary_high", math.inf)):
        features[name] = bounds[edge]
        assert experience.outside(features) == (), f"{name} at its {edge} is inside"
        features[name] = float(np.nextafter(bounds[edge], outward))
        (excursion,) = experience.outside(features)
        assert excursion.feature == name
        assert excursion.text.startswith("Outside the model's experience: ")


def test_age_is_never_guarded():
    experience = get_model().experience
    assert experience.ranges["person_age"]["guarded"] is False
    assert experience.outside({"person_age": 100.0}) == ()
    young = score_application(
        scoring_inputs() | {"person_age": 18.0, "person_emp_length": 1.0, "cb_person_cred_hist_length": 2.0}
    )
    old = score_application(scoring_inputs() | {"person_age": 100.0})
    assert young.outside_experience == () == old.outside_experience


def test_the_issue_example_is_review_with_the_sentence():
    inputs = scoring_inputs() | {"loan_amnt": 900_000.0, "person_income": 1000.0}
    result = score_application(inputs)
    assert result.decision == "REVIEW"
    texts = [e.text for e in result.outside_experience]
    highest = _ranges()["loan_percent_income"]["max"] * 100
    assert f"Outside the model's experience: loan is 90,000% of income (highest seen: {highest:.0f}%)" in texts
    assert "Outside the model's experience: annual income 1,000 (lowest seen: 4,000)" in texts
    assert result.experience_sha256 == get_model().experience.sha256


def test_a_tiny_loan_at_a_tiny_rate_is_review():
    result = score_application(scoring_inputs() | {"loan_amnt": 1.0, "loan_int_rate": 0.01})
    assert result.decision == "REVIEW"
    texts = [e.text for e in result.outside_experience]
    assert "Outside the model's experience: loan amount 1 (lowest seen: 500)" in texts
    assert "Outside the model's experience: interest rate 0.01% (lowest seen: 5.42%)" in texts


def test_ordinary_application_is_decided_by_its_probability():
    result = score_application(scoring_inputs())
    assert result.outside_experience == ()
    assert result.decision == ("APPROVE" if result.probability_of_default < result.approve_below else result.decision)


def test_a_missing_rate_is_not_outside():
    result = score_application(scoring_inputs() | {"loan_int_rate": None})
    assert [e.feature for e in result.outside_experience] == []


def test_sidecar_edited_by_hand_makes_the_model_unavailable(private_store):  # noqa: F811
    path = private_store / SERVING_VERSION / EXPERIENCE_FILE
    document = json.loads(path.read_text())
    document["ranges"]["loan_percent_income"]["ordinary_high"] = 100.0
    path.write_text(json.dumps(document))  # not the canonical layout: refused
    forget_loaded_models()
    with pytest.raises(ModelUnavailable, match="edited by hand"):
        get_model(SERVING_VERSION)


def test_sidecar_from_another_training_file_is_refused(private_store):  # noqa: F811
    path = private_store / SERVING_VERSION / EXPERIENCE_FILE
    document = json.loads(path.read_text())
    document["training_data_sha256"] = "0" * 64
    path.write_bytes(document_bytes(document))
    forget_loaded_models()
    with pytest.raises(ModelUnavailable, match="another training file"):
        get_model(SERVING_VERSION)


def test_missing_sidecar_makes_the_model_unavailable(private_store):  # noqa: F811
    (private_store / SERVING_VERSION / EXPERIENCE_FILE).unlink()
    forget_loaded_models()
    with pytest.raises(ModelUnavailable, match="training ranges are missing"):
        get_model(SERVING_VERSION)


@pytest.mark.parametrize("version", [SERVING_VERSION, CANDIDATE_VERSION])
def test_sidecars_are_recomputed_byte_for_byte_from_the_training_file(version, tmp_path, settings):
    data = require_shared_data()
    store = tmp_path / "store"
    shutil.copytree(COMMITTED_STORE / version, store / version)
    settings.MODELS_STORE_DIR = store
    call_command("attach_experience", model_version=version, data=data, check=True)
    (store / version / EXPERIENCE_FILE).unlink()
    call_command("attach_experience", model_version=version, data=data)
    assert (store / version / EXPERIENCE_FILE).read_bytes() == (
        COMMITTED_STORE / version / EXPERIENCE_FILE
    ).read_bytes()
    # The artifact and manifest are untouched: same predictions, same SHA-256.
    for name in ("model.joblib", "manifest.json"):
        assert (store / version / name).read_bytes() == (COMMITTED_STORE / version / name).read_bytes()


def test_attach_refuses_a_file_the_model_was_not_trained_on(tmp_path, settings):
    other = tmp_path / "other.csv"
    other.write_text("person_age\n30\n")
    with pytest.raises(CommandError, match="is not the file model"):
        call_command("attach_experience", model_version=SERVING_VERSION, data=other)
