"""score_application refuses anything outside the schema, naming the field."""

import pytest

from scoring.services import score_application
from tests.support.scoring import good_application

BAD = [
    ("person_age", None, "required"),
    ("person_age", 17, "at least 18"),
    ("person_age", 101, "at most 100"),
    ("person_age", 30.5, "whole number"),
    ("person_income", 0, "above 0"),
    ("person_income", -5000, "above 0"),
    ("person_income", float("nan"), "finite"),
    ("person_income", float("inf"), "finite"),
    ("person_income", "1e309", "finite"),
    ("person_income", "lots", "not a number"),
    ("person_income", True, "boolean"),
    ("person_income", [1], "expected a number"),
    ("loan_amnt", 0, "above 0"),
    ("loan_amnt", 5_000_000, "at most"),
    ("loan_int_rate", 0, "above 0"),
    ("loan_int_rate", 100.01, "at most 100"),
    ("loan_int_rate", "nan", "finite"),
    ("loan_grade", "Z", "not one of"),
    ("loan_grade", "d", "not one of"),
    ("person_home_ownership", None, "not one of"),
    ("loan_intent", "HOLIDAY", "not one of"),
    ("cb_person_default_on_file", "maybe", "not one of"),
    ("person_emp_length", 9, "longer than"),  # aged 22: at most 8 years since 14
    ("cb_person_cred_hist_length", 9, "longer than"),
]


@pytest.mark.parametrize("field,value,message", BAD)
def test_bad_value_is_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError) as error:
        score_application(good_application(**{field: value}))
    assert str(error.value).startswith(f"{field}:")
    assert message in str(error.value)


@pytest.mark.parametrize("field", ["person_age", "loan_grade", "loan_int_rate", "person_emp_length"])
def test_missing_field_is_refused(field):
    inputs = good_application()
    del inputs[field]
    with pytest.raises(ValueError, match=f"^{field}: this field is missing"):
        score_application(inputs)


def test_numbers_as_text_and_decimals_are_accepted():
    from decimal import Decimal

    as_text = score_application(good_application(person_income="59000", loan_int_rate="16.02"))
    as_numbers = score_application(good_application())
    as_decimal = score_application(good_application(person_income=Decimal("59000"), loan_int_rate=Decimal("16.02")))
    assert as_text.probability_of_default == as_numbers.probability_of_default == as_decimal.probability_of_default
