"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
log in, fill the form, submit, see the decision, find it in the history and in admin."""

from __future__ import annotations

import pytest

from accounts import roles
from applications.models import LoanApplication
from scoring.services import score_application
from tests.e2e.support import BROWSER_MARKS, fill_application_form
from tests.support.factories import PASSWORD, UserFactory, application_form_data, scoring_inputs

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]


def test_officer_journey_from_login_to_admin(page, live_server):
    UserFactory(role=roles.ADMIN, username="browser-admin")
    data = application_form_data(applicant_reference="BROWSER-0001")

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "browser-admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/reviews/")  # an admin lands on the review queue
    assert page.text_content("[data-testid=nav-role]").strip() == "admin"
    page.goto(f"{live_server.url}/applications/new/")

    fill_application_form(page, data)
    # Derived features computed live in the page, never typed.
    assert page.text_content("#loan_percent_income").strip() == "23.08%"
    assert page.text_content("#interest_burden").strip() == "2.60%"

    page.click("#submit-application")
    page.wait_for_url("**/applications/*/")
    application = LoanApplication.objects.get(applicant_reference="BROWSER-0001")
    expected = score_application(scoring_inputs(data))
    assert application.probability_of_default == expected.probability_of_default
    assert page.text_content("[data-testid=decision]").strip() == expected.decision
    assert page.text_content("[data-testid=band]").strip().startswith(f"Model: {expected.decision}: probability")
    assert page.text_content("[data-testid=pd]").strip() == f"{expected.probability_of_default * 100:.2f}%"

    page.goto(f"{live_server.url}/applications/?q=BROWSER")
    rows = page.locator("[data-testid=history-row]")
    assert rows.count() == 1
    assert "BROWSER-0001" in rows.first.text_content()

    page.goto(f"{live_server.url}/admin/applications/loanapplication/?q=BROWSER-0001")
    assert "BROWSER-0001" in page.text_content("#result_list")
    page.click("#result_list a:has-text('BROWSER-0001')")
    page.wait_for_url(f"**/admin/applications/loanapplication/{application.pk}/change/**")
    page.wait_for_load_state("load")
    assert expected.model_version in page.text_content("#content")


def test_bad_input_is_shown_beside_the_field_in_the_browser(page, live_server):
    UserFactory(role=roles.OFFICER, username="browser-officer")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "browser-officer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/applications/new/")
    fill_application_form(page, application_form_data(person_income="0"))
    page.click("#submit-application")
    page.wait_for_selector("#id_person_income_error")
    assert page.text_content("#id_person_income_error").strip() == "Must be above 0."
    assert LoanApplication.objects.count() == 0
