"""The counter-offer: the largest loan amount, same applicant and terms, that the model would APPROVE.

Exact, not approximate, and without assuming the model is monotone in the
amount (the serving model ``hgb-3409bea3c4cf`` is not constrained; issue 12's
monotone candidate is not active). With every other input fixed, the
model's score is a step function of the amount: the trees only ever compare
``loan_amnt``, ``loan_percent_income = amount / income`` and
``interest_burden = amount * (rate / 100) / income`` with their split
thresholds, and the training-range guard (``scoring.experience``) compares
the same three with its bands. Between two consecutive whole amounts where
one of those comparisons flips, every comparison, hence the decision, is the
same. So the search takes, for each threshold, the first whole amount on its
far side (found with the very float operations ``scoring.features`` uses),
scores the top amount of every interval at once on the compiled trees, and
picks the highest interval that is approved. ``score_application`` then
confirms the answer, and that one currency unit more is not approved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring import schema
from scoring.experience import experience_columns
from scoring.features import derived_values
from scoring.model_cache import get_model
from scoring.results import APPROVE
from scoring.services import DecisionPolicy, manifest_policy, model_features, score_application

AMOUNT_COLUMNS = ("loan_amnt", "loan_percent_income", "interest_burden")


@dataclass(frozen=True)
class CounterOffer:
    """``amount`` is None when no whole amount from 1 up to the request would be approved."""

    requested: float
    amount: int | None
    probability_of_default: float | None
    model_version: str
    intervals_scored: int

    @property
    def exists(self) -> bool:
        return self.amount is not None


def _first_above(value_of: Callable[[int], float], threshold: float, *, estimate: float, strict: bool) -> int:
    """The smallest whole amount whose value is > threshold (``strict``) or >= threshold.

    ``value_of`` is non-decreasing in the amount (a division or a product by
    a positive constant, rounded, never decreases), so stepping from the
    estimate finds the exact first amount for the float arithmetic used.
    """
    beyond = (lambda v: v > threshold) if strict else (lambda v: v >= threshold)
    amount = max(1, math.floor(estimate))
    while amount > 1 and beyond(value_of(amount - 1)):
        amount -= 1
    while not beyond(value_of(amount)):
        amount += 1
    return amount


def largest_approvable_amount(
    inputs: Mapping, *, model_version: str | None = None, policy: DecisionPolicy | None = None
) -> CounterOffer:
    """The largest whole amount up to the request (exclusive) the model would APPROVE; see the module docstring.

    ``inputs`` are the ten inputs (as for ``score_application``); ``policy``
    gives the cut-offs in force as for ``score_application`` (default: the
    model manifest's), so the offer is approved under the same rule. Raises
    ``ValueError`` for input outside the schema and ``ModelUnavailable``
    without a usable model.
    """
    clean = schema.validate_inputs(inputs)
    model = get_model(model_version)
    policy = policy or manifest_policy(model)
    compiled = model.compiled
    requested = float(clean["loan_amnt"])
    upper = math.ceil(requested) - 1  # amounts strictly below the request
    income = float(clean["person_income"])
    rate = clean["loan_int_rate"]

    def derived(amount):
        # scoring.features' own formulas; on an array they give the same bits element by element.
        return derived_values(loan_amnt=amount, loan_int_rate=rate, person_income=income)

    value_of: dict[str, Callable[[int], float]] = {
        "loan_amnt": float,
        "loan_percent_income": lambda a: derived(float(a))[0],
    }
    scale = {"loan_amnt": 1.0, "loan_percent_income": income}
    if rate is not None:
        value_of["interest_burden"] = lambda a: derived(float(a))[1]
        scale["interest_burden"] = income / (rate / 100)

    # Every threshold the amount can cross: the trees' splits (value <= t goes
    # left: the far side starts above t) and the guard's bands (outside below
    # the low end, above the high end).
    crossings: set[tuple[str, float, bool]] = set()
    for name in value_of:
        if name in compiled.position:
            on_column = (compiled.nodes_feature == compiled.position[name]) & ~compiled.nodes_is_leaf
            crossings.update((name, float(t), True) for t in np.unique(compiled.nodes_threshold[on_column]))
        bounds = model.experience.ranges.get(name)
        if bounds is not None and bounds.get("guarded", True):
            crossings.add((name, float(bounds["ordinary_low"]), False))
            crossings.add((name, float(bounds["ordinary_high"]), True))
    tops = {upper}
    for name, threshold, strict in crossings:
        estimate = threshold * scale[name]
        if not math.isfinite(estimate) or estimate > upper + 1:
            continue
        first = _first_above(value_of[name], threshold, estimate=estimate, strict=strict)
        if 2 <= first <= upper + 1:
            tops.add(first - 1)  # the top of the interval below the crossing
    candidates = np.array(sorted(a for a in tops if a >= 1), dtype=np.int64)
    if candidates.size == 0:
        return CounterOffer(requested, None, None, model.version, 0)

    # Every candidate as the model sees it: the requested application's row with the amount columns replaced.
    amounts = candidates.astype(np.float64)
    loan_percent_income, interest_burden = derived(amounts)
    varied = {"loan_amnt": amounts, "loan_percent_income": loan_percent_income}
    if interest_burden is not None:
        varied["interest_burden"] = interest_burden
    every_feature = model_features(clean)
    encoded = np.tile(compiled.encode({n: every_feature[n] for n in compiled.feature_names}), (len(amounts), 1))
    for name, values in varied.items():
        if name in compiled.position:
            encoded[:, compiled.position[name]] = values
    probabilities = np.asarray(compiled.calibrate(compiled.raw_scores(encoded)), dtype=np.float64)
    numeric = {n: every_feature[n] for n in experience_columns(model.experience) if n not in varied}
    outside = model.experience.outside_mask(pd.DataFrame({**numeric, **varied}, index=range(len(amounts))))
    approved = (~outside) & (probabilities < policy.approve_below)
    if not approved.any():
        return CounterOffer(requested, None, None, model.version, len(candidates))
    amount = int(candidates[np.flatnonzero(approved)[-1]])
    # The engine itself, on the answer and one unit more: the answer must hold exactly.
    confirmed = score_application({**clean, "loan_amnt": float(amount)}, model_version=model.version, policy=policy)
    if confirmed.decision != APPROVE:
        raise RuntimeError(f"counter-offer search disagrees with the engine at {amount}")
    if amount + 1 <= upper:
        above = score_application({**clean, "loan_amnt": float(amount + 1)}, model_version=model.version, policy=policy)
        if above.decision == APPROVE:
            raise RuntimeError(f"counter-offer search missed an approved amount at {amount + 1}")
    return CounterOffer(requested, amount, confirmed.probability_of_default, model.version, len(candidates))
