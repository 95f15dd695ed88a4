"""The officer's pages: the form, the redirect after submit, the application page."""

from __future__ import annotations

import re

import pytest

from applications.formatting import reason_text, unit_label
from applications.models import LoanApplication
from scoring.schema import INPUT_FIELDS, NumericField
from scoring.services import score_application
from tests.support.factories import application_form_data, scored_application, scoring_inputs

pytestmark = pytest.mark.django_db


def test_root_sends_a_signed_in_officer_to_the_form(officer_client):
    response = officer_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/applications/new/"


def test_root_sends_anonymous_users_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_form_shows_every_input_with_unit_and_help(officer_client):
    html = officer_client.get("/applications/new/").content.decode()
    for field in INPUT_FIELDS:
        assert f'name="{field.name}"' in html
        assert field.label in html
        assert field.help_text.replace("'", "&#x27;") in html
        if isinstance(field, NumericField) and (field.unit or field.money):
            assert f'<span class="unit">{unit_label(field)}</span>' in html
    # Derived features are shown, never typed.
    assert 'id="loan_percent_income"' in html and 'name="loan_percent_income"' not in html
    assert 'id="interest_burden"' in html and 'name="interest_burden"' not in html
    assert re.search(r'name="idempotency_key" value="[A-Za-z0-9_-]{20,}"', html)
    assert "js/derived.js" in html


def test_each_rendering_gets_a_new_idempotency_token(officer_client):
    pattern = r'name="idempotency_key" value="([^"]+)"'
    first = re.search(pattern, officer_client.get("/applications/new/").content.decode()).group(1)
    second = re.search(pattern, officer_client.get("/applications/new/").content.decode()).group(1)
    assert first != second


def test_form_pages_are_never_cached_so_back_fetches_a_fresh_token(officer_client):
    for response in (
        officer_client.get("/applications/new/"),
        officer_client.post("/applications/new/", application_form_data(person_age="17")),
    ):
        assert response.status_code == 200
        directives = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"no-cache", "no-store", "must-revalidate", "private", "max-age=0"} <= directives
        assert "Expires" in response
    assert LoanApplication.objects.count() == 0


def test_submit_redirects_to_the_application_page(officer_client):
    response = officer_client.post("/applications/new/", application_form_data(applicant_reference="A-17"))
    application = LoanApplication.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/applications/{application.pk}/"


def test_double_submit_of_one_form_stores_one_application(officer_client):
    data = {**application_form_data(), "idempotency_key": "tok-double-click-123"}
    first = officer_client.post("/applications/new/", data)
    second = officer_client.post("/applications/new/", data)
    assert LoanApplication.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_application_page_shows_the_decision_at_a_glance(officer_client):
    data = application_form_data(applicant_reference="GLANCE-1")
    officer_client.post("/applications/new/", data)
    application = LoanApplication.objects.get()
    expected = score_application(scoring_inputs(data))

    html = officer_client.get(f"/applications/{application.pk}/").content.decode()
    assert f'data-testid="decision">{expected.decision}<' in html
    # The band and its cut-offs, not a SAFE/RISKY badge (issue 14, point 8); the row matches its record.
    assert 'data-testid="band">Model: APPROVE: probability of default below 10%<' in html
    assert "risk-label" not in html and ">SAFE<" not in html
    assert "Verified: matches its audit record" in html
    assert f"decision-{expected.decision.lower()}" in html
    assert f"{expected.probability_of_default * 100:.2f}%" in html
    assert f"{expected.interest_burden * 100:.2f}%" in html
    assert expected.model_version in html
    assert officer_client.user.username in html
    assert "GLANCE-1" in html
    assert " UTC" in html
    for reason in expected.reasons:
        # As stored, except that amounts are shown in the bank's currency.
        assert reason_text(reason.as_dict(), scoring_inputs(data)) in html
    # The inputs as entered, labelled and with units from the schema.
    assert "<dt>Interest rate</dt><dd>11.25% per year</dd>" in html
    assert "<dt>Home ownership</dt><dd>Rent</dd>" in html
    assert "<dt>Employment length</dt><dd>6.5 years</dd>" in html


def test_unknown_application_is_404(officer_client):
    assert officer_client.get("/applications/999999/").status_code == 404


@pytest.mark.parametrize("page", ["/applications/{pk}/", "/reviews/{pk}/"])
def test_another_officers_application_answers_exactly_like_a_missing_one(officer_client, page):
    from audit.models import AccessEvent

    others = scored_application()
    missing = LoanApplication.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    hidden = officer_client.get(page.format(pk=others.pk))
    absent = officer_client.get(page.format(pk=missing))
    assert hidden.status_code == absent.status_code == 404
    # Byte for byte, but for the per-response masking of the sign-out form's CSRF token.
    unmasked = [re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", r.content) for r in (hidden, absent)]
    assert unmasked[0] == unmasked[1]
    # The refusal is still logged for the auditors.
    denied = AccessEvent.objects.filter(action="permission_denied", username=officer_client.user.username)
    assert denied.filter(target__endswith=f"application:{others.pk}").exists()


def test_form_page_reshows_derived_values_after_an_error(officer_client):
    response = officer_client.post("/applications/new/", application_form_data(person_age="17"))
    html = response.content.decode()
    # 12000 / 52000 and 12000 * 0.1125 / 52000
    assert "23.08%" in html and "2.60%" in html


def test_logout_is_post_only(officer_client):
    assert officer_client.get("/accounts/logout/").status_code == 405
    response = officer_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert officer_client.get("/applications/new/").status_code == 302


def test_nav_shows_user_and_role(officer_client):
    html = officer_client.get("/applications/new/").content.decode()
    assert f'data-testid="nav-user">{officer_client.user.username}<' in html
    assert 'data-testid="nav-role">officer<' in html
