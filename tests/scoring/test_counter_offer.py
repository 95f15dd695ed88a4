"""Issue 15.2: the counter-offer is exact against the engine, whatever the model's shape.

Each case is checked against brute force: every whole amount from 1 up to
the request, scored by ``score_batch`` (bit for bit ``score_application``,
guard included), and the largest approved one must be the counter-offer.
The serving model is not monotone in the amount (one case below is approved
at 13,575 but not at 2,510), so a bisection would be wrong; the search over
the trees' thresholds is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.counter_offer import largest_approvable_amount
from scoring.model_cache import get_model
from scoring.services import score_application, score_batch
from tests.support.scoring import CANDIDATE_VERSION

# Declined or referred applicants from the training file (rows 1988, 13164, 7938, 1088), and one without a rate.
CASES = [
    dict(person_age=26, person_income=45000, person_home_ownership="RENT", person_emp_length=10,
         loan_intent="DEBTCONSOLIDATION", loan_grade="A", loan_amnt=15000, loan_int_rate=7.29,
         cb_person_default_on_file="N", cb_person_cred_hist_length=4),
    dict(person_age=23, person_income=27000, person_home_ownership="RENT", person_emp_length=4,
         loan_intent="PERSONAL", loan_grade="C", loan_amnt=7000, loan_int_rate=13.79,
         cb_person_default_on_file="N", cb_person_cred_hist_length=2),
    dict(person_age=34, person_income=67000, person_home_ownership="MORTGAGE", person_emp_length=4,
         loan_intent="DEBTCONSOLIDATION", loan_grade="C", loan_amnt=6400, loan_int_rate=13.23,
         cb_person_default_on_file="N", cb_person_cred_hist_length=7),
    dict(person_age=22, person_income=64000, person_home_ownership="MORTGAGE", person_emp_length=4,
         loan_intent="PERSONAL", loan_grade="C", loan_amnt=14000, loan_int_rate=13.23,
         cb_person_default_on_file="Y", cb_person_cred_hist_length=3),
    dict(person_age=30, person_income=38000, person_home_ownership="RENT", person_emp_length=None,
         loan_intent="MEDICAL", loan_grade="B", loan_amnt=16000.5, loan_int_rate=None,
         cb_person_default_on_file="N", cb_person_cred_hist_length=5),
]  # fmt: skip


def _brute_force(inputs: dict, *, model_version: str | None = None) -> int | None:
    upper = int(np.ceil(inputs["loan_amnt"])) - 1
    frame = pd.DataFrame([inputs] * upper)
    frame["loan_amnt"] = np.arange(1, upper + 1, dtype=float)
    decisions = score_batch(frame, model_version=model_version).decisions
    approved = np.flatnonzero(decisions == "APPROVE")
    return int(approved[-1] + 1) if approved.size else None


@pytest.mark.parametrize("inputs", CASES, ids=lambda c: f"{c['loan_grade']}-{c['loan_amnt']:g}")
def test_counter_offer_is_the_largest_approved_amount(inputs):
    assert score_application(inputs).decision != "APPROVE"
    offer = largest_approvable_amount(inputs)
    assert offer.model_version == get_model().version
    assert offer.amount == _brute_force(inputs)
    if offer.amount is not None:
        at = score_application({**inputs, "loan_amnt": float(offer.amount)})
        assert at.decision == "APPROVE" and at.probability_of_default == offer.probability_of_default
        # One currency unit more is not approved.
        assert score_application({**inputs, "loan_amnt": float(offer.amount + 1)}).decision != "APPROVE"


def test_the_serving_model_is_not_monotone_in_the_amount_for_these_applicants():
    """Why a bisection would be wrong: smaller amounts than the offer are not all approved."""
    second = CASES[1]
    assert largest_approvable_amount(second).amount == 5685
    assert score_application({**second, "loan_amnt": 5408.0}).decision != "APPROVE"  # smaller, yet not approved
    first = CASES[0]
    assert largest_approvable_amount(first).amount == 13575
    assert score_application({**first, "loan_amnt": 2510.0}).decision != "APPROVE"


def test_there_may_be_none():
    inputs = {**CASES[1], "cb_person_default_on_file": "Y", "loan_grade": "G", "loan_int_rate": 22.0}
    offer = largest_approvable_amount(inputs)
    assert offer.amount is None and _brute_force(inputs) is None


def test_counter_offer_with_the_monotone_candidate(candidate_model_serving):
    inputs = CASES[0]
    offer = largest_approvable_amount(inputs, model_version=CANDIDATE_VERSION)
    assert offer.amount == _brute_force(inputs, model_version=CANDIDATE_VERSION)


def test_input_outside_the_schema_is_refused():
    with pytest.raises(ValueError, match="loan_amnt"):
        largest_approvable_amount({**CASES[0], "loan_amnt": -5})
