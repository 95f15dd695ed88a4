"""The feature schema: the one place where the applicant inputs, their units,
allowed values and ranges are defined.

Training (row cleaning), serving (``score_application``) and the web form all
read these definitions, so a rule changed here changes everywhere at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

# People in the training data started work and credit as young as 14-16
# (a quarter of them before 18), so "longer than the applicant could have
# worked" is measured from this age, not from 18.
EARLIEST_WORKING_AGE = 14


@dataclass(frozen=True)
class NumericField:
    name: str
    label: str
    unit: str
    help_text: str
    min_value: float
    max_value: float
    # True when the lower bound itself is refused (income > 0, not >= 0).
    min_exclusive: bool = False
    integer: bool = False
    # Blank in the historical data: the model handles it as missing. The web
    # form still requires it (an officer always knows it).
    nullable: bool = False
    decimal_places: int = 2
    # An amount of money, in the bank's currency (shown with it on screen).
    money: bool = False

    kind = "numeric"


@dataclass(frozen=True)
class CategoricalField:
    name: str
    label: str
    help_text: str
    choices: tuple[tuple[str, str], ...]
    # Human phrasing for a reason, e.g. "Loan grade D".
    kind = "categorical"

    @cached_property
    def values(self) -> tuple[str, ...]:
        # Computed once per field (cached_property writes past the frozen dataclass's __setattr__).
        return tuple(value for value, _ in self.choices)


INPUT_FIELDS: tuple[NumericField | CategoricalField, ...] = (
    NumericField(
        "person_age",
        "Age",
        "years",
        "Applicant's age in whole years (18 to 100).",
        min_value=18,
        max_value=100,
        integer=True,
    ),
    NumericField(
        "person_income",
        "Annual income",
        "per year",
        "Gross annual income, in the loan's currency.",
        min_value=0,
        max_value=10_000_000,
        min_exclusive=True,
        money=True,
    ),
    CategoricalField(
        "person_home_ownership",
        "Home ownership",
        "How the applicant lives.",
        (("RENT", "Rent"), ("OWN", "Own"), ("MORTGAGE", "Mortgage"), ("OTHER", "Other")),
    ),
    NumericField(
        "person_emp_length",
        "Employment length",
        "years",
        f"Years in employment; at most the years since age {EARLIEST_WORKING_AGE}.",
        min_value=0,
        max_value=100 - EARLIEST_WORKING_AGE,
        nullable=True,
        decimal_places=1,
    ),
    CategoricalField(
        "loan_intent",
        "Loan purpose",
        "What the loan is for.",
        (
            ("EDUCATION", "Education"),
            ("MEDICAL", "Medical"),
            ("VENTURE", "Venture"),
            ("PERSONAL", "Personal"),
            ("DEBTCONSOLIDATION", "Debt consolidation"),
            ("HOMEIMPROVEMENT", "Home improvement"),
        ),
    ),
    CategoricalField(
        "loan_grade",
        "Loan grade",
        "The bank's grade for the loan, A (best) to G.",
        tuple((grade, grade) for grade in "ABCDEFG"),
    ),
    NumericField(
        "loan_amnt",
        "Loan amount",
        "",
        "Amount requested, in the loan's currency.",
        min_value=0,
        max_value=1_000_000,
        min_exclusive=True,
        money=True,
    ),
    NumericField(
        "loan_int_rate",
        "Interest rate",
        "% per year",
        "Annual interest rate in percent, above 0 and at most 100.",
        min_value=0,
        max_value=100,
        min_exclusive=True,
        nullable=True,
    ),
    CategoricalField(
        "cb_person_default_on_file",
        "Previous default on file",
        "A default recorded on the credit bureau file.",
        (("N", "No"), ("Y", "Yes")),
    ),
    NumericField(
        "cb_person_cred_hist_length",
        "Credit history length",
        "years",
        f"Years of credit history; at most the years since age {EARLIEST_WORKING_AGE}.",
        min_value=0,
        max_value=100 - EARLIEST_WORKING_AGE,
        integer=True,
    ),
)

INPUT_NAMES: tuple[str, ...] = tuple(field.name for field in INPUT_FIELDS)
FIELDS_BY_NAME: dict[str, NumericField | CategoricalField] = {field.name: field for field in INPUT_FIELDS}
NUMERIC_INPUTS: tuple[str, ...] = tuple(f.name for f in INPUT_FIELDS if isinstance(f, NumericField))
CATEGORICAL_INPUTS: tuple[str, ...] = tuple(f.name for f in INPUT_FIELDS if isinstance(f, CategoricalField))

# Computed by the product from the inputs (scoring.features), never typed.
DERIVED_NAMES: tuple[str, ...] = ("loan_percent_income", "interest_burden")

# The columns the model sees, in this order.
MODEL_FEATURES: tuple[str, ...] = INPUT_NAMES + DERIVED_NAMES

TARGET = "loan_status"


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got a boolean")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{name}: {value[:40]!r} is not a number") from None
    else:
        try:
            number = float(value)  # numpy scalars
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number, got {type(value).__name__}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be a finite number")
    return number


def check_numeric(field: NumericField, value: Any) -> float | None:
    """Return ``value`` as a float within ``field``'s range, or raise ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if field.nullable:
            return None
        raise ValueError(f"{field.name}: this field is required")
    number = _as_float(field.name, value)
    if field.integer and not number.is_integer():
        raise ValueError(f"{field.name}: must be a whole number")
    too_low = number <= field.min_value if field.min_exclusive else number < field.min_value
    if too_low:
        bound = "above" if field.min_exclusive else "at least"
        raise ValueError(f"{field.name}: must be {bound} {field.min_value:g}")
    if number > field.max_value:
        raise ValueError(f"{field.name}: must be at most {field.max_value:g}")
    return number


