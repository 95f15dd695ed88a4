"""The scoring engine's public API.

``score_application`` scores one application on the fast compiled path;
``score_batch`` scores a table; ``replay_probabilities`` re-scores stored
feature vectors for the audit. All three compute exactly (bit for bit) what
``joblib.load(artifact).predict_proba(frame)[:, 1]`` computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring import schema
from scoring.explain import coded_reasons, principal_reasons
from scoring.features import add_derived_features, derived_values
from scoring.model_cache import LoadedModel, get_model
from scoring.results import APPROVE, DECLINE, REVIEW, RISKY, SAFE, ScoreResult

MANIFEST_POLICY_PREFIX = "manifest:"


@dataclass(frozen=True)
class DecisionPolicy:
    """Cut-offs decisions are made with: APPROVE below ``approve_below``, DECLINE from ``decline_from``.

    Each model's manifest carries the cut-offs it was trained and validated
    with: that implied policy is ``manifest:<model version>``, and it is the
    policy of every decision recorded before policies were versioned. A
    policy adopted later (``governance``, approved by a second admin) has its
    own version, recorded in the audit trail's governance chain.
    """

    version: str
    approve_below: float
    decline_from: float


def manifest_policy_version(model_version: str) -> str:
    """The version name of the cut-offs in ``model_version``'s manifest."""
    return f"{MANIFEST_POLICY_PREFIX}{model_version}"


def manifest_policy(model: LoadedModel) -> DecisionPolicy:
    """The policy implied by a loaded model's manifest thresholds."""
    return DecisionPolicy(
        version=manifest_policy_version(model.version),
        approve_below=model.approve_below,
        decline_from=model.decline_from,
    )


def decide(probability_of_default: float, *, approve_below: float, decline_from: float) -> str:
    """The policy recorded with the model: APPROVE / REVIEW / DECLINE."""
    if probability_of_default < approve_below:
        return APPROVE
    if probability_of_default >= decline_from:
        return DECLINE
    return REVIEW


def _percent(value: float) -> str:
    """``0.1`` -> ``"10%"``, ``0.125`` -> ``"12.5%"``: a cut-off as people write it."""
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def decision_band(decision: str, *, approve_below: float, decline_from: float) -> str:
    """The band a decision stands for, with the cut-offs ``decide`` applied (shown beside every decision).

    ``"REVIEW: probability of default between 10% and 50%"``; the cut-offs are the ones recorded
    with the decision (the model manifest's ``thresholds``), so the words always match the rule.
    """
    if decision == APPROVE:
        return f"APPROVE: probability of default below {_percent(approve_below)}"
    if decision == DECLINE:
        return f"DECLINE: probability of default {_percent(decline_from)} or more"
    return f"REVIEW: probability of default between {_percent(approve_below)} and {_percent(decline_from)}"


def model_features(clean: Mapping[str, float | str | None]) -> dict[str, float | str | None]:
    """The validated inputs plus the derived features, in model column order."""
    loan_percent_income, interest_burden = derived_values(
        loan_amnt=clean["loan_amnt"],
        loan_int_rate=clean["loan_int_rate"],
        person_income=clean["person_income"],
    )
    features = {name: clean[name] for name in schema.INPUT_NAMES}
    features["loan_percent_income"] = loan_percent_income
    features["interest_burden"] = interest_burden
    return features


