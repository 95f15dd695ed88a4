"""Issue 15 in the browser: a decline's notice printed to PDF, and the live what-if."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from accounts import roles
from applications.notices import statements_from_stored_reasons
from audit.models import AccessEvent, DecisionRecord
from scoring.services import score_application
from tests.e2e.support import BROWSER_MARKS, axe_violations, sign_in
from tests.support.factories import (
    DECLINED_FORM,
    UserFactory,
    application_form_data,
    scored_application,
    scoring_inputs,
)

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]


@pytest.fixture
def declined(db):
    officer = UserFactory(role=roles.OFFICER, username="notice-officer")
    return scored_application(officer, applicant_reference="APP-2001", **DECLINED_FORM)


def test_a_declines_notice_prints_to_pdf(page, live_server, declined):
    sign_in(page, live_server.url, "notice-officer")
    page.goto(f"{live_server.url}/applications/{declined.pk}/")
    page.click("[data-testid=notice-link]")
    page.wait_for_url(f"**/applications/{declined.pk}/notice/")
    assert axe_violations(page) == []
    page.emulate_media(media="print")
    assert not page.locator(".notice-tools").is_visible()  # only the letter goes on paper
    pdf = page.pdf(format="Letter", margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"})
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)
    record = DecisionRecord.objects.get(application=declined)
    statements = statements_from_stored_reasons(record.document["reasons"], record.features)
    assert "Notice of action taken" in text and "APP-2001" in text
    assert all(statement in text for statement in statements)
    assert "Equal Credit Opportunity Act" in text and "Fair Credit Reporting Act" in text
    assert AccessEvent.objects.filter(action=AccessEvent.ADVERSE_ACTION_NOTICE, user=declined.officer).exists()


def test_what_if_answers_live_on_the_application_page(page, live_server, declined):
    sign_in(page, live_server.url, "notice-officer")
    page.goto(f"{live_server.url}/applications/{declined.pk}/")
    page.locator("[data-testid=whatif-decision]").filter(has_text="DECLINE").wait_for()
    page.fill("#whatif-amount", "5000")
    expected = score_application({**scoring_inputs(application_form_data(**DECLINED_FORM)), "loan_amnt": 5000.0})
    page.locator("[data-testid=whatif-decision]").filter(has_text=expected.decision).wait_for()
    shown = page.locator("[data-testid=whatif-probability]").text_content()
    assert shown == f"{expected.probability_of_default * 100:.2f}%"
    assert DecisionRecord.objects.filter(application=declined).count() == 1  # nothing stored