def check_categorical(field: CategoricalField, value: Any) -> str:
    if not isinstance(value, str) or value not in field.values:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{field.name}: {shown!r} is not one of {', '.join(field.values)}")
    return value


def cross_field_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Rules that involve more than one input, keyed by the field to blame."""
    errors: dict[str, str] = {}
    age = values.get("person_age")
    if age is None:
        return errors
    working_years = age - EARLIEST_WORKING_AGE
    for name, what in (("person_emp_length", "Employment"), ("cb_person_cred_hist_length", "Credit history")):
        years = values.get(name)
        if years is not None and years > working_years:
            errors[name] = (
                f"{what} of {years:g} years is longer than an applicant aged {age:g} "
                f"could have had (at most {working_years:g} years, counting from age {EARLIEST_WORKING_AGE})."
            )
    return errors


def validate_inputs(inputs: Mapping[str, Any]) -> dict[str, float | str | None]:
    """Check every input against the schema and return clean values.

    Raises ``ValueError`` naming the first offending field. Numbers come back
    as floats (``None`` for an allowed blank), categories as their code.
    """
    clean: dict[str, float | str | None] = {}
    for field in INPUT_FIELDS:
        if field.name not in inputs:
            raise ValueError(f"{field.name}: this field is missing")
        value = inputs[field.name]
        if isinstance(field, NumericField):
            clean[field.name] = check_numeric(field, value)
        else:
            clean[field.name] = check_categorical(field, value)
    for name, message in cross_field_errors(clean).items():
        raise ValueError(f"{name}: {message}")
    return clean


def frame_rejections(frame) -> pd.Series:  # noqa: F821 - pandas is imported where frames are built
    """Vectorised ``validate_inputs`` for a whole table of rows.

    Returns a Series aligned with ``frame`` holding, for each row the schema
    refuses, the first reason (``"<field>: ..."``), and ``None`` for rows it
    accepts. Used to clean training data and to count rejected rows when a
    labelled file is evaluated, with the same rules as single applications.
    """
    import numpy as np
    import pandas as pd

    reasons = pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def blame(mask, message):
        mask = mask & reasons.isna()
        reasons[mask] = message

    for field in INPUT_FIELDS:
        if field.name not in frame.columns:
            blame(pd.Series(True, index=frame.index), f"{field.name}: this field is missing")
            continue
        column = frame[field.name]
        if isinstance(field, CategoricalField):
            blame(~column.isin(field.values), f"{field.name}: not one of {', '.join(field.values)}")
            continue
        if pd.api.types.is_numeric_dtype(column):
            numbers = column.astype("float64")
            blank = numbers.isna()
        else:
            numbers = pd.to_numeric(column, errors="coerce").astype("float64")
            blank = column.isna() | column.astype(str).str.strip().eq("")
        blame(~blank & numbers.isna(), f"{field.name}: not a number")
        if not field.nullable:
            blame(blank, f"{field.name}: this field is required")
        present = numbers.notna()
        blame(present & ~np.isfinite(numbers.fillna(0)), f"{field.name}: must be a finite number")
        if field.integer:
            blame(present & (numbers != np.floor(numbers)), f"{field.name}: must be a whole number")
        low = numbers <= field.min_value if field.min_exclusive else numbers < field.min_value
        blame(present & low, f"{field.name}: below the allowed range")
        blame(present & (numbers > field.max_value), f"{field.name}: above the allowed range")
    if {"person_age", "person_emp_length", "cb_person_cred_hist_length"} <= set(frame.columns):
        age = pd.to_numeric(frame["person_age"], errors="coerce")
        for name in ("person_emp_length", "cb_person_cred_hist_length"):
            years = pd.to_numeric(frame[name], errors="coerce")
            blame(years > age - EARLIEST_WORKING_AGE, f"{name}: longer than the applicant could have worked")
    return reasons