def score_application(
    inputs: Mapping, *, model_version: str | None = None, policy: DecisionPolicy | None = None
) -> ScoreResult:
    """Validate and score one application.

    The decision uses ``policy``'s cut-offs (default: the model manifest's);
    the caller (``applications``) passes the policy in force, which the
    ``governance`` app knows.

    Raises ``ValueError`` naming the field for input outside the schema and
    ``ModelUnavailable`` when the model cannot be used. ``person_emp_length``
    and ``loan_int_rate`` may be ``None`` (unknown); the model then treats
    them as missing, as it did in training.
    """
    clean = schema.validate_inputs(inputs)
    model = get_model(model_version)
    every_feature = model_features(clean)
    compiled = model.compiled
    # Only this model's own columns are fed to it and recorded (since issue
    # 12 that leaves out age); a model trained before had them all.
    features = {name: every_feature[name] for name in compiled.feature_names}
    encoded = compiled.encode(features)
    if model.reference is None:
        # Models before issue 12: Saabas path contributions, one reason per feature.
        row = compiled.score_row(encoded)
        contributions = dict(zip(compiled.columns, row.contributions.tolist(), strict=True))
        base_value = compiled.base_value
        reasons = principal_reasons(contributions, features)
    else:
        # One walk gives the score and its exact attribution against the reference.
        row = compiled.attribute_row(encoded, model.reference.directions)
        contributions = dict(zip(compiled.columns, row.contributions.tolist(), strict=True))
        base_value = model.reference.raw_score
        reasons = coded_reasons(contributions, features)
    probability = float(row.probability_of_default)
    # Outside what the model was trained on, its number is an extrapolation:
    # never decided automatically (scoring.experience), whatever the policy's cut-offs.
    outside = model.experience.outside(every_feature)
    policy = policy or manifest_policy(model)
    decision = decide(probability, approve_below=policy.approve_below, decline_from=policy.decline_from)
    return ScoreResult(
        probability_of_default=probability,
        decision=REVIEW if outside else decision,
        risk_label=RISKY if probability > model.risky_above else SAFE,
        interest_burden=every_feature["interest_burden"],
        loan_percent_income=every_feature["loan_percent_income"],
        reasons=reasons,
        features=features,
        model_version=model.version,
        model_sha256=model.sha256,
        approve_below=policy.approve_below,
        decline_from=policy.decline_from,
        policy_version=policy.version,
        raw_score=row.raw_score,
        base_value=base_value,
        contributions=contributions,
        outside_experience=outside,
        experience_sha256=model.experience.sha256,
    )


@dataclass(frozen=True)
class BatchScores:
    """Scores for a table: ``probability_of_default`` is NaN where rejected.

    ``decisions`` apply the training-range guard like ``score_application``.
    """

    probability_of_default: np.ndarray
    rejected: pd.Series  # reason per row, None where scored
    model_version: str
    decisions: np.ndarray

    @property
    def accepted(self) -> np.ndarray:
        return self.rejected.isna().to_numpy()


def score_batch(frame: pd.DataFrame, *, model_version: str | None = None) -> BatchScores:
    """Score every row the schema accepts; count the others as rejected.

    Blank ``loan_int_rate`` / ``person_emp_length`` are scored as missing.
    """
    model = get_model(model_version)
    frame = frame.reset_index(drop=True)
    rejected = schema.frame_rejections(frame)
    accepted = rejected.isna().to_numpy()
    probability = np.full(len(frame), np.nan)
    if accepted.any():
        rows = model.pipeline[:-1].transform(frame.loc[accepted, list(schema.INPUT_NAMES)])
        probability[accepted] = model.compiled.calibrate(model.compiled.raw_scores(rows))
    decisions = np.full(len(frame), "", dtype=object)
    decisions[accepted] = np.where(
        probability[accepted] < model.approve_below,
        APPROVE,
        np.where(probability[accepted] >= model.decline_from, DECLINE, REVIEW),
    )
    if accepted.any():
        # The same guard as score_application: outside the training ranges, REVIEW.
        outside = model.experience.outside_mask(add_derived_features(frame.loc[accepted, list(schema.INPUT_NAMES)]))
        decisions[np.flatnonzero(accepted)[outside]] = REVIEW
    return BatchScores(
        probability_of_default=probability, rejected=rejected, model_version=model.version, decisions=decisions
    )


def replay_probabilities(*, model_version: str, feature_rows: Iterable[Mapping]) -> np.ndarray:
    """Re-score stored feature vectors (``ScoreResult.features``) with a recorded model.

    The stored derived features are used as stored, so a record whose inputs
    and features disagree shows up as a mismatch rather than being repaired.
    """
    model: LoadedModel = get_model(model_version)
    compiled = model.compiled
    rows = [compiled.encode(features) for features in feature_rows]
    if not rows:
        return np.empty(0)
    return np.asarray(compiled.calibrate(compiled.raw_scores(np.vstack(rows))), dtype=np.float64)


def replay_outside_experience(*, model_version: str, feature_rows: list[Mapping], guarded: np.ndarray) -> np.ndarray:
    """Which stored feature vectors ``score_application``'s training-range guard sent to REVIEW.

    ``guarded`` marks the rows decided with the guard (records since it
    exists); for them a value outside the model version's ranges means the
    decision was REVIEW whatever the cut-offs. The other rows are ``False``.
    """
    model: LoadedModel = get_model(model_version)
    outside = np.zeros(len(feature_rows), dtype=bool)
    if guarded.any():
        frame = pd.DataFrame.from_records([feature_rows[i] for i in np.flatnonzero(guarded)])
        outside[np.flatnonzero(guarded)] = model.experience.outside_mask(frame)
    return outside
