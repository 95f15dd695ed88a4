"""The review workflow end to end in Chromium (issue 14): officer -> reviewer -> second reviewer -> auditor.

An officer enters a REVIEW case and a case the model declines. The first reviewer lands on the
queue, claims the REVIEW case and approves it above their delegated limit, then overrides the
model's DECLINE to APPROVE: both wait for a second reviewer, which the first cannot be. The
second reviewer confirms both from the queue. The auditor lands on the audit page, finds the trail
intact and each application verified; after a row is edited in the database, the application page
shows the red flag with the recorded decision and the audit page links to it. Every new page is
checked with axe-core at 1280 px and 390 px, as the other browser tests do.
"""

from __future__ import annotations

from decimal import Decimal
from pprint import pformat
from typing import Any

import pytest
from django.db import connection

from accounts import roles
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import CaseRecord
from reviews.models import DelegatedLimit
from reviews.reason_codes import seed_reason_codes
from tests.e2e.support import (
    BROWSER_MARKS,
    axe_violations,
    fill_application_form,
    horizontal_overflow,
    sideways_scroll,
    sign_in,
)
from tests.support.factories import DECLINE_FIELDS, REVIEW_FIELDS, UserFactory, application_form_data

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]

WIDTHS = (1280, 390)


class Accessibility:
    """Collects axe-core findings and sideways scrolling for each page state looked at."""

    def __init__(self) -> None:
        self.problems: dict[str, Any] = {}

    def check(self, page: Any, label: str, *, every_width: bool = False) -> None:
        """axe at each width; sideways scrolling at 390 px, or at each width with ``every_width``."""
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            if violations := axe_violations(page):
                self.problems[f"{label} at {width}px"] = violations
            if every_width and (overflow := sideways_scroll(page)) > 0:
                self.problems[f"{label} scrolls sideways at {width}px"] = f"{overflow}px"
        if not every_width and (overflow := horizontal_overflow(page)) > 0:
            self.problems[f"{label} scrolls sideways at 390px"] = f"{overflow}px"
        page.set_viewport_size({"width": 1280, "height": 900})


