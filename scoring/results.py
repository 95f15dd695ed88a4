"""Value objects returned by the scoring service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

APPROVE = "APPROVE"
REVIEW = "REVIEW"
DECLINE = "DECLINE"
DECISIONS = (APPROVE, REVIEW, DECLINE)

SAFE = "SAFE"
RISKY = "RISKY"
RISK_LABELS = (SAFE, RISKY)


@dataclass(frozen=True)
class Reason:
    """One principal reason: what pushed this applicant's score, and how much.

    ``contribution`` is in the model's raw (log-odds) units; a positive value
    pushed towards default.
    """

    feature: str
    text: str
    contribution: float

    def as_dict(self) -> dict:
        return {"feature": self.feature, "text": self.text, "contribution": self.contribution}


@dataclass(frozen=True)
class ScoreResult:
    probability_of_default: float
    decision: str
    risk_label: str
    interest_burden: float | None
    loan_percent_income: float
    reasons: tuple[Reason, ...]
    # The exact values fed to the model, by column name (MODEL_FEATURES order).
    features: Mapping[str, float | str | None]
    model_version: str
    model_sha256: str
    # Decision policy in force: APPROVE below approve_below, DECLINE at or above decline_from.
    approve_below: float
    decline_from: float
    # Raw model score (log-odds before calibration) = base_value + sum of all contributions.
    raw_score: float = field(default=0.0)
    base_value: float = field(default=0.0)
    contributions: Mapping[str, float] = field(default_factory=dict)
