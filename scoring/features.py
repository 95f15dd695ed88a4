"""Derived features: the only place their formulas are written.

``add_derived_features`` is the first step of the fitted Pipeline, so training
and serving compute them with the same code. ``derived_values`` is the scalar
form used to show them to an officer and by the fast single-row path; it uses
the same operations in the same order, so it gives the same bits as pandas.
"""

from __future__ import annotations

import pandas as pd

from scoring.schema import INPUT_NAMES, MODEL_FEATURES


def derived_values(
    *, loan_amnt: float, loan_int_rate: float | None, person_income: float
) -> tuple[float, float | None]:
    """Return ``(loan_percent_income, interest_burden)`` for one applicant.

    ``interest_burden`` is the first year's interest as a share of income;
    it is ``None`` when the rate is unknown (the model treats it as missing).
    """
    loan_percent_income = loan_amnt / person_income
    if loan_int_rate is None:
        return loan_percent_income, None
    interest_burden = loan_amnt * (loan_int_rate / 100) / person_income
    return loan_percent_income, interest_burden


def add_derived_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the model's input frame: the ten inputs plus the derived columns.

    Any ``loan_percent_income`` column present in the input (the dataset has a
    rounded one) is ignored and recomputed at full precision.
    """
    out = frame.loc[:, list(INPUT_NAMES)].copy()
    for name in (
        "person_age",
        "person_income",
        "person_emp_length",
        "loan_amnt",
        "loan_int_rate",
        "cb_person_cred_hist_length",
    ):
        out[name] = pd.to_numeric(out[name], errors="raise").astype("float64")
    out["loan_percent_income"] = out["loan_amnt"] / out["person_income"]
    out["interest_burden"] = out["loan_amnt"] * (out["loan_int_rate"] / 100) / out["person_income"]
    return out.loc[:, list(MODEL_FEATURES)]


def derived_feature_names(transformer, input_features=None) -> list[str]:
    """``feature_names_out`` callable for the FunctionTransformer step."""
    return list(MODEL_FEATURES)


def model_frame(frame: pd.DataFrame, *, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The inputs plus derived features, restricted to ``columns`` in that order.

    The first step of every model trained since issue 12: the column list is
    a parameter of the fitted step (``kw_args``), so each artifact carries
    its own feature list and a column left out (``person_age``) never
    reaches the trees. ``add_derived_features`` above stays as it was: the
    artifacts pickled before refer to it by name.
    """
    return add_derived_features(frame).loc[:, list(columns)]


def model_frame_names(transformer, input_features=None) -> list[str]:
    """``feature_names_out`` callable for ``model_frame``: the columns it was given."""
    return list(transformer.kw_args["columns"])
