"""The model's experience: the ranges of inputs and derived features seen in training.

A tree model answers confidently far outside its training data (a loan of
900,000 on an income of 1,000 falls in the same leaves as a loan of 83% of
income). So each model version carries, per guarded column, the range seen
in its training rows and the ordinary band (the 0.5th to 99.5th
percentiles); an application with a value outside the band is never decided
automatically (``outside_experience``: the caller makes it REVIEW).

Where the ranges live: models trained since issue 15 have them in their
manifest (``experience``). A model trained before keeps its manifest and
artifact untouched, so its predictions and SHA-256 stay what every decision
recorded; its ranges are a sidecar, ``models_store/<version>/experience.json``,
computed by ``manage.py attach_experience`` from the very training file whose
SHA-256 the manifest records (the command refuses any other file, and
recomputing gives the same bytes). Either way the document's SHA-256 is
recorded in every decision it guarded, and replay checks it.

Age is recorded but never guarded: sending an applicant to manual review for
being old or young is treating them differently because of age (Regulation B).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoring import schema
from scoring.features import add_derived_features

EXPERIENCE_FILE = "experience.json"
# The ordinary band: what the model has seen often enough to be trusted on.
ORDINARY_QUANTILES = (0.005, 0.995)
# Columns whose range is recorded but never guarded (see the module docstring).
NOT_GUARDED = frozenset({"person_age"})
NUMERIC_COLUMNS = tuple(name for name in schema.MODEL_FEATURES if name not in schema.CATEGORICAL_INPUTS)


def _round(value: float) -> float:
    # Plain floats, written by json at full precision: the document hashes the same everywhere.
    return float(value)


def training_ranges(inputs: pd.DataFrame) -> dict:
    """Per numeric column of the model frame: min, max and the ordinary band over the given rows.

    ``inputs`` are the cleaned training rows (``training.clean_training_frame``),
    the ten inputs; the derived features are computed as the model computes
    them. Missing values are left out of the ranges (the model has seen them
    as missing: ``missing_seen``).
    """
    frame = add_derived_features(inputs)
    low_q, high_q = ORDINARY_QUANTILES
    ranges = {}
    for name in NUMERIC_COLUMNS:
        values = frame[name].to_numpy(dtype=np.float64)
        present = values[~np.isnan(values)]
        ranges[name] = {
            "min": _round(present.min()),
            "max": _round(present.max()),
            "ordinary_low": _round(np.quantile(present, low_q)),
            "ordinary_high": _round(np.quantile(present, high_q)),
            "missing_seen": bool(np.isnan(values).any()),
            "guarded": name not in NOT_GUARDED,
        }
    return ranges


def experience_document(*, inputs: pd.DataFrame, training_data_sha256: str, rows_used: int) -> dict:
    """The experience section of a manifest (or the content of a sidecar)."""
    return {
        "description": (
            "Per numeric input and derived feature: the range seen in the cleaned training rows and the "
            f"ordinary band ({ORDINARY_QUANTILES[0] * 100:g}th to {ORDINARY_QUANTILES[1] * 100:g}th percentile, "
            "numpy linear interpolation). Outside the band an application goes to REVIEW. Age is not guarded."
        ),
        "training_data_sha256": training_data_sha256,
        "rows_used": int(rows_used),
        "quantiles": list(ORDINARY_QUANTILES),
        "ranges": training_ranges(inputs),
    }


def document_bytes(document: Mapping) -> bytes:
    """The sidecar's bytes: sorted keys, fixed layout, so recomputing gives the same file."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def document_sha256(document: Mapping) -> str:
    return hashlib.sha256(document_bytes(document)).hexdigest()


@dataclass(frozen=True)
class Excursion:
    """One value outside the model's ordinary band."""

    feature: str
    value: float
    text: str

    def as_dict(self) -> dict:
        return {"feature": self.feature, "value": self.value, "text": self.text}


def _percent(value: float) -> str:
    percent = value * 100
    if percent == 0:
        return "0%"
    if abs(percent) < 1:
        return f"{percent:.2g}%"
    return f"{percent:,.0f}%"


