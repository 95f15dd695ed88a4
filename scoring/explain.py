"""Principal reasons: the model's own per-feature contributions, in words.

Contributions come from the tree walk (``scoring.engine``): for every split on
this applicant's path, the change in the expected score is credited to the
split's feature. With the base value they add up to the raw score, so the
reasons are what the model actually did, not a separate approximation.
"""
from __future__ import annotations

from typing import Mapping

from scoring.results import Reason
from scoring.schema import FIELDS_BY_NAME

MAX_REASONS = 4


def _money(value: float) -> str:
    return f"{value:,.0f}"


def describe(feature: str, value) -> str:
    """How an officer would say what this feature's value is."""
    if value is None:
        label = FIELDS_BY_NAME[feature].label if feature in FIELDS_BY_NAME else feature
        return f"{label} not given"
    if feature == "interest_burden":
        return f"Interest costs are {value * 100:.0f}% of income"
    if feature == "loan_percent_income":
        return f"Loan is {value * 100:.0f}% of annual income"
    if feature == "loan_grade":
        return f"Loan grade {value}"
    if feature == "loan_int_rate":
        return f"Interest rate {value:.2f}%"
    if feature == "person_income":
        return f"Annual income {_money(value)}"
    if feature == "loan_amnt":
        return f"Loan amount {_money(value)}"
    if feature == "person_age":
        return f"Age {value:.0f}"
    if feature == "person_emp_length":
        return f"{value:g} years in employment"
    if feature == "cb_person_cred_hist_length":
        return f"{value:.0f} years of credit history"
    if feature == "cb_person_default_on_file":
        return "Previous default on credit file" if value == "Y" else "No previous default on credit file"
    if feature == "person_home_ownership":
        return {"RENT": "Renting their home", "OWN": "Owns their home", "MORTGAGE": "Home with a mortgage"}.get(
            value, "Other home situation"
        )
    if feature == "loan_intent":
        return f"Loan purpose: {dict(FIELDS_BY_NAME['loan_intent'].choices)[value].lower()}"
    return f"{feature} = {value}"


def principal_reasons(contributions: Mapping[str, float], features: Mapping[str, object]) -> tuple[Reason, ...]:
    """Up to four features that pushed this applicant most towards default.

    Only positive contributions are reasons: a feature that lowered the risk
    is not a reason for it. Ties keep the schema's column order.
    """
    ranked = sorted(
        ((name, amount) for name, amount in contributions.items() if amount > 0),
        key=lambda item: item[1], reverse=True,
    )
    return tuple(Reason(feature=name, text=describe(name, features[name]), contribution=amount)
                 for name, amount in ranked[:MAX_REASONS])
