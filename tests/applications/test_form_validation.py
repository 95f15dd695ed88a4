"""Bad input on /applications/new/: the form comes back with a message beside
the field, nothing is stored, and nothing ever answers 500."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from scoring.schema import INPUT_NAMES
from tests.support.factories import PASSWORD, UserFactory, application_form_data

pytestmark = pytest.mark.django_db

URL = "/applications/new/"
REQUIRED = "This field is required."
NOT_A_NUMBER = (
    "Enter digits only, with a point for any decimals, without thousands separators: for fifty thousand, type 50000."
)
NOT_A_WHOLE_NUMBER = "Enter a whole number, digits only (for example 35)."

BAD_INPUT = [
    # (field, value, expected message beside that field)
    # text where a number belongs
    ("person_age", "thirty", NOT_A_WHOLE_NUMBER),
    ("person_income", "a lot", NOT_A_NUMBER),
    ("loan_amnt", "12,000 EUR", NOT_A_NUMBER),
    ("loan_int_rate", "ten", NOT_A_NUMBER),
    ("person_emp_length", "six", NOT_A_NUMBER),
    ("cb_person_cred_hist_length", "seven", NOT_A_WHOLE_NUMBER),
    # NaN, inf, 1e309
    ("person_income", "NaN", NOT_A_NUMBER),
    ("person_income", "inf", NOT_A_NUMBER),
    ("person_income", "-Infinity", NOT_A_NUMBER),
    ("loan_amnt", "nan", NOT_A_NUMBER),
    ("loan_int_rate", "inf", NOT_A_NUMBER),
    ("person_age", "NaN", NOT_A_WHOLE_NUMBER),
    ("person_age", "inf", NOT_A_WHOLE_NUMBER),
    ("person_age", "1e309", NOT_A_WHOLE_NUMBER),
    ("person_income", "1e309", "Must be at most 10,000,000."),
    ("loan_amnt", "1e309", "Must be at most 1,000,000."),
    ("loan_int_rate", "1e309", "Must be at most 100%."),
    ("person_emp_length", "1e309", "Must be at most 86 years."),
    # zero or negative income
    ("person_income", "0", "Must be above 0."),
    ("person_income", "-52000", "Must be above 0."),
    # age under 18 or over 100, or not whole
    ("person_age", "17", "Must be at least 18 years."),
    ("person_age", "0", "Must be at least 18 years."),
    ("person_age", "-40", "Must be at least 18 years."),
    ("person_age", "101", "Must be at most 100 years."),
    ("person_age", "31.5", NOT_A_WHOLE_NUMBER),
    # zero, negative or absurd loan amounts
    ("loan_amnt", "0", "Must be above 0."),
    ("loan_amnt", "-100", "Must be above 0."),
    ("loan_amnt", "1000000.01", "Must be at most 1,000,000."),
    ("loan_amnt", "99999999999", "Must be at most 1,000,000."),
    # interest rate outside (0, 100]
    ("loan_int_rate", "0", "Must be above 0%."),
    ("loan_int_rate", "-1", "Must be above 0%."),
    ("loan_int_rate", "100.01", "Must be at most 100%."),
    ("loan_int_rate", "250", "Must be at most 100%."),
    # negative durations
    ("person_emp_length", "-1", "Must be at least 0 years."),
    ("cb_person_cred_hist_length", "-2", "Must be at least 0 years."),
    # a category not in the schema (case matters: codes are exact)
    ("person_home_ownership", "CASTLE", "Select a valid choice. CASTLE is not one of the available choices."),
    ("person_home_ownership", "rent", "Select a valid choice. rent is not one of the available choices."),
    ("loan_intent", "GAMBLING", "Select a valid choice. GAMBLING is not one of the available choices."),
    ("loan_grade", "Z", "Select a valid choice. Z is not one of the available choices."),
    ("cb_person_default_on_file", "maybe", "Select a valid choice. maybe is not one of the available choices."),
    # NUL characters and 10,000 characters
    ("applicant_reference", "REF\x00001", "Null characters are not allowed."),
    ("applicant_reference", "R" * 10_000, "Ensure this value has at most 64 characters (it has 10000)."),
    ("loan_grade", "B\x00", "Select a valid choice. B\x00 is not one of the available choices."),
    ("person_income", "5\x002000", NOT_A_NUMBER),
    ("person_age", "3" * 10_000, NOT_A_WHOLE_NUMBER),
    ("loan_intent", "E" * 10_000, "Select a valid choice. " + "E" * 10_000 + " is not one of the available choices."),
    # too many decimals for the stored precision
    (
        "person_emp_length",
        "6.55",
        "Enter at most 1 digit after the decimal point, without thousands separators: for fifty thousand, type 50000.",
    ),
]


def _field_errors(response, field):
    assert response.status_code == 200, response
    form = response.context["form"]
    return form.errors.get(field, [])


@pytest.mark.parametrize(("field", "value", "message"), BAD_INPUT, ids=lambda v: repr(v)[:30])
def test_bad_value_is_refused_beside_the_field(officer_client, field, value, message):
    response = officer_client.post(URL, application_form_data(**{field: value}))
    assert _field_errors(response, field) == [message]
    # Beside the field on the page, not only in the context.
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize(
    ("reference", "named"),
    [
        ("REF-\u202e1-FER", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("REF\u200b-1", "U+200B (ZERO WIDTH SPACE)"),
        ("REF-\u2066-1", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ("REF\u3164-1", "U+3164 (HANGUL FILLER)"),
        ("REF\u00a01", "U+00A0 (NO-BREAK SPACE)"),
        ("REF\t1", "U+0009"),
        ("REF\ue000", "U+E000"),
    ],
    ids=lambda v: repr(v)[:16],
)
def test_invisible_characters_in_a_reference_are_refused_with_a_message(officer_client, reference, named):
    response = officer_client.post(URL, application_form_data(applicant_reference=reference))
    errors = _field_errors(response, "applicant_reference")
    assert len(errors) == 1 and named in errors[0] and "invisible or control character" in errors[0]
    assert LoanApplication.objects.count() == 0


def test_ordinary_references_with_spaces_and_accents_are_accepted(officer_client):
    response = officer_client.post(URL, application_form_data(applicant_reference="Müller 2026/17-A"))
    assert response.status_code == 303
    assert LoanApplication.objects.get().applicant_reference == "Müller 2026/17-A"


@pytest.mark.parametrize("field", INPUT_NAMES)
def test_blank_field_is_required(officer_client, field):
    response = officer_client.post(URL, application_form_data(**{field: ""}))
    assert _field_errors(response, field) == [REQUIRED]
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize("field", INPUT_NAMES)
def test_whitespace_only_field_is_required(officer_client, field):
    response = officer_client.post(URL, application_form_data(**{field: "   "}))
    assert _field_errors(response, field)
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize("field", INPUT_NAMES)
def test_missing_field_is_required(officer_client, field):
    data = application_form_data()
    del data[field]
    response = officer_client.post(URL, data)
    assert _field_errors(response, field) == [REQUIRED]
    assert LoanApplication.objects.count() == 0


def test_empty_post_marks_every_field(officer_client):
    response = officer_client.post(URL, {})
    form = response.context["form"]
    assert set(form.errors) == set(INPUT_NAMES)
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "age", "years", "message"),
    [
        (
            "person_emp_length",
            "25",
            "12",
            "Employment of 12 years is longer than an applicant aged 25 could have had "
            "(at most 11 years, counting from age 14).",
        ),
        (
            "cb_person_cred_hist_length",
            "20",
            "7",
            "Credit history of 7 years is longer than an applicant aged 20 could "
            "have had (at most 6 years, counting from age 14).",
        ),
    ],
)
def test_history_longer_than_adult_life_is_refused(officer_client, field, age, years, message):
    response = officer_client.post(URL, application_form_data(person_age=age, **{field: years}))
    assert _field_errors(response, field) == [message]
    assert LoanApplication.objects.count() == 0


def test_refused_form_keeps_what_was_typed(officer_client):
    response = officer_client.post(URL, application_form_data(person_age="17", applicant_reference="KEEP-ME"))
    html = response.content.decode()
    assert 'value="KEEP-ME"' in html
    assert 'value="52000"' in html


def test_post_without_csrf_token_is_refused(officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    response = client.post(URL, application_form_data())
    assert response.status_code == 403
    assert LoanApplication.objects.count() == 0


def test_post_with_csrf_token_is_accepted(officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    response = client.post(URL, {**application_form_data(), "csrfmiddlewaretoken": token})
    assert response.status_code in (302, 303)
    assert LoanApplication.objects.count() == 1


def test_anonymous_post_is_sent_to_login(client, db):
    response = client.post(URL, application_form_data())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/applications/new/")
    assert LoanApplication.objects.count() == 0


def test_anonymous_get_is_sent_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_login_page_signs_in_and_lands_on_the_form(client, db):
    UserFactory(role="officer", username="olga")
    response = client.post("/accounts/login/", {"username": "olga", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/applications/new/"
    assert "New loan application" in response.content.decode()


def test_the_officers_form_validates_each_input_once_and_applies_the_cross_field_rule():
    """The page's form is not a ModelForm: the model's validators are not run a second time."""
    with mock.patch.object(LoanApplication, "full_clean") as model_validation:
        good = LoanApplicationForm(data=application_form_data())
        assert good.is_valid(), good.errors
    model_validation.assert_not_called()

    too_long = LoanApplicationForm(data=application_form_data(person_age="20", person_emp_length="10"))
    assert not too_long.is_valid()
    assert "longer than an applicant aged 20" in too_long.errors["person_emp_length"][0]