def _money(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _years(value: float) -> str:
    return "1 year" if value == 1 else f"{value:g} years"


# (what the applicant's value is, how a bound is written)
_WORDS = {
    "loan_percent_income": (lambda v: f"loan is {_percent(v)} of income", _percent),
    "interest_burden": (lambda v: f"first-year interest is {_percent(v)} of income", _percent),
    "loan_amnt": (lambda v: f"loan amount {_money(v)}", _money),
    "person_income": (lambda v: f"annual income {_money(v)}", _money),
    "loan_int_rate": (lambda v: f"interest rate {v:g}%", lambda v: f"{v:g}%"),
    "person_emp_length": (lambda v: f"{_years(v)} in employment", _years),
    "cb_person_cred_hist_length": (lambda v: f"{_years(v)} of credit history", _years),
    "person_age": (lambda v: f"age {v:g}", lambda v: f"{v:g}"),
}


def _excursion_text(name: str, value: float, bounds: Mapping) -> str:
    say_value, say_bound = _WORDS[name]
    if value > bounds["ordinary_high"]:
        if value > bounds["max"]:
            limit = f"highest seen: {say_bound(bounds['max'])}"
        else:
            limit = f"usually at most {say_bound(bounds['ordinary_high'])}; highest seen: {say_bound(bounds['max'])}"
    elif value < bounds["min"]:
        limit = f"lowest seen: {say_bound(bounds['min'])}"
    else:
        limit = f"usually at least {say_bound(bounds['ordinary_low'])}; lowest seen: {say_bound(bounds['min'])}"
    return f"Outside the model's experience: {say_value(value)} ({limit})"


@dataclass(frozen=True)
class Experience:
    """A model version's ranges, and the SHA-256 that names them in decision records."""

    ranges: Mapping[str, Mapping]
    sha256: str
    source: str  # "manifest" or the sidecar's file name

    def __post_init__(self) -> None:
        # (column, low, high) of each guarded column in model column order: read once, checked per application.
        bands = tuple(
            (name, float(self.ranges[name]["ordinary_low"]), float(self.ranges[name]["ordinary_high"]))
            for name in NUMERIC_COLUMNS
            if name in self.ranges and self.ranges[name].get("guarded", True)
        )
        object.__setattr__(self, "_bands", bands)

    def outside(self, features: Mapping[str, float | str | None]) -> tuple[Excursion, ...]:
        """Every guarded value outside the ordinary band, in model column order."""
        found = ()
        for name, low, high in self._bands:
            value = features.get(name)
            # A missing value (None; NaN fails both comparisons) is within experience: training had them.
            if value is not None and (value < low or value > high):
                value = float(value)
                found += (Excursion(name, value, _excursion_text(name, value, self.ranges[name])),)
        return found

    def outside_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """``outside`` for a table of feature rows: True where any guarded value is outside."""
        mask = np.zeros(len(frame), dtype=bool)
        for name, bounds in self.ranges.items():
            if not bounds.get("guarded", True) or name not in frame.columns:
                continue
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore"):
                mask |= (values < bounds["ordinary_low"]) | (values > bounds["ordinary_high"])
        return mask


def experience_columns(experience: Experience) -> tuple[str, ...]:
    """The columns ``experience`` guards, in model column order."""
    return tuple(n for n in NUMERIC_COLUMNS if experience.ranges.get(n, {}).get("guarded", False))


class ExperienceMissing(Exception):
    """The model version has no (valid) experience ranges."""


def load_experience(*, version_dir: Path, manifest: Mapping) -> Experience:
    """The version's ranges: from its manifest, else from its sidecar; checked against the training data.

    Raises ``ExperienceMissing`` with a sentence for a human when neither is
    there or the sidecar was computed from another training file.
    """
    embedded = manifest.get("experience")
    if embedded is not None:
        return Experience(ranges=embedded["ranges"], sha256=document_sha256(embedded), source="manifest")
    path = version_dir / EXPERIENCE_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExperienceMissing(
            f"its training ranges are missing ({path}); compute them with "
            "'manage.py attach_experience --model <version> --data <its training file>'"
        ) from None
    try:
        document = json.loads(data)
        ranges = document["ranges"]
    except (ValueError, KeyError, TypeError):
        raise ExperienceMissing(f"its training ranges ({path}) cannot be read") from None
    recorded = (manifest.get("training_data") or {}).get("sha256")
    if document.get("training_data_sha256") != recorded:
        raise ExperienceMissing(f"its training ranges ({path}) were computed from another training file")
    if document_bytes(document) != data:
        raise ExperienceMissing(f"its training ranges ({path}) were edited by hand")
    return Experience(ranges=ranges, sha256=hashlib.sha256(data).hexdigest(), source=EXPERIENCE_FILE)
