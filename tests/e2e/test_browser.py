"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
log in, fill the form, submit, see the decision, find it in the history and in admin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts import roles
from applications.models import LoanApplication
from scoring.services import score_application
from tests.support.factories import PASSWORD, UserFactory, application_form_data, scoring_inputs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data, so these tests run in a transactional
    # database (flushed afterwards; tests.builders recreates the role groups).
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def live_server():
    """pytest-django's live server, over plain HTTP on loopback.

    Production settings (DEBUG off) redirect to HTTPS and mark cookies
    Secure; the test server speaks only HTTP. The security middleware reads
    those settings when the server starts, so they are relaxed here, for
    this module's server only, rather than for the whole suite.
    """
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    with override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False, SECURE_HSTS_SECONDS=0
    ):
        server = LiveServer("localhost")
        yield server
        server.stop()


@pytest.fixture
def page():
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between page actions are plain synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        browser.close()


def test_officer_journey_from_login_to_admin(page, live_server):
    UserFactory(role=roles.ADMIN, username="browser-admin")
    data = application_form_data(applicant_reference="BROWSER-0001")

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "browser-admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/applications/new/")
    assert page.text_content("[data-testid=nav-role]").strip() == "admin"

    for name, value in data.items():
        selector = f"[name={name}]"
        if page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    # Derived features computed live in the page, never typed.
    assert page.text_content("#loan_percent_income").strip() == "23.08%"
    assert page.text_content("#interest_burden").strip() == "2.60%"

    page.click("#submit-application")
    page.wait_for_url("**/applications/*/")
    application = LoanApplication.objects.get(applicant_reference="BROWSER-0001")
    expected = score_application(scoring_inputs(data))
    assert application.probability_of_default == expected.probability_of_default
    assert page.text_content("[data-testid=decision]").strip() == expected.decision
    assert page.text_content("[data-testid=risk-label]").strip() == expected.risk_label
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
    for name, value in application_form_data(person_income="0").items():
        selector = f"[name={name}]"
        if page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#submit-application")
    page.wait_for_selector("#person_income-errors")
    assert page.text_content("#person_income-errors").strip() == "Must be above 0."
    assert LoanApplication.objects.count() == 0
