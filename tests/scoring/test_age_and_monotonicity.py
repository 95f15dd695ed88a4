"""Issue 12: age never reaches the model; larger or dearer loans never lower the risk.

Checked over every row of the shared training file the schema accepts,
including the rows without an interest rate or employment length.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scoring import schema
from scoring.model_cache import get_model
from scoring.response import income_response
from scoring.services import score_application
from tests.scoring.training_file import accepted_training_rows, cleaned_training_inputs, probabilities
from tests.support.scoring import CANDIDATE_VERSION, COMMITTED_STORE, good_application


@pytest.fixture(scope="module")
def rows():
    return accepted_training_rows()


@pytest.fixture(scope="module")
def model(candidate_model_serving):
    return get_model()


@pytest.fixture(autouse=True)
def _the_candidate_serves(candidate_model_serving):
    """Every test here is about the issue-12 candidate, which is not the active model yet."""


def test_age_is_not_a_model_input(model):
    assert "person_age" not in model.compiled.columns
    assert "person_age" not in model.compiled.feature_names
    assert model.stored.manifest["not_model_inputs"] == ["person_age"]
    assert "person_age" not in model.stored.manifest["model_columns"]


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def test_changing_only_age_never_changes_the_probability_bit_for_bit(rows, model):
    baseline = probabilities(model, rows)
    # The youngest age the schema allows for each row (employment and credit
    # history fit since age 14), the oldest, and a middle one.
    youngest = np.maximum(18, np.fmax(rows["person_emp_length"].fillna(0), rows["cb_person_cred_hist_length"]) + 14)
    for ages in (np.ceil(youngest), np.full(len(rows), 100.0), np.maximum(np.ceil(youngest), 45.0)):
        changed = rows.assign(person_age=ages)
        assert schema.frame_rejections(changed).isna().all()
        assert np.array_equal(_bits(probabilities(model, changed)), _bits(baseline))


def test_changing_only_age_changes_nothing_an_officer_sees():
    young = score_application(good_application(person_age=22))
    old = score_application(good_application(person_age=80))
    assert young.probability_of_default == old.probability_of_default
    assert young.reasons == old.reasons
    assert young.contributions == old.contributions
    assert young.features == old.features


@pytest.mark.parametrize(
    ("column", "factor", "direction"),
    [
        ("loan_amnt", 1.2, "up"),
        ("loan_amnt", 1.01, "up"),
        ("loan_amnt", 0.8, "down"),
        ("loan_int_rate", 1.1, "up"),
        ("loan_int_rate", 0.9, "down"),
        ("loan_int_rate", 1.01, "up"),
    ],
)
def test_loan_terms_are_monotone_over_the_whole_training_file(rows, model, column, factor, direction):
    before = probabilities(model, rows)
    changed = rows.assign(**{column: rows[column] * factor})
    assert schema.frame_rejections(changed).isna().all()
    after = probabilities(model, changed)
    assert rows["loan_int_rate"].isna().any() and rows["person_emp_length"].isna().any()
    wrong = np.flatnonzero(after < before) if direction == "up" else np.flatnonzero(after > before)
    assert wrong.size == 0, f"{wrong.size} rows moved the wrong way, first {wrong[:5]}"


def test_a_worse_grade_or_a_default_on_file_never_lowers_the_risk(rows, model):
    before = probabilities(model, rows)
    grades = list(schema.FIELDS_BY_NAME["loan_grade"].values)
    worse_grade = rows["loan_grade"].map(lambda grade: grades[min(grades.index(grade) + 1, len(grades) - 1)])
    assert (probabilities(model, rows.assign(loan_grade=worse_grade)) >= before).all()
    assert (probabilities(model, rows.assign(cb_person_default_on_file="Y")) >= before).all()


def test_more_income_for_the_same_loan_never_raises_the_risk(rows, model):
    before = probabilities(model, rows)
    for rise in (0.01, 0.1, 0.2, 0.5):
        after = probabilities(model, rows.assign(person_income=rows["person_income"] * (1 + rise)))
        assert (after <= before).all(), f"income +{rise:.0%}"


@pytest.mark.slow
def test_manifest_income_response_is_what_the_model_does(model):
    """The figures recorded in the manifest are reproduced from the artifact."""
    rows = cleaned_training_inputs()
    recorded = model.stored.manifest["response_on_training_file"]
    measured = income_response(
        rows,
        predict=lambda frame: model.pipeline.predict_proba(frame)[:, 1],
        approve_below=model.approve_below,
        decline_from=model.decline_from,
    )
    assert recorded["rows"] == len(rows)
    for rise, figures in measured.items():
        assert recorded["income_raised_loan_unchanged"][rise]["worse_decisions"] == figures["worse_decisions"]
        assert recorded["income_raised_loan_unchanged"][rise]["max_probability_rise"] == pytest.approx(
            figures["max_probability_rise"], abs=1e-12
        )


def test_manifest_records_constraints_and_reason_table():
    version = CANDIDATE_VERSION
    manifest = json.loads((COMMITTED_STORE / version / "manifest.json").read_text())
    constraints = manifest["monotonic_constraints"]
    for name in ("loan_amnt", "loan_int_rate", "loan_percent_income", "interest_burden", "loan_grade"):
        assert constraints[name] == 1
    assert constraints["person_income"] == -1
    assert manifest["reason_codes"]["version"]
    assert manifest["reason_reference"]["features"]
