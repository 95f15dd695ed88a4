"""The scoring engine's public API.

``score_application`` scores one application on the fast compiled path;
``score_applications`` gives the same results for a whole table at once
(the batch files' path); ``score_batch`` scores a table (probabilities and decisions only); ``replay_probabilities`` re-scores stored
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


def _checked_columns(frame) -> dict[str, list]:
    """Each input column of ``frame``, every value checked as ``schema.validate_inputs`` checks it.

    Raises ``ValueError`` ``"row <i>: <field>: <message>"`` for the first row
    the schema refuses. NaN (how a table holds a blank) is a missing value, as ``None``.
    """
    columns: dict[str, list] = {}
    for field in schema.INPUT_FIELDS:
        values = list(frame[field.name])
        check = schema.check_numeric if isinstance(field, schema.NumericField) else schema.check_categorical
        clean = []
        for row, value in enumerate(values):
            if value is not None and value.__class__ is not str and value != value:  # NaN
                value = None
            try:
                clean.append(check(field, value))
            except ValueError as error:
                raise ValueError(f"row {row}: {error}") from None
        columns[field.name] = clean
    cross = ("person_age", "person_emp_length", "cb_person_cred_hist_length")
    for row, values in enumerate(zip(*(columns[name] for name in cross), strict=True)):
        for name, message in schema.cross_field_errors(dict(zip(cross, values))).items():
            raise ValueError(f"row {row}: {name}: {message}")
    return columns


def score_applications(
    frame, *, model_version: str | None = None, policy: DecisionPolicy | None = None
) -> list[ScoreResult]:
    """Score a table of applications at once: for each row, exactly ``score_application``'s result.

    ``frame`` maps each of the ten inputs to a column of values (a pandas
    ``DataFrame`` or a dict of lists), as ``score_application`` takes them;
    NaN or ``None`` is a missing rate or employment length. The tree walk
    and its attribution run over the whole matrix in one compiled call
    (``CompiledModel.score_rows`` / ``attribute_rows_scored``, each row by the
    single-row walk); probability, raw score, contributions, reasons,
    decision, guard and features are bit for bit what ``score_application``
    gives row by row (``tests/scoring/test_score_applications.py``, over the
    training file). Raises ``ValueError`` naming the row and field for input
    outside the schema (nothing is scored then) and ``ModelUnavailable``.
    """
    columns = _checked_columns(frame)
    model = get_model(model_version)
    compiled = model.compiled
    policy = policy or manifest_policy(model)
    size = len(columns["loan_amnt"])
    if size == 0:
        return []
    amount = np.asarray(columns["loan_amnt"], dtype=np.float64)
    income = np.asarray(columns["person_income"], dtype=np.float64)
    rate = np.asarray(columns["loan_int_rate"], dtype=np.float64)  # None -> NaN
    # The same operations, in the same order, as scoring.features.derived_values.
    percent_income = (amount / income).tolist()
    burden = (amount * (rate / 100) / income).tolist()
    columns["loan_percent_income"] = percent_income
    columns["interest_burden"] = [
        None if rate_value is None else value for rate_value, value in zip(columns["loan_int_rate"], burden)
    ]
    names = schema.MODEL_FEATURES
    every_feature = [dict(zip(names, values)) for values in zip(*(columns[name] for name in names))]
    matrix = compiled.encode_columns(
        {
            name: np.asarray(columns[name], dtype=np.float64)
            if name not in schema.CATEGORICAL_INPUTS
            else columns[name]
            for name in compiled.columns
        }
    )
    if model.reference is None:
        probabilities, raws, contributions = compiled.score_rows(matrix)
        base_value = compiled.base_value
        explain = principal_reasons
    else:
        probabilities, raws, contributions = compiled.attribute_rows_scored(matrix, model.reference.directions)
        base_value = model.reference.raw_score
        explain = coded_reasons
    own = compiled.feature_names
    model_columns = compiled.columns
    approve_below, decline_from = policy.approve_below, policy.decline_from
    results = []
    for row_features, probability, raw, row_contributions in zip(
        every_feature, probabilities.tolist(), raws.tolist(), contributions.tolist(), strict=True
    ):
        features = {name: row_features[name] for name in own}
        attribution = dict(zip(model_columns, row_contributions, strict=True))
        outside = model.experience.outside(row_features)
        decision = decide(probability, approve_below=approve_below, decline_from=decline_from)
        results.append(
            ScoreResult(
                probability_of_default=probability,
                decision=REVIEW if outside else decision,
                risk_label=RISKY if probability > model.risky_above else SAFE,
                interest_burden=row_features["interest_burden"],
                loan_percent_income=row_features["loan_percent_income"],
                reasons=explain(attribution, features),
                features=features,
                model_version=model.version,
                model_sha256=model.sha256,
                approve_below=approve_below,
                decline_from=decline_from,
                policy_version=policy.version,
                raw_score=raw,
                base_value=base_value,
                contributions=attribution,
                outside_experience=outside,
                experience_sha256=model.experience.sha256,
            )
        )
    return results


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