def person(browser: Any, base_url: str, username: str) -> Any:
    """A signed-in page in a browser context of its own (each person has their own session)."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, base_url, username)
    return page


def enter(page: Any, base_url: str, data: dict[str, str]) -> None:
    page.goto(f"{base_url}/applications/new/")
    fill_application_form(page, data)
    page.click("#submit-application")
    page.wait_for_url("**/applications/*/")


def decide(page: Any, decision: str, code: str, explanation: str) -> None:
    page.check(f"input[name=decision][value={decision}]")
    page.select_option("#id_reason_code", code)
    page.fill("#id_explanation", explanation)
    page.click("[data-testid=decision-form] button[type=submit]")
    page.wait_for_selector("[data-testid=confirm-panel]")


def test_officer_reviewer_second_reviewer_auditor(browser, live_server):
    seed_reason_codes()  # the transactional test database was flushed
    base = live_server.url
    UserFactory(role=roles.OFFICER, username="e2e-officer")
    first = UserFactory(role=roles.REVIEWER, username="e2e-reviewer")
    UserFactory(role=roles.REVIEWER, username="e2e-second")
    UserFactory(role=roles.AUDITOR, username="e2e-auditor")
    DelegatedLimit.objects.create(user=first, approval_limit=Decimal("10000"))
    a11y = Accessibility()

    # --- The officer enters a REVIEW case and one the model declines ------------------------
    officer = person(browser, base, "e2e-officer")
    assert officer.url.endswith("/applications/new/")  # an officer's landing page
    enter(officer, base, application_form_data(applicant_reference="E2E-REVIEW", **REVIEW_FIELDS))
    assert officer.text_content("[data-testid=decision]").strip() == "REVIEW"
    assert "REVIEW: probability of default between 10% and 50%" in officer.text_content("[data-testid=band]")
    assert officer.locator(".risk-badge").count() == 0
    assert "In the review queue" in officer.text_content("[data-testid=case-state]")
    a11y.check(officer, "officer's REVIEW application")
    enter(officer, base, application_form_data(applicant_reference="E2E-DECLINE", **DECLINE_FIELDS))
    assert officer.text_content("[data-testid=decision]").strip() == "DECLINE"
    review_case = LoanApplication.objects.get(applicant_reference="E2E-REVIEW")
    declined = LoanApplication.objects.get(applicant_reference="E2E-DECLINE")

    # --- The first reviewer: queue, claim, approve above the limit, override a DECLINE -------
    reviewer = person(browser, base, "e2e-reviewer")
    assert reviewer.url.endswith("/reviews/")  # a reviewer's landing page
    assert reviewer.text_content("[data-testid=nav-queue-count]").strip() == "1"
    assert "E2E-REVIEW" in reviewer.text_content("[data-testid=queue-row]")
    a11y.check(reviewer, "review queue")
    reviewer.click(f"button[aria-label='Claim case {review_case.pk}']")
    reviewer.wait_for_url(f"**/reviews/{review_case.pk}/")
    assert "You hold this case" in reviewer.text_content(".messages")
    assert "Claimed by a reviewer: e2e-reviewer" in reviewer.text_content("[data-testid=case-state]")
    a11y.check(reviewer, "case page, claimed")
    reviewer.click("[data-testid=decision-form] button[type=submit]")  # nothing chosen
    reviewer.wait_for_selector(".error-summary")
    a11y.check(reviewer, "case page with errors")
    decide(reviewer, "APPROVE", "APP-INCOME", "Two years of payslips confirm the declared income.")
    panel = reviewer.text_content("[data-testid=four-eyes-note]")
    assert "needs a second reviewer" in panel and "above your delegated limit" in panel
    a11y.check(reviewer, "confirmation panel")
    reviewer.click("[data-testid=confirm-button]")
    reviewer.wait_for_selector(".message.success")
    assert "awaits a second reviewer" in reviewer.text_content(".messages")
    assert "you cannot confirm it yourself" in reviewer.text_content("[data-testid=case-note]")
    a11y.check(reviewer, "case page awaiting a second approval")

    reviewer.goto(f"{base}/applications/{declined.pk}/")
    reviewer.click("[data-testid=open-case]")
    reviewer.wait_for_url(f"**/reviews/{declined.pk}/")
    a11y.check(reviewer, "override page")
    decide(reviewer, "APPROVE", "APP-COLLAT", "A guarantor signed for the full amount and the term.")
    assert "the model declined" in reviewer.text_content("[data-testid=four-eyes-note]")
    reviewer.click("[data-testid=confirm-button]")
    reviewer.wait_for_selector(".message.success")
    declined.refresh_from_db()
    assert (declined.case_state, declined.final_decision) == (lifecycle.AWAITING_SECOND, "DECLINE")

    # --- The second reviewer confirms both from the queue ----------------------------------
    second = person(browser, base, "e2e-second")
    second.goto(f"{base}/reviews/?show=second")
    rows = second.locator("[data-testid=queue-row]")
    assert rows.count() == 2
    assert "Awaiting second approval: APPROVE proposed by e2e-reviewer" in rows.first.text_content()
    a11y.check(second, "queue filtered to second approvals")
    for case in (review_case, declined):
        second.goto(f"{base}/reviews/{case.pk}/")
        a11y.check(second, f"second approval form ({case.applicant_reference})")
        decide(second, "CONFIRM", "CNF-EVIDENCE", "I checked the evidence on file and agree.")
        second.click("[data-testid=confirm-button]")
        second.wait_for_selector(".message.success")
        assert "Final decision: APPROVE." in second.text_content(".messages")
        case.refresh_from_db()
        assert (case.case_state, case.final_decision) == (lifecycle.DECIDED, "APPROVE")
    assert CaseRecord.objects.count() == 5  # claim, proposal, proposal, two confirmations

    # --- The auditor: verifies from the audit page (a queued run), intact; then a row edited behind the product's back
    auditor = person(browser, base, "e2e-auditor")
    assert auditor.url.endswith("/audit/")  # an auditor's landing page
    assert auditor.text_content("[data-testid=verification-status]").strip().startswith("Not verified yet.")
    auditor.click("[data-testid=verify-incremental]")  # the test queue runs it before the redirect
    auditor.wait_for_url(f"{base}/audit/")
    status = " ".join(auditor.text_content("[data-testid=verification-status]").split())
    assert status.startswith("Intact. All 2 decision records") and status.endswith("no problems."), status
    assert auditor.locator("[data-testid=verification-table] tbody tr").count() == 6
    assert "\n" not in auditor.text_content("[data-testid=chain-row-decisions] th")
    a11y.check(auditor, "audit page, intact", every_width=True)
    auditor.goto(f"{base}/applications/{declined.pk}/")
    assert "Verified: matches its audit record" in auditor.text_content("[data-testid=integrity]")
    assert auditor.locator("[data-testid=case-row]").count() == 2
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE applications_loanapplication SET final_decision = 'DECLINE' WHERE id = %s", [review_case.pk]
        )
    auditor.goto(f"{base}/applications/{review_case.pk}/")
    flag = auditor.text_content("[data-testid=integrity]")
    assert "does not match its audit record" in flag
    assert auditor.text_content("[data-testid=recorded-decision]").strip() == "APPROVE"
    assert auditor.text_content("[data-testid=stored-decision]").strip() == "DECLINE"
    a11y.check(auditor, "application page with the integrity flag")
    auditor.goto(f"{base}/audit/")
    # An edited application row is found by a full verification (an incremental one compares only the
    # applications its new records touch).
    auditor.click("[data-testid=verify-full]")
    auditor.wait_for_url(f"{base}/audit/")
    assert "1 problem found" in auditor.text_content("[data-testid=verification-status]")
    auditor.click("[data-testid=application-problem-link]")
    auditor.wait_for_url(f"**/applications/{review_case.pk}/")
    auditor.goto(f"{base}/audit/")
    a11y.check(auditor, "audit page with a problem", every_width=True)
    assert a11y.problems == {}, pformat(a11y.problems, width=140)
