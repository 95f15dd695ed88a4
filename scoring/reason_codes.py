"""The adverse-action reason codes: a fixed, versioned table.

Each model column belongs to exactly one code; a code's contribution is the
sum of its columns' contributions. Statements follow the principal reasons
of Regulation B's sample notices (12 CFR 1002, Appendix C, Form C-1); the
last three name the loan's own terms, which Form C-1 leaves to "Other,
specify". Changing a statement or a grouping means a new table version:
stored reasons keep the version they were given under (in the model's
manifest), so an old decision never reads differently later.

Age has no code: it is not a model input, and a reason may never cite it.
"""

from __future__ import annotations

from dataclasses import dataclass

REASON_CODE_TABLE_VERSION = "RC-2026-12-1"


@dataclass(frozen=True)
class ReasonCode:
    code: str
    statement: str
    columns: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"code": self.code, "statement": self.statement, "features": list(self.columns)}


REASON_CODES: tuple[ReasonCode, ...] = (
    ReasonCode(
        "R01",
        "Income insufficient for amount of credit requested",
        ("loan_percent_income", "loan_amnt", "person_income"),
    ),
    ReasonCode("R02", "Excessive obligations in relation to income", ("interest_burden",)),
    ReasonCode("R03", "Delinquent past or present credit obligations with others", ("cb_person_default_on_file",)),
    ReasonCode("R04", "Limited length of credit history", ("cb_person_cred_hist_length",)),
    ReasonCode("R05", "Length of employment", ("person_emp_length",)),
    ReasonCode("R06", "Credit grade and interest rate of the loan requested", ("loan_grade", "loan_int_rate")),
    ReasonCode("R07", "Purpose of the loan requested", ("loan_intent",)),
    ReasonCode("R08", "Housing status", ("person_home_ownership",)),
)

CODE_OF_COLUMN: dict[str, ReasonCode] = {column: code for code in REASON_CODES for column in code.columns}

# Never a reason, whatever a model's columns: Regulation B forbids age as a
# reason for adverse action (and issue 12 keeps it out of the model).
NEVER_A_REASON = frozenset({"person_age"})


def reason_code_table() -> dict:
    """The table as recorded in a model's manifest."""
    return {"version": REASON_CODE_TABLE_VERSION, "codes": [code.as_dict() for code in REASON_CODES]}
