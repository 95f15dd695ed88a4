"""How decisions respond to one input changed: the figures issue 12 asks a validator to see.

``income_response`` raises every applicant's income by 10%, 20% and 50%
(loan unchanged) and counts the decisions that get worse; ``loan_response``
does the same for a larger or dearer loan. Both score whole tables on the
batch path, so they run over the training file in seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

INCOME_RISES = (0.10, 0.20, 0.50)


def decision_rank(probability: np.ndarray, approve_below: float, decline_from: float) -> np.ndarray:
    """0 = APPROVE, 1 = REVIEW, 2 = DECLINE: a larger rank is a worse decision."""
    probability = np.asarray(probability)
    return (probability >= approve_below).astype(np.int8) + (probability >= decline_from).astype(np.int8)


def response_to_change(
    frame: pd.DataFrame,
    *,
    predict: Callable[[pd.DataFrame], np.ndarray],
    change: Callable[[pd.DataFrame], pd.DataFrame],
    approve_below: float,
    decline_from: float,
) -> dict:
    """How decisions and probabilities move after ``change``: worse decisions, largest rise and fall."""
    before = predict(frame)
    after = predict(change(frame.copy()))
    worse = decision_rank(after, approve_below, decline_from) > decision_rank(before, approve_below, decline_from)
    rise = after - before
    return {
        "rows": int(len(frame)),
        "worse_decisions": int(worse.sum()),
        "worse_share": float(worse.mean()),
        "better_decisions": int(
            (
                decision_rank(after, approve_below, decline_from) < decision_rank(before, approve_below, decline_from)
            ).sum()
        ),
        "higher_probability_share": float((rise > 0).mean()),
        "lower_probability_share": float((rise < 0).mean()),
        "max_probability_rise": float(max(0.0, rise.max())),
        "max_probability_fall": float(max(0.0, -rise.min())),
    }


def income_response(
    frame: pd.DataFrame,
    *,
    predict: Callable[[pd.DataFrame], np.ndarray],
    approve_below: float,
    decline_from: float,
) -> dict[str, dict]:
    """``response_to_change`` for income raised by each of ``INCOME_RISES``, keyed '+10%'..."""

    def raise_income(by: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
        def change(rows: pd.DataFrame) -> pd.DataFrame:
            rows["person_income"] = rows["person_income"] * (1 + by)
            return rows

        return change

    return {
        f"+{rise:.0%}": response_to_change(
            frame, predict=predict, change=raise_income(rise), approve_below=approve_below, decline_from=decline_from
        )
        for rise in INCOME_RISES
    }
