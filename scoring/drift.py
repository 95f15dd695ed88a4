"""Population stability: the training data's bins, and the Population Stability Index against them.

Drift is measured against what the model was trained on, so the bins are
fixed at training time and travel with the model version (its manifest, or
for a model trained before they existed a verified sidecar written by
``manage.py build_monitoring_reference``; see ``scoring.store``). Nothing
here touches Django: training, the sidecar command and the monitoring app
share these functions, so a bin means the same thing everywhere.

Bins: for a number, the training deciles' distinct cut points (a value
``x`` falls in bin ``k`` when ``edges[k-1] <= x < edges[k]``) plus one bin
for a missing value; for a category, one bin per allowed value. The
probability of default is binned like a number, on the model's own
predictions for the training rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring import schema

REFERENCE_FORMAT = 1
QUANTILES = 10
PROBABILITY = "probability_of_default"
# The features drift is measured on: every input, then the model's output.
DRIFT_FEATURES: tuple[str, ...] = (*schema.INPUT_NAMES, PROBABILITY)
# Fixed 5-point bins for the probability chart (shares of the training rows in each),
# comparable across model versions, unlike the deciles PSI uses.
HISTOGRAM_EDGES: tuple[float, ...] = tuple(round(step / 20, 2) for step in range(1, 20))
# An empty bin would make PSI infinite; the usual practice is a small floor on both shares.
PSI_FLOOR = 1e-4
# The usual bands: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.
WATCH_FROM = 0.10
ACT_ABOVE = 0.25
STABLE, WATCH, ACT = "stable", "watch", "act"


def numeric_edges(values: np.ndarray, quantiles: int = QUANTILES) -> list[float]:
    """The distinct inner cut points of ``values``' quantiles (missing values ignored)."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    cuts = np.quantile(present, np.arange(1, quantiles) / quantiles)
    return sorted({float(cut) for cut in cuts})


def bin_numeric(values: Any, edges: Sequence[float]) -> np.ndarray:
    """Bin index of each value: ``0..len(edges)`` by the edges, ``len(edges) + 1`` when missing."""
    values = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    index[np.isnan(values)] = len(edges) + 1
    return index


def bin_categorical(values: Any, categories: Sequence[str]) -> np.ndarray:
    """Bin index of each value: its position among ``categories`` (an unknown value: ``len(categories)``)."""
    position = {value: index for index, value in enumerate(categories)}
    return np.fromiter((position.get(value, len(categories)) for value in values), dtype=np.int64, count=len(values))


def bin_count(spec: Mapping[str, Any]) -> int:
    """How many bins a feature's reference spec has."""
    if spec["kind"] == "category":
        return len(spec["categories"])
    return len(spec["edges"]) + 2


def bin_values(spec: Mapping[str, Any], values: Any) -> np.ndarray:
    if spec["kind"] == "category":
        return bin_categorical(values, spec["categories"])
    return bin_numeric(values, spec["edges"])


def bin_labels(spec: Mapping[str, Any]) -> list[str]:
    """What each bin holds, in words: ``"< 25"``, ``"25 to < 30"``, ``"≥ 60"``, ``"missing"``."""
    if spec["kind"] == "category":
        return list(spec["categories"])
    edges = spec["edges"]
    if not edges:
        return ["any value", "missing"]
    labels = [f"< {edges[0]:g}"]
    labels += [f"{low:g} to < {high:g}" for low, high in zip(edges[:-1], edges[1:])]
    labels += [f"≥ {edges[-1]:g}", "missing"]
    return labels


def shares(counts: Any) -> list[float]:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return [0.0] * len(counts)
    return [float(c) for c in counts / total]


def feature_spec(name: str, values: Any) -> dict[str, Any]:
    """The reference spec of one feature from its training values: bins and the share in each."""
    field = schema.FIELDS_BY_NAME.get(name)
    if isinstance(field, schema.CategoricalField):
        spec: dict[str, Any] = {"kind": "category", "categories": list(field.values)}
    else:
        spec = {"kind": "number", "edges": numeric_edges(values)}
    index = bin_values(spec, values)
    spec["shares"] = shares(np.bincount(index, minlength=bin_count(spec))[: bin_count(spec)])
    return spec


def build_reference(inputs: Any, probabilities: Any) -> dict[str, Any]:
    """The drift reference for one model: every input's and the probability's bins and training shares.

    ``inputs`` is the training rows' input frame (pandas), ``probabilities``
    the model's probability of default for each of them.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    features = {}
    for name in schema.INPUT_NAMES:
        column = inputs[name]
        values = column.to_numpy(dtype=object) if name in schema.CATEGORICAL_INPUTS else column.to_numpy(np.float64)
        features[name] = feature_spec(name, values)
    features[PROBABILITY] = feature_spec(PROBABILITY, probabilities)
    histogram = np.bincount(
        np.searchsorted(np.asarray(HISTOGRAM_EDGES), probabilities, side="right"), minlength=len(HISTOGRAM_EDGES) + 1
    )
    return {
        "format": REFERENCE_FORMAT,
        "rows": int(len(probabilities)),
        "quantiles": QUANTILES,
        "features": features,
        "probability_histogram": {"edges": list(HISTOGRAM_EDGES), "shares": shares(histogram)},
    }


def psi(expected_shares: Sequence[float], actual_counts: Sequence[float]) -> float | None:
    """Population Stability Index of ``actual_counts`` against ``expected_shares`` (``None`` if no rows).

    ``sum((a - e) * ln(a / e))`` over bins, each share floored at ``PSI_FLOOR``.
    """
    if len(expected_shares) != len(actual_counts):
        raise ValueError("expected and actual must have the same bins")
    total = float(sum(actual_counts))
    if total == 0:
        return None
    value = 0.0
    for expected, count in zip(expected_shares, actual_counts):
        e = max(float(expected), PSI_FLOOR)
        a = max(count / total, PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return value


def psi_band(value: float | None) -> str | None:
    """``stable`` below 0.1, ``watch`` from 0.1 to 0.25, ``act`` above 0.25."""
    if value is None:
        return None
    if value < WATCH_FROM:
        return STABLE
    if value <= ACT_ABOVE:
        return WATCH
    return ACT
