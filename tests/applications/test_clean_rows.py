"""``clean_application_rows`` (a batch file's chunk, column by column) accepts and refuses exactly the
rows ``clean_application_data`` (the form's fields, one row at a time) does, with the same messages and
the same cleaned values, over a corpus of good and bad rows."""

from __future__ import annotations

import csv
from decimal import Decimal
from itertools import islice

import pytest

from applications.forms import clean_application_data, clean_application_rows
from scoring import schema
from tests.support.factories import application_form_data
from tests.support.scoring import require_shared_data

# Odd and bad cells tried in every field: blank, spaces, signs, exponents, separators, other digits,
# not finite, formula-like text, a NUL, a replacement character, invisible characters, a 10,000-character
# cell, too many digits or decimals, values that are not text at all (an API body).
ODD_CELLS = [
    "",
    " ",
    "   35 ",
    "35.0",
    "35.00",
    "035",
    "0",
    "0.0",
    "00.5",
    "+35",
    "-5",
    "-0",
    "1e3",
    "3_5",
    "\u0663\u0665",  # Arabic-Indic digits
    "３５",  # full-width digits
    "NaN",
    "inf",
    "-Infinity",
    "abc",
    "=1+2",
    "@SUM(A1)",
    "-2+3",
    '=HYPERLINK("x")',
    "1\x00",
    "\x00",
    "\ufffd",
    "REF\u202e1",
    "REF\u200b",
    "x" * 10_000,
    "9" * 10_000,
    "12.345",
    "12.3456789",
    "50,000",
    "50.000",
    "1 000",
    "99999999.99",
    "100000000",
    "10000000",
    "10000000.01",
    "0.001",
    "100",
    "100.01",
    "101",
    "17",
    "18",
    "86",
    "87",
    "RENT",
    "rent",
    " RENT",
    "OWN ",
    "A",
    "G",
    "H",
    "Y",
    "N",
    "EDUCATION",
    "REF-001",
    " REF-002 ",
    "x" * 64,
    "x" * 65,
    "a b",
    "tab\there",
    "é",
    35,
    35.5,
    Decimal("35"),
    True,
    None,
    ["35"],
]


def _corpus() -> list[dict]:
    rows = [application_form_data(), application_form_data(applicant_reference="REF-1")]
    names = [*schema.INPUT_NAMES, "applicant_reference"]
    for name in names:
        for cell in ODD_CELLS:
            rows.append(application_form_data(**{name: cell}))
        missing = application_form_data()
        del missing[name]
        rows.append(missing)
    # The rule spanning fields (employment and credit history against age) and several faults in one row.
    rows += [
        application_form_data(person_age="30", person_emp_length="25"),
        application_form_data(person_age="30", person_emp_length="16", cb_person_cred_hist_length="17"),
        application_form_data(person_age="x", person_emp_length="80"),
        application_form_data(person_age="200", loan_grade="Z", loan_amnt="", applicant_reference="=1"),
    ]
    return rows


def _comparable(result):
    cleaned, errors = result
    # Types and exact digits, not just equality (Decimal("35.0") == Decimal("35")).
    return ({name: (type(value).__name__, repr(value)) for name, value in cleaned.items()}, errors)


def test_the_columnar_validator_accepts_and_refuses_exactly_as_the_form_fields_do():
    corpus = _corpus()
    one_by_one = [_comparable(clean_application_data(row)) for row in corpus]
    at_once = [_comparable(result) for result in clean_application_rows(corpus)]
    for number, (expected, got) in enumerate(zip(one_by_one, at_once, strict=True)):
        assert got == expected, (number, corpus[number])
    accepted = sum(1 for _, errors in one_by_one if not errors)
    assert 100 < accepted < len(corpus) - 300
    # The messages are the form's own, naming the field.
    assert dict(clean_application_rows([application_form_data(loan_amnt="")])[0][1]) == {
        "loan_amnt": ["This field is required."]
    }
    ((cleaned, errors),) = clean_application_rows([application_form_data(person_age="101", loan_grade="Z")])
    assert errors == {
        "person_age": ["Must be at most 100 years."],
        "loan_grade": ["Select a valid choice. Z is not one of the available choices."],
    }
    assert "person_age" not in cleaned and cleaned["loan_amnt"] == Decimal("12000")


def test_the_shared_file_validates_the_same_row_for_row():
    path = require_shared_data()
    with path.open(newline="") as handle:
        rows = [
            {name: value for name, value in row.items() if name in schema.INPUT_NAMES}
            for row in islice(csv.DictReader(handle), 5000)
        ]
    expected = [_comparable(clean_application_data(row)) for row in rows]
    assert [_comparable(result) for result in clean_application_rows(rows)] == expected
    refused = [errors for _, errors in expected if errors]
    assert 0 < len(refused) < len(rows)
    assert clean_application_rows([]) == []


@pytest.mark.parametrize("cell", ["12", "12.5", "12.25"])
def test_a_plain_cell_keeps_its_exact_digits(cell):
    ((cleaned, errors),) = clean_application_rows([application_form_data(loan_int_rate=cell)])
    assert not errors and cleaned["loan_int_rate"] == Decimal(cell) and str(cleaned["loan_int_rate"]) == cell
