"""Principal reasons: the model's own per-feature contributions, in words.

Contributions come from the tree walk (``scoring.engine``): for every split on
this applicant's path, the change in the expected score is credited to the
split's feature. With the base value they add up to the raw score, so the
reasons are what the model actually did, not a separate approximation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scoring.reason_codes import CODE_OF_COLUMN, NEVER_A_REASON, REASON_CODES
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


def _years(value: float) -> str:
    return "1 year" if value == 1 else f"{value:g} years"


_CODE_NAME_OF_COLUMN = {column: code.code for column, code in CODE_OF_COLUMN.items()}
_STATEMENTS = {code.code: code.statement for code in REASON_CODES}
_PURPOSES = {value: label.lower() for value, label in FIELDS_BY_NAME["loan_intent"].choices}

# The applicant's own value, as a coded reason states it.
_VALUE_PHRASES = {
    "loan_percent_income": lambda v: f"loan is {v * 100:.0f}% of annual income",
    "loan_amnt": lambda v: f"loan amount {_money(v)}",
    "person_income": lambda v: f"annual income {_money(v)}",
    "interest_burden": lambda v: f"first-year interest is {v * 100:.1f}% of annual income",
    "cb_person_default_on_file": lambda v: (
        "previous default on credit file" if v == "Y" else "no previous default on credit file"
    ),
    "cb_person_cred_hist_length": lambda v: f"{_years(v)} of credit history",
    "person_emp_length": lambda v: f"{_years(v)} in employment",
    "loan_grade": lambda v: f"loan grade {v} (A best, G worst)",
    "loan_int_rate": lambda v: f"interest rate {v:.2f}% a year",
    "loan_intent": lambda v: f"loan for {_PURPOSES[v]}",
    "person_home_ownership": lambda v: _HOMES.get(v, "other home situation").lower(),
}


def value_in_words(feature: str, value) -> str:
    """The applicant's value of one model column, as a reason quotes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        label = FIELDS_BY_NAME[feature].label if feature in FIELDS_BY_NAME else feature
        return f"{label.lower()} not given"
    return _VALUE_PHRASES[feature](value)


def coded_reasons(contributions: Mapping[str, float], features: Mapping[str, object]) -> tuple[Reason, ...]:
    """Up to four reason codes that raised this applicant's risk, largest first.

    ``contributions`` are exact attributions against the model's reference
    applicant. A code's contribution is the sum over its columns; only codes
    whose sum is positive are reasons, and the value quoted is that of the
    columns that themselves raised the risk (largest first), so a value that
    lowered it is never quoted. Ties keep the model's column order.
    """
    # Keyed by the code's name: hashing a short string is cheaper than the dataclass.
    totals: dict[str, float] = {}
    raising: dict[str, list[tuple[float, str]]] = {}
    for column, amount in contributions.items():
        if column in NEVER_A_REASON:
            continue
        code = _CODE_NAME_OF_COLUMN[column]
        totals[code] = totals.get(code, 0.0) + amount
        if amount > 0:
            raising.setdefault(code, []).append((amount, column))
    ranked = sorted(
        (code for code, total in totals.items() if total > 0 and code in raising),
        key=totals.__getitem__,
        reverse=True,
    )
    reasons = []
    for code in ranked[:MAX_REASONS]:
        columns = [column for _, column in sorted(raising[code], reverse=True)]
        value_text = "; ".join(value_in_words(column, features[column]) for column in columns)
        value_text = value_text[:1].upper() + value_text[1:]
        name, statement = code, _STATEMENTS[code]
        reasons.append(
            Reason(
                feature=columns[0],
                text=f"{statement} — {value_text}",
                contribution=totals[code],
                code=name,
                statement=statement,
                value_text=value_text,
            )
        )
    return tuple(reasons)
