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
    pushed towards default. Models since issue 12 give coded reasons
    (``code``, ``statement`` from ``scoring.reason_codes``, the applicant's
    own value in words as ``value_text``); ``text`` is then the line an
    officer reads, "statement — value". Reasons stored before carry only
    ``feature``, ``text`` and ``contribution`` and are shown as they were.
    """

    feature: str
    text: str
    contribution: float
    code: str | None = None
    statement: str | None = None
    value_text: str | None = None

    def as_dict(self) -> dict:
        if self.code is None:
            return {"feature": self.feature, "text": self.text, "contribution": self.contribution}
        return {
            "code": self.code,
            "statement": self.statement,
            "value_text": self.value_text,
            "text": self.text,
            "feature": self.feature,
            "contribution": self.contribution,
        }


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
    # The decision policy those cut-offs belong to (``scoring.services.DecisionPolicy``).
    policy_version: str = ""
    # Raw model score (log-odds before calibration) = base_value + sum of all contributions.
    raw_score: float = field(default=0.0)
    base_value: float = field(default=0.0)
    contributions: Mapping[str, float] = field(default_factory=dict)
    # Values outside the model's ordinary training range (scoring.experience):
    # when any, the decision is REVIEW whatever the probability.
    outside_experience: tuple = ()
    # SHA-256 of the ranges that were checked (part of the model version).
    experience_sha256: str = ""
