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

Models since issue 12 explain a score against one reference applicant
instead (``attribute_row``): baseline Shapley values computed exactly, tree
by tree, by following the applicant and the reference together. They add up
to ``raw(applicant) - raw(reference)``, and for a feature the model is
monotone in, a value more favourable than the reference's can only get a
contribution of zero or less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import expit

from scoring.schema import CATEGORICAL_INPUTS, MODEL_FEATURES

# Up to this many model columns: the features a path has fixed to the
# applicant's or the reference's value are kept as bits of one integer.
MAX_ATTRIBUTED_COLUMNS = 62


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


@numba.njit(cache=True, nogil=True)
def _walk_rows(
    X,
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
    # _walk_one for each row in turn: each row's score and attribution come
    # from the very function (and order of operations) of the single-row path.
    raw = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        raw[i] = _walk_one(
            X[i],
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
            contributions[i],
        )
    return raw


@numba.njit(cache=True, nogil=True)
def _goes_left(value, threshold, missing_left):
    if math.isnan(value):
        return missing_left
    return value <= threshold


@numba.njit(cache=True, nogil=True)
def _reference_directions(reference, nodes_feature, nodes_threshold, nodes_missing_left, nodes_is_leaf):
    """For every node, whether the reference goes left: computed once per model."""
    left = np.zeros(nodes_feature.shape[0], dtype=np.bool_)
    for node in range(nodes_feature.shape[0]):
        if not nodes_is_leaf[node]:
            left[node] = _goes_left(reference[nodes_feature[node]], nodes_threshold[node], nodes_missing_left[node])
    return left


@numba.njit(cache=True, nogil=True)
def _attribute_one(
    x,
    reference_left,
    nodes_feature,
    nodes_threshold,
    nodes_missing_left,
    nodes_left,
    nodes_right,
    nodes_is_leaf,
    nodes_value,
    roots,
    weight_for,
    weight_against,
    stack_size,
    baseline,
    contributions,
):
    # Returns x's raw score, summed like _walk_one (baseline, then each
    # tree's leaf in turn): the first leaf reached in a tree is x's own.
    #
    # Baseline Shapley value of each feature for f(x) - f(reference), exact
    # per tree. Walk x and the reference together; where they part on a
    # feature not yet fixed, follow both: one side with the feature fixed to
    # x's value ("for" set, a features), the other to the reference's
    # ("against" set, b features). A leaf of value v reached that way is the
    # game v * [for <= S][against & S empty], whose Shapley values are
    # v * (a-1)! b! / (a+b)! to each feature in "for" and
    # -v * a! (b-1)! / (a+b)! to each in "against" (the weight tables).
    stack_node = np.empty(stack_size, dtype=np.int64)
    stack_for = np.empty(stack_size, dtype=np.int64)
    stack_against = np.empty(stack_size, dtype=np.int64)
    stack_a = np.empty(stack_size, dtype=np.int64)
    stack_b = np.empty(stack_size, dtype=np.int64)
    raw = baseline
    for t in range(roots.shape[0]):
        own_leaf_pending = True
        stack_node[0] = roots[t]
        stack_for[0] = 0
        stack_against[0] = 0
        stack_a[0] = 0
        stack_b[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            fixed_for = stack_for[top]
            fixed_against = stack_against[top]
            a = stack_a[top]
            b = stack_b[top]
            while not nodes_is_leaf[node]:
                feature = nodes_feature[node]
                bit = np.int64(1) << feature
                if fixed_against & bit:
                    left = reference_left[node]
                else:
                    left = _goes_left(x[feature], nodes_threshold[node], nodes_missing_left[node])
                    if not (fixed_for & bit) and left != reference_left[node]:
                        # Continue with x's side; keep the reference's side for later.
                        stack_node[top] = nodes_right[node] if left else nodes_left[node]
                        stack_for[top] = fixed_for
                        stack_against[top] = fixed_against | bit
                        stack_a[top] = a
                        stack_b[top] = b + 1
                        top += 1
                        fixed_for |= bit
                        a += 1
                node = nodes_left[node] if left else nodes_right[node]
            value = nodes_value[node]
            if own_leaf_pending:
                raw += value
                own_leaf_pending = False
            if a + b == 0:
                continue  # x and the reference share this leaf: it cancels out
            share_for = value * weight_for[a, b]
            share_against = value * weight_against[a, b]
            feature = 0
            remaining = fixed_for | fixed_against
            while remaining:
                bit = np.int64(1) << feature
                if fixed_for & bit:
                    contributions[feature] += share_for
                elif fixed_against & bit:
                    contributions[feature] -= share_against
                remaining &= ~bit
                feature += 1
    return raw


@numba.njit(cache=True, nogil=True)
def _attribute_many(
    X,
    reference_left,
    nodes_feature,
    nodes_threshold,
    nodes_missing_left,
    nodes_left,
    nodes_right,
    nodes_is_leaf,
    nodes_value,
    roots,
    weight_for,
    weight_against,
    stack_size,
    baseline,
    contributions,
):
    for i in range(X.shape[0]):
        _attribute_one(
            X[i],
            reference_left,
            nodes_feature,
            nodes_threshold,
            nodes_missing_left,
            nodes_left,
            nodes_right,
            nodes_is_leaf,
            nodes_value,
            roots,
            weight_for,
            weight_against,
            stack_size,
            baseline,
            contributions[i],
        )


@numba.njit(cache=True, nogil=True)
def _attribute_rows_scored(
    X,
    reference_left,
    nodes_feature,
    nodes_threshold,
    nodes_missing_left,
    nodes_left,
    nodes_right,
    nodes_is_leaf,
    nodes_value,
    roots,
    weight_for,
    weight_against,
    stack_size,
    baseline,
    contributions,
):
    # _attribute_one for each row in turn, keeping each row's raw score.
    raw = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        raw[i] = _attribute_one(
            X[i],
            reference_left,
            nodes_feature,
            nodes_threshold,
            nodes_missing_left,
            nodes_left,
            nodes_right,
            nodes_is_leaf,
            nodes_value,
            roots,
            weight_for,
            weight_against,
            stack_size,
            baseline,
            contributions[i],
        )
    return raw


def _shapley_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """weight_for[a, b] = (a-1)! b! / (a+b)!, weight_against[a, b] = a! (b-1)! / (a+b)!."""
    weight_for = np.zeros((n + 1, n + 1))
    weight_against = np.zeros((n + 1, n + 1))
    for a in range(n + 1):
        for b in range(n + 1):
            if a + b == 0:
                continue
            total = math.factorial(a + b)
            if a:
                weight_for[a, b] = math.factorial(a - 1) * math.factorial(b) / total
            if b:
                weight_against[a, b] = math.factorial(a) * math.factorial(b - 1) / total
    return weight_for, weight_against


@dataclass(frozen=True)
class RowScore:
    probability_of_default: float
    raw_score: float
    contributions: np.ndarray  # per encoded column, see CompiledModel.columns


class CompiledModel:
    """Flat node arrays and calibration constants taken from a fitted Pipeline."""

    def __init__(self, pipeline) -> None:
        encoder = pipeline.named_steps["encode"]
        derive = pipeline.named_steps["derive"]
        # The features this artifact is fed, in its own order: since issue 12
        # the first step carries its column list; artifacts before had them all.
        self.feature_names: tuple[str, ...] = tuple((derive.kw_args or {}).get("columns", MODEL_FEATURES))
        calibrated = pipeline.named_steps["classify"]
        if len(calibrated.calibrated_classifiers_) != 1 or calibrated.method != "sigmoid":
            raise TypeError("the fast path expects one sigmoid-calibrated classifier (ensemble=False)")
        member = calibrated.calibrated_classifiers_[0]
        booster = member.estimator
        calibrator = member.calibrators[0]
        if booster.n_trees_per_iteration_ != 1 or booster.is_categorical_ is not None and booster.is_categorical_.any():
            raise TypeError("the fast path expects a binary model with numeric splits only")

        # Column order after the ColumnTransformer: the position of each model
        # feature. Each artifact has its own list (issue 12 dropped age).
        self.columns: tuple[str, ...] = tuple(encoder.get_feature_names_out())
        if not set(self.columns) <= set(MODEL_FEATURES) or len(set(self.columns)) != len(self.columns):
            raise TypeError(f"unexpected model columns {self.columns}")
        if len(self.columns) > MAX_ATTRIBUTED_COLUMNS:
            raise TypeError(f"more than {MAX_ATTRIBUTED_COLUMNS} model columns")
        self.position = {name: i for i, name in enumerate(self.columns)}
        ordinal = encoder.named_transformers_["categories"]
        encoded_categories = next(columns for name, _, columns in encoder.transformers_ if name == "categories")
        self.category_codes: dict[str, dict[str, float]] = {
            name: {category: float(code) for code, category in enumerate(categories)}
            for name, categories in zip(encoded_categories, ordinal.categories_, strict=True)
        }
        if set(self.category_codes) != {name for name in self.columns if name in CATEGORICAL_INPUTS}:
            raise TypeError("every categorical model column must be ordinal-encoded")
        self.numeric_positions = tuple(
            (name, position) for name, position in self.position.items() if name not in CATEGORICAL_INPUTS
        )
        self.categorical_positions = tuple(
            (name, position) for name, position in self.position.items() if name in CATEGORICAL_INPUTS
        )

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
        # The node arrays every compiled walk takes first, in its parameter order: one tuple, not seven arguments.
        self._tree = (
            self.nodes_feature,
            self.nodes_threshold,
            self.nodes_missing_left,
            self.nodes_left,
            self.nodes_right,
            self.nodes_is_leaf,
            self.nodes_value,
        )
        self.baseline = float(booster._baseline_prediction.ravel()[0])
        self.n_trees = len(roots)
        self.n_nodes = offset
        # The expected raw score over the training data: the base the
        # contributions start from.
        self.base_value = self.baseline + float(self.nodes_expected[self.roots].sum())
        self.sigmoid_a = calibrator.a_
        self.sigmoid_b = calibrator.b_
        self._weight_for, self._weight_against = _shapley_weights(len(self.columns))
        # A path forks at most once per distinct feature: stack depth bound.
        self._stack_size = len(self.columns) + 2
        # Compile now (or load numba's cache), not on the first application.
        self.score_row(np.zeros(len(self.columns)))
        self.raw_scores(np.zeros((1, len(self.columns))))
        self.attribute_row(np.zeros(len(self.columns)), self.reference_directions(np.ones(len(self.columns))))
        self.score_rows(np.zeros((1, len(self.columns))))
        self.attribute_rows_scored(
            np.zeros((1, len(self.columns))), self.reference_directions(np.ones(len(self.columns)))
        )

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
            *self._tree,
            self.nodes_expected,
            self.roots,
            self.baseline,
            contributions,
        )
        return RowScore(self.calibrate(raw), raw, contributions)

    def calibrate(self, raw):
        # _SigmoidCalibration.predict: expit(-(a * T + b)), same operations.
        return expit(-(self.sigmoid_a * raw + self.sigmoid_b))

    def reference_directions(self, reference: np.ndarray) -> np.ndarray:
        """Which way ``reference`` goes at every node: the fixed half of ``attribute_row``."""
        return _reference_directions(
            np.ascontiguousarray(reference, dtype=np.float64),
            self.nodes_feature,
            self.nodes_threshold,
            self.nodes_missing_left,
            self.nodes_is_leaf,
        )

    def attribute_row(self, row: np.ndarray, reference_left: np.ndarray) -> RowScore:
        """``row``'s score with exact baseline Shapley contributions against a reference.

        ``reference_left`` is ``reference_directions(reference)``. The
        probability and raw score are bit for bit ``score_row``'s (one walk
        does both); the contributions, in raw-score units, add up to
        ``raw(row) - raw(reference)`` up to float rounding.
        """
        contributions = np.zeros(len(self.columns))
        raw = _attribute_one(
            row,
            reference_left,
            *self._tree,
            self.roots,
            self._weight_for,
            self._weight_against,
            self._stack_size,
            self.baseline,
            contributions,
        )
        return RowScore(self.calibrate(raw), raw, contributions)

    def attribute_rows(self, rows: np.ndarray, reference_left: np.ndarray) -> np.ndarray:
        """``attribute_row`` for every row of a table: one row of contributions each."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        contributions = np.zeros(rows.shape)
        _attribute_many(
            rows,
            reference_left,
            *self._tree,
            self.roots,
            self._weight_for,
            self._weight_against,
            self._stack_size,
            self.baseline,
            contributions,
        )
        return contributions

    def encode_columns(self, columns) -> np.ndarray:
        """``encode`` for a whole table: ``columns`` maps each model column to its values (floats, NaN for
        missing; category codes as text). One row of the float64 matrix per application."""
        size = len(next(iter(columns.values())))
        rows = np.empty((size, len(self.columns)))
        for name, position in self.numeric_positions:
            rows[:, position] = columns[name]
        for name, position in self.categorical_positions:
            codes = self.category_codes[name]
            rows[:, position] = [codes[value] for value in columns[name]]
        return rows

    def score_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``score_row`` for every row of a matrix: ``(probabilities, raw scores, contributions)``, bit for bit."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        contributions = np.zeros(rows.shape)
        raw = _walk_rows(
            rows,
            *self._tree,
            self.nodes_expected,
            self.roots,
            self.baseline,
            contributions,
        )
        return self.calibrate(raw), raw, contributions

    def attribute_rows_scored(
        self, rows: np.ndarray, reference_left: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``attribute_row`` for every row of a matrix: ``(probabilities, raw scores, contributions)``."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        contributions = np.zeros(rows.shape)
        raw = _attribute_rows_scored(
            rows,
            reference_left,
            *self._tree,
            self.roots,
            self._weight_for,
            self._weight_against,
            self._stack_size,
            self.baseline,
            contributions,
        )
        return self.calibrate(raw), raw, contributions

    def raw_scores(self, rows: np.ndarray) -> np.ndarray:
        return _walk_many(
            np.ascontiguousarray(rows, dtype=np.float64),
            *self._tree,
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
