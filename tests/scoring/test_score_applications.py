"""``score_applications`` (a table at once, the batch files' path) gives, row for row, exactly what
``score_application`` gives: probability and raw score to the bit, decision, guard, reasons, features."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from scoring import schema
from scoring.model_cache import get_model
from scoring.services import DecisionPolicy, score_application, score_applications
from tests.scoring.training_file import accepted_training_rows
from tests.support.scoring import good_application


def _as_inputs(record: dict) -> dict:
    return {
        name: (None if isinstance(record[name], float) and math.isnan(record[name]) else record[name])
        for name in schema.INPUT_NAMES
    }


def _assert_same(table_results, inputs_rows, **arguments) -> None:
    assert len(table_results) == len(inputs_rows)
    for number, (got, inputs) in enumerate(zip(table_results, inputs_rows, strict=True)):
        expected = score_application(inputs, **arguments)
        # Bits, not values: a rounding difference anywhere must fail.
        assert got.probability_of_default.hex() == expected.probability_of_default.hex(), number
        assert got.raw_score.hex() == expected.raw_score.hex(), number
        assert {k: v.hex() for k, v in got.contributions.items()} == {
            k: v.hex() for k, v in expected.contributions.items()
        }, number
        assert got == expected, number


@pytest.mark.slow
def test_every_row_of_the_training_file_scores_exactly_as_one_at_a_time():
    rows = accepted_training_rows()  # skips, saying so, without ../shared/data
    inputs_rows = [_as_inputs(record) for record in rows.to_dict("records")]
    assert len(inputs_rows) > 25_000
    got = score_applications(rows)
    _assert_same(got, inputs_rows)
    decisions = {result.decision for result in got}
    assert decisions == {"APPROVE", "REVIEW", "DECLINE"}
    assert any(result.outside_experience for result in got)
    assert any(result.features.get("loan_int_rate") is None for result in got)


@pytest.mark.parametrize("version", ["active", "candidate"])
def test_both_kinds_of_model_and_a_policy_give_the_same_results(version):
    """The serving model (path attribution) and the issue-12 candidate (coded reasons against a reference)."""
    model_version = None if version == "active" else "hgb-47ffccc83994"
    if model_version and model_version == get_model().version:
        pytest.skip("the candidate is the serving model here")
    base = good_application()
    inputs_rows = []
    for n in range(300):
        inputs = dict(base)
        inputs["loan_amnt"] = Decimal(1000 + 117 * n)
        inputs["person_income"] = Decimal(15000 + 1013 * (n % 70))
        inputs["loan_grade"] = "ABCDEFG"[n % 7]
        inputs["loan_int_rate"] = None if n % 11 == 0 else 5 + (n % 19) * 0.83
        inputs["person_emp_length"] = None if n % 13 == 0 else float(n % 9)
        inputs["cb_person_default_on_file"] = "Y" if n % 4 == 0 else "N"
        inputs_rows.append(inputs)
    inputs_rows.append({**base, "loan_amnt": 900000, "person_income": 1000})  # outside experience: REVIEW
    policy = DecisionPolicy(version="test-policy", approve_below=0.07, decline_from=0.31)
    for arguments in ({"model_version": model_version}, {"model_version": model_version, "policy": policy}):
        frame = {name: [row[name] for row in inputs_rows] for name in schema.INPUT_NAMES}
        got = score_applications(frame, **arguments)
        _assert_same(got, inputs_rows, **arguments)
        assert got[-1].decision == "REVIEW" and got[-1].outside_experience
    assert get_model(model_version).version == got[0].model_version


def test_a_row_the_schema_refuses_is_named_and_nothing_is_scored():
    good = good_application()
    frame = pd.DataFrame([good, {**good, "loan_grade": "Z"}, good])
    with pytest.raises(ValueError, match=r"^row 1: loan_grade: 'Z' is not one of A, B"):
        score_applications(frame)
    too_long = {**good, "person_age": 30, "person_emp_length": 20}
    with pytest.raises(ValueError, match=r"^row 0: person_emp_length: Employment of 20 years"):
        score_applications(pd.DataFrame([too_long]))
    assert score_applications({name: [] for name in schema.INPUT_NAMES}) == []
    assert np.isnan(float("nan"))  # NaN stands for a blank in a frame:
    blank_rate = score_applications(pd.DataFrame([{**good, "loan_int_rate": float("nan")}]))[0]
    assert blank_rate == score_application({**good, "loan_int_rate": None})
