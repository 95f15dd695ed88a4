"""The auditor's contract: the fast path computes exactly what the artifact says.

For every row of the training file, ``score_application(row)`` must equal
``joblib.load(artifact).predict_proba(frame)[:, 1]`` bit for bit, and the
reasons' contributions must add up to the model's raw score.
"""

import math

import joblib
import numpy as np
import pandas as pd
import pytest

from scoring import schema
from scoring.model_cache import get_model
from scoring.reason_codes import CODE_OF_COLUMN
from scoring.services import score_application, score_batch
from scoring.training import read_dataset
from tests.support.scoring import good_application, require_shared_data


@pytest.fixture(scope="module")
def training_rows():
    path = require_shared_data()
    frame = read_dataset(path)
    accepted = schema.frame_rejections(frame).isna()
    return frame[accepted].reset_index(drop=True)


def _as_inputs(record: dict) -> dict:
    return {
        name: (None if isinstance(record[name], float) and math.isnan(record[name]) else record[name])
        for name in schema.INPUT_NAMES
    }


@pytest.mark.slow
def test_fast_path_equals_artifact_bit_for_bit_over_the_training_file(training_rows):
    model = get_model()
    artifact = joblib.load(model.stored.artifact_path)
    expected = artifact.predict_proba(training_rows.loc[:, list(schema.INPUT_NAMES)])[:, 1]
    got = np.array(
        [score_application(_as_inputs(record)).probability_of_default for record in training_rows.to_dict("records")]
    )
    assert len(got) > 25_000
    # Compare the bits, not the values: 0.1 + 0.2 style differences must fail.
    mismatched = np.flatnonzero(got.view(np.uint64) != expected.view(np.uint64))
    assert mismatched.size == 0, f"{mismatched.size} rows differ, first at {mismatched[:5]}"


@pytest.mark.slow
def test_batch_scores_equal_artifact_bit_for_bit(training_rows):
    model = get_model()
    expected = joblib.load(model.stored.artifact_path).predict_proba(training_rows.loc[:, list(schema.INPUT_NAMES)])[
        :, 1
    ]
    scores = score_batch(training_rows)
    assert scores.accepted.all()
    assert np.array_equal(scores.probability_of_default.view(np.uint64), expected.view(np.uint64))


def test_single_row_dataframe_as_an_auditor_builds_it():
    inputs = good_application()
    artifact = joblib.load(get_model().stored.artifact_path)
    expected = artifact.predict_proba(pd.DataFrame([inputs]))[:, 1][0]
    assert score_application(inputs).probability_of_default == expected


def test_raw_score_is_the_boosters_decision_function_and_contributions_add_up(training_rows):
    model = get_model()
    booster = model.pipeline.named_steps["classify"].calibrated_classifiers_[0].estimator
    sample = training_rows.sample(500, random_state=0)
    encoded = model.pipeline[:-1].transform(sample.loc[:, list(schema.INPUT_NAMES)])
    decision = booster.decision_function(encoded)
    for record, raw in zip(sample.to_dict("records"), decision):
        result = score_application(_as_inputs(record))
        assert result.raw_score == raw
        total = result.base_value + math.fsum(result.contributions.values())
        # Equal up to float rounding of the regrouped sum (a few ulps of the score).
        assert total == pytest.approx(result.raw_score, rel=1e-12, abs=1e-12)
        assert set(result.contributions) == set(model.compiled.columns)


def test_reasons_are_the_largest_positive_reason_codes_in_words(candidate_model_serving):
    result = score_application(good_application())
    assert 1 <= len(result.reasons) <= 4
    amounts = [reason.contribution for reason in result.reasons]
    assert amounts == sorted(amounts, reverse=True)
    assert all(amount > 0 for amount in amounts)
    totals: dict[str, float] = {}
    for column, amount in result.contributions.items():
        code = CODE_OF_COLUMN[column].code
        totals[code] = totals.get(code, 0.0) + amount
    top = sorted((v for v in totals.values() if v > 0), reverse=True)[: len(amounts)]
    assert amounts == top
    by_code = {reason.code: reason for reason in result.reasons}
    for reason in result.reasons:
        assert reason.text == f"{reason.statement} — {reason.value_text}"
    if "R02" in by_code:
        assert (
            by_code["R02"].value_text == f"First-year interest is {result.interest_burden * 100:.1f}% of annual income"
        )
    if "R06" in by_code:
        assert "oan grade D (A best, G worst)" in by_code["R06"].value_text


def test_result_fields_and_policy(candidate_model_serving):
    result = score_application(good_application())
    model = get_model()
    assert result.model_version == model.version
    assert result.model_sha256 == model.sha256
    assert result.features["interest_burden"] == 35000 * (16.02 / 100) / 59000
    assert result.loan_percent_income == 35000 / 59000
    # Only the model's own columns, in its order: the issue-12 candidate's are without age.
    assert list(result.features) == list(model.compiled.feature_names)
    assert "person_age" not in result.features
    p = result.probability_of_default
    assert result.risk_label == ("RISKY" if p > 0.5 else "SAFE")
    # A loan of 59% of income is beyond the ordinary 53% of training: REVIEW, whatever p says.
    assert [e.feature for e in result.outside_experience] == ["loan_percent_income", "interest_burden"]
    assert result.decision == "REVIEW"
    inside = score_application(good_application(loan_amnt=25000))
    assert inside.outside_experience == ()
    p = inside.probability_of_default
    expected = "APPROVE" if p < inside.approve_below else "DECLINE" if p >= inside.decline_from else "REVIEW"
    assert inside.decision == expected


def test_missing_rate_and_employment_are_scored_as_missing():
    inputs = good_application(loan_int_rate=None, person_emp_length=None)
    result = score_application(inputs)
    assert result.interest_burden is None
    artifact = joblib.load(get_model().stored.artifact_path)
    frame = pd.DataFrame([{**inputs, "loan_int_rate": np.nan, "person_emp_length": np.nan}])
    assert result.probability_of_default == artifact.predict_proba(frame)[:, 1][0]
