"""Accessibility and small screens, in Chromium, for every role (issue #13, points 10 and 13).

Every page each role can reach is checked with axe-core (vendored, see
``vendor/README.md``) at 1280 px and at 390 px (a phone): no serious or
critical finding, and at 390 px no sideways scrolling. Django's own admin
pages are left out: their markup is Django's, not ours.
"""

from __future__ import annotations

from pprint import pformat
from typing import Any

import pytest

from accounts import roles
from monitoring.services import refresh_aggregates
from tests.e2e.support import BROWSER_MARKS, axe_violations, fill_application_form, horizontal_overflow, sign_in
from tests.support.factories import UserFactory, application_form_data, review_case, scored_application
from tests.support.reviews import decide_by_review

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]

WIDTHS = (1280, 390)
PHONE_WIDTH = 390
MONITORING = [
    "/monitoring/",
    "/monitoring/drift/",
    "/monitoring/outcomes/",
    "/monitoring/fairness/",
    "/governance/models/",
    "/governance/cutoffs/?approve_below=0.2&decline_from=0.6",
]


def _pages_for(role: str | None, *, application_id: int, case_id: int, open_case_id: int) -> list[str]:
    """The pages ``role`` can reach (as the navigation and the detail page link them)."""
    detail = f"/applications/{application_id}/"
    cases = ["/reviews/", f"/reviews/{application_id}/", f"/reviews/{case_id}/", f"/reviews/{open_case_id}/"]
    if role is None:
        return ["/accounts/login/"]
    pages = {
        roles.OFFICER: ["/applications/new/", "/applications/", detail, "/applications/999999/"],
        roles.REVIEWER: ["/applications/new/", "/applications/", detail, *cases, *MONITORING],
        roles.AUDITOR: ["/audit/", "/audit/access/", "/applications/", detail, *MONITORING, "/governance/challenger/"],
        roles.ADMIN: [
            "/applications/new/",
            "/applications/",
            detail,
            *cases,
            "/audit/",
            "/audit/access/",
            *MONITORING,
            "/monitoring/outcomes/import/",
            "/governance/challenger/",
        ],
    }
    return pages[role]


def _findings(page: Any, url: str) -> dict[str, Any]:
    """What is wrong with ``url`` at each width: axe findings, and sideways scrolling on a phone."""
    problems: dict[str, Any] = {}
    page.goto(url)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"axe at {width}px"] = violations
        if width == PHONE_WIDTH and (overflow := horizontal_overflow(page)) > 0:
            problems[f"scrolls sideways at {width}px"] = f"{overflow}px wider than the window"
    return problems


@pytest.fixture
def workbench_data(db):
    """An officer's applications: one decided in review (every table and record has rows), one the model
    approved (its case page shows the override form), one in the queue (its case page offers a claim)."""
    officer = UserFactory(role=roles.OFFICER, username="a11y-officer")
    application = scored_application(officer, applicant_reference="A11Y-REFERENCE-0001", loan_amnt="91800")
    # An income within the model's training range: 900,000 would be referred by the guard (#15.4).
    model_final = scored_application(officer, applicant_reference="A11Y-REFERENCE-0002", person_income="150000")
    assert model_final.case_state == "MODEL_FINAL"
    queued = review_case(officer, applicant_reference="A11Y-REFERENCE-0003")
    reviewer = UserFactory(role=roles.REVIEWER, username="a11y-reviewer")
    decide_by_review(
        application,
        "DECLINE" if application.final_decision != "DECLINE" else "REFER",
        reviewer=reviewer,
        explanation="Checked the payslips: income is seasonal and the last quarter was far lower than declared.",
    )
    refresh_aggregates()  # the monitoring pages draw their charts from these
    return {
        "case": model_final,
        "open_case": queued,
        roles.OFFICER: officer,
        roles.REVIEWER: reviewer,
        roles.AUDITOR: UserFactory(role=roles.AUDITOR, username="a11y-auditor"),
        roles.ADMIN: UserFactory(role=roles.ADMIN, username="a11y-admin"),
        "application": application,
    }


@pytest.mark.parametrize("role", [None, roles.OFFICER, roles.REVIEWER, roles.AUDITOR, roles.ADMIN])
def test_every_page_passes_axe_and_fits_a_phone(page, live_server, workbench_data, role):
    if role is not None:
        sign_in(page, live_server.url, workbench_data[role].username)
    problems = {}
    for path in _pages_for(
        role,
        application_id=workbench_data["application"].pk,
        case_id=workbench_data["case"].pk,
        open_case_id=workbench_data["open_case"].pk,
    ):
        if found := _findings(page, f"{live_server.url}{path}"):
            problems[path] = found
    assert problems == {}, pformat(problems, width=140)


def test_forms_with_errors_pass_axe_and_fit_a_phone(page, live_server, workbench_data):
    problems = {}
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "nobody-at-all")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector(".error-summary")
    assert page.evaluate("() => document.activeElement.classList.contains('error-summary')")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"failed sign-in at {width}px"] = violations
    if (overflow := horizontal_overflow(page)) > 0:
        problems["failed sign-in scrolls sideways at 390px"] = overflow

    sign_in(page, live_server.url, workbench_data[roles.REVIEWER].username)
    page.goto(f"{live_server.url}/applications/new/")
    page.click("#submit-application")
    page.wait_for_selector(".error-summary")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"new application with errors at {width}px"] = violations
    if (overflow := horizontal_overflow(page)) > 0:
        problems["new application with errors scrolls sideways at 390px"] = overflow
    page.goto(f"{live_server.url}/reviews/{workbench_data['case'].pk}/")
    page.click("[data-testid=decision-form] button[type=submit]")
    page.wait_for_selector(".has-error")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"case decision with errors at {width}px"] = violations
    if (overflow := horizontal_overflow(page)) > 0:
        problems["case decision with errors scrolls sideways at 390px"] = overflow
    # The confirmation step.
    page.check("input[name=decision][value=DECLINE]")
    page.select_option("#id_reason_code", "DEC-POLICY")
    page.fill("#id_explanation", "Outside policy for this purpose and amount.")
    page.click("[data-testid=decision-form] button[type=submit]")
    page.wait_for_selector("[data-testid=confirm-panel]")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"case confirmation at {width}px"] = violations
    if (overflow := horizontal_overflow(page)) > 0:
        problems["case confirmation scrolls sideways at 390px"] = overflow
    assert problems == {}, pformat(problems, width=140)


def test_after_a_failed_submit_focus_is_on_the_error_summary_which_links_each_field(page, live_server):
    UserFactory(role=roles.OFFICER, username="a11y-focus")
    sign_in(page, live_server.url, "a11y-focus")
    fill_application_form(page, application_form_data(person_income="0", loan_amnt="50.000"))
    page.click("#submit-application")
    page.wait_for_selector(".error-summary")
    assert page.evaluate("() => document.activeElement.classList.contains('error-summary')")
    links = page.locator(".error-summary a")
    assert links.count() == 2
    assert [links.nth(i).get_attribute("href") for i in range(2)] == ["#id_person_income", "#id_loan_amnt"]
    links.nth(0).click()
    assert page.evaluate("() => document.activeElement.id") == "id_person_income"
    # The field's help and error are read out with it: every id it points at exists.
    described_by = page.get_attribute("#id_person_income", "aria-describedby").split()
    texts = [page.text_content(f"#{target}").strip() for target in described_by]
    assert "Must be above 0." in texts
    assert page.get_attribute("#id_person_income", "aria-invalid") == "true"
