"""Principal reasons: the model's own per-feature contributions, in words.

Contributions come from the tree walk (``scoring.engine``): for every split on
this applicant's path, the change in the expected score is credited to the
split's feature. With the base value they add up to the raw score, so the
reasons are what the model actually did, not a separate approximation.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.results import Reason
from scoring.schema import FIELDS_BY_NAME

MAX_REASONS = 4


def _money(value: float) -> str:
    return f"{value:,.0f}"


_HOMES = {"RENT": "Renting their home", "OWN": "Owns their home", "MORTGAGE": "Home with a mortgage"}

# How an officer would say each feature's value.
_PHRASES = {
    "interest_burden": lambda v: f"Interest costs are {v * 100:.0f}% of income",
    "loan_percent_income": lambda v: f"Loan is {v * 100:.0f}% of annual income",
    "loan_grade": lambda v: f"Loan grade {v}",
    "loan_int_rate": lambda v: f"Interest rate {v:.2f}%",
    "person_income": lambda v: f"Annual income {_money(v)}",
    "loan_amnt": lambda v: f"Loan amount {_money(v)}",
    "person_age": lambda v: f"Age {v:.0f}",
    "person_emp_length": lambda v: f"{v:g} years in employment",
    "cb_person_cred_hist_length": lambda v: f"{v:.0f} years of credit history",
    "cb_person_default_on_file": lambda v: (
        "Previous default on credit file" if v == "Y" else "No previous default on credit file"
    ),
    "person_home_ownership": lambda v: _HOMES.get(v, "Other home situation"),
    "loan_intent": lambda v: f"Loan purpose: {dict(FIELDS_BY_NAME['loan_intent'].choices)[v].lower()}",
}


def describe(feature: str, value) -> str:
    """How an officer would say what this feature's value is."""
    if value is None:
        label = FIELDS_BY_NAME[feature].label if feature in FIELDS_BY_NAME else feature
        return f"{label} not given"
    phrase = _PHRASES.get(feature)
    return phrase(value) if phrase else f"{feature} = {value}"


def principal_reasons(contributions: Mapping[str, float], features: Mapping[str, object]) -> tuple[Reason, ...]:
    """Up to four features that pushed this applicant most towards default.

    Only positive contributions are reasons: a feature that lowered the risk
    is not a reason for it. Ties keep the schema's column order.
    """
    ranked = sorted(
        ((name, amount) for name, amount in contributions.items() if amount > 0),
        key=lambda item: item[1],
        reverse=True,
    )
    return tuple(
        Reason(feature=name, text=describe(name, features[name]), contribution=amount)
        for name, amount in ranked[:MAX_REASONS]
    )
