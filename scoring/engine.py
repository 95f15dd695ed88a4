"""The fast path: the fitted Pipeline's trees, compiled for one row at a time.

``Pipeline.predict_proba`` on a one-row DataFrame spends milliseconds in
pandas and input checks around microseconds of arithmetic. ``CompiledModel``
reads the fitted objects (ordinal codes, tree nodes, baseline, sigmoid
calibrator) out of the very Pipeline that was verified and loaded, and
replays the same float64 operations in the same order, so its probability is
bit-for-bit the Pipeline's (``tests/test_scoring_contract.py`` checks this
over the whole training file). The tree walk also records, per feature, how
much each split moved the expected score (Saabas path attribution): those
contributions plus the base value add up to the raw score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import expit

from scoring.schema import CATEGORICAL_INPUTS, MODEL_FEATURES


@numba.njit(cache=True, nogil=True)
def _walk_one(
    x,
    nodes_feature,
    nodes_threshold,
    nodes_missing_left,
    nodes_left,
    nodes_right,
    nodes_is_leaf,
    nodes_value,
    nodes_expected,
    roots,
    baseline,
    contributions,
):
    # Same order as HistGradientBoosting._raw_predict: baseline, then each
    # tree's leaf value added in turn. No fastmath, so no reassociation.
    raw = baseline
    for t in range(roots.shape[0]):
        node = roots[t]
        while not nodes_is_leaf[node]:
            feature = nodes_feature[node]
            value = x[feature]
            if math.isnan(value):
                child = nodes_left[node] if nodes_missing_left[node] else nodes_right[node]
            elif value <= nodes_threshold[node]:
                child = nodes_left[node]
            else:
                child = nodes_right[node]
            contributions[feature] += nodes_expected[child] - nodes_expected[node]
            node = child
        raw += nodes_value[node]
    return raw


@numba.njit(cache=True, nogil=True)
def _walk_many(
    X,
    nodes_feature,
    nodes_threshold,
    nodes_missing_left,
    nodes_left,
    nodes_right,
    nodes_is_leaf,
    nodes_value,
    roots,
    baseline,
):
    n_rows = X.shape[0]
    raw = np.empty(n_rows)
    for i in range(n_rows):
        raw[i] = baseline
    # Tree by tree over all rows, like scikit-learn, so each row's sum is
    # accumulated in the same order as in the single-row walk.
    for t in range(roots.shape[0]):
        root = roots[t]
        for i in range(n_rows):
            node = root
            while not nodes_is_leaf[node]:
                value = X[i, nodes_feature[node]]
                if math.isnan(value):
                    node = nodes_left[node] if nodes_missing_left[node] else nodes_right[node]
                elif value <= nodes_threshold[node]:
                    node = nodes_left[node]
                else:
                    node = nodes_right[node]
            raw[i] += nodes_value[node]
    return raw


@dataclass(frozen=True)
class RowScore:
    probability_of_default: float
    raw_score: float
    contributions: np.ndarray  # per encoded column, see CompiledModel.columns


class CompiledModel:
    """Flat node arrays and calibration constants taken from a fitted Pipeline."""

    def __init__(self, pipeline) -> None:
        encoder = pipeline.named_steps["encode"]
        calibrated = pipeline.named_steps["classify"]
        if len(calibrated.calibrated_classifiers_) != 1 or calibrated.method != "sigmoid":
            raise TypeError("the fast path expects one sigmoid-calibrated classifier (ensemble=False)")
        member = calibrated.calibrated_classifiers_[0]
        booster = member.estimator
        calibrator = member.calibrators[0]
        if booster.n_trees_per_iteration_ != 1 or booster.is_categorical_ is not None and booster.is_categorical_.any():
            raise TypeError("the fast path expects a binary model with numeric splits only")

        # Column order after the ColumnTransformer: the position of each model feature.
        self.columns: tuple[str, ...] = tuple(encoder.get_feature_names_out())
        if sorted(self.columns) != sorted(MODEL_FEATURES):
            raise TypeError(f"unexpected model columns {self.columns}")
        self.position = {name: i for i, name in enumerate(self.columns)}
        ordinal = encoder.named_transformers_["categories"]
        self.category_codes: dict[str, dict[str, float]] = {
            name: {category: float(code) for code, category in enumerate(categories)}
            for name, categories in zip(CATEGORICAL_INPUTS, ordinal.categories_)
        }
        self.numeric_positions = tuple(
            (name, self.position[name]) for name in MODEL_FEATURES if name not in CATEGORICAL_INPUTS
        )
        self.categorical_positions = tuple((name, self.position[name]) for name in CATEGORICAL_INPUTS)

        features, thresholds, missing_left, lefts, rights, leaves, values, expected, roots = ([] for _ in range(9))
        offset = 0
        for iteration in booster._predictors:
            nodes = iteration[0].nodes
            roots.append(offset)
            features.append(nodes["feature_idx"].astype(np.int64))
            thresholds.append(nodes["num_threshold"].astype(np.float64))
            missing_left.append(nodes["missing_go_to_left"].astype(np.bool_))
            lefts.append(nodes["left"].astype(np.int64) + offset)
            rights.append(nodes["right"].astype(np.int64) + offset)
            leaves.append(nodes["is_leaf"].astype(np.bool_))
            values.append(nodes["value"].astype(np.float64))
            expected.append(_expected_values(nodes))
            offset += len(nodes)
        self.nodes_feature = np.concatenate(features)
        self.nodes_threshold = np.concatenate(thresholds)
        self.nodes_missing_left = np.concatenate(missing_left)
        self.nodes_left = np.concatenate(lefts)
        self.nodes_right = np.concatenate(rights)
        self.nodes_is_leaf = np.concatenate(leaves)
        self.nodes_value = np.concatenate(values)
        self.nodes_expected = np.concatenate(expected)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.baseline = float(booster._baseline_prediction.ravel()[0])
        self.n_trees = len(roots)
        self.n_nodes = offset
        # The expected raw score over the training data: the base the
        # contributions start from.
        self.base_value = self.baseline + float(self.nodes_expected[self.roots].sum())
        self.sigmoid_a = calibrator.a_
        self.sigmoid_b = calibrator.b_
        # Compile now (or load numba's cache), not on the first application.
        self.score_row(np.zeros(len(self.columns)))
        self.raw_scores(np.zeros((1, len(self.columns))))

    def encode(self, values) -> np.ndarray:
        """The float64 row the trees see, from validated input values."""
        row = np.empty(len(self.columns))
        for name, position in self.numeric_positions:
            value = values[name]
            row[position] = np.nan if value is None else value
        for name, position in self.categorical_positions:
            row[position] = self.category_codes[name][values[name]]
        return row

    def score_row(self, row: np.ndarray) -> RowScore:
        contributions = np.zeros(len(self.columns))
        raw = _walk_one(
            row,
            self.nodes_feature,
            self.nodes_threshold,
            self.nodes_missing_left,
            self.nodes_left,
            self.nodes_right,
            self.nodes_is_leaf,
            self.nodes_value,
            self.nodes_expected,
            self.roots,
            self.baseline,
            contributions,
        )
        return RowScore(self.calibrate(raw), raw, contributions)

    def calibrate(self, raw):
        # _SigmoidCalibration.predict: expit(-(a * T + b)), same operations.
        return expit(-(self.sigmoid_a * raw + self.sigmoid_b))

    def raw_scores(self, rows: np.ndarray) -> np.ndarray:
        return _walk_many(
            np.ascontiguousarray(rows, dtype=np.float64),
            self.nodes_feature,
            self.nodes_threshold,
            self.nodes_missing_left,
            self.nodes_left,
            self.nodes_right,
            self.nodes_is_leaf,
            self.nodes_value,
            self.roots,
            self.baseline,
        )


def _expected_values(nodes) -> np.ndarray:
    """Training-weighted mean leaf value under each node (children first)."""
    expected = nodes["value"].astype(np.float64).copy()
    counts = nodes["count"].astype(np.float64)
    # Children always have larger indices than their parent in a fitted tree.
    for index in range(len(nodes) - 1, -1, -1):
        if not nodes["is_leaf"][index]:
            left, right = nodes["left"][index], nodes["right"][index]
            total = counts[left] + counts[right]
            expected[index] = (expected[left] * counts[left] + expected[right] * counts[right]) / total
    return expected
