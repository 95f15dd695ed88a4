"""Issue 15.1: the adverse-action notice, from stored data only; page and PDF from one template."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.test import Client
from pypdf import PdfReader

from accounts import roles
from applications.notices import ECOA_PARAGRAPH, statements_from_stored_reasons
from audit.models import AccessEvent, DecisionRecord
from scoring.model_cache import forget_loaded_models
from tests.support.factories import DECLINED_FORM, REVIEW_FORM, UserFactory, scored_application
from tests.support.reviews import decide_by_review
from tests.support.scoring import CANDIDATE_VERSION

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def declined():
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer, applicant_reference="APP-1001", **DECLINED_FORM)
    assert application.final_decision == "DECLINE"
    return application


def _pdf_text(document: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(document)).pages)


def _expected_statements(application) -> tuple[str, ...]:
    record = DecisionRecord.objects.get(application=application)
    return statements_from_stored_reasons(record.document["reasons"], record.features)


def test_notice_page_states_the_stored_reasons_and_the_paragraphs(declined, settings):
    settings.BANK_CREDITOR_NAME = "First Test Bank"
    settings.CREDIT_BUREAU_NAME = "Test Bureau Inc."
    page = _client(declined.officer).get(f"/applications/{declined.pk}/notice/")
    assert page.status_code == 200
    html = page.content.decode()
    statements = _expected_statements(declined)
    assert statements, "a decline states at least one reason"
    for statement in statements:
        assert f"<li>{statement}</li>" in html
    assert html.index(statements[0]) < html.index(statements[-1])
    assert "First Test Bank" in html and "Test Bureau Inc." in html
    assert "APP-1001" in html and "has been declined" in html
    assert "Equal Credit Opportunity Act" in html and "Fair Credit Reporting Act" in html
    assert 'class="mainnav"' not in html and "<script" not in html


def test_uncoded_reasons_never_state_age_or_a_clean_file():
    reasons = [
        {"feature": "person_age", "text": "Age 22", "contribution": 0.5},
        {"feature": "cb_person_default_on_file", "text": "No previous default on credit file", "contribution": 0.4},
        {"feature": "loan_percent_income", "text": "Loan is 33% of annual income", "contribution": 0.3},
        {"feature": "loan_amnt", "text": "Loan amount 15,000", "contribution": 0.2},
        {"feature": "loan_grade", "text": "Loan grade A", "contribution": 0.1},
    ]
    assert statements_from_stored_reasons(reasons, {"cb_person_default_on_file": "N"}) == (
        "Income insufficient for amount of credit requested",
        "Credit grade and interest rate of the loan requested",
    )
    # A default that is on file is a reason, with its Regulation B statement.
    assert statements_from_stored_reasons(reasons[1:2], {"cb_person_default_on_file": "Y"}) == (
        "Delinquent past or present credit obligations with others",
    )


def test_coded_reasons_are_stated_as_stored_in_order():
    reasons = [
        {"code": "R02", "statement": "Excessive obligations in relation to income", "feature": "interest_burden"},
        {"code": "R01", "statement": "Income insufficient for amount of credit requested", "feature": "loan_amnt"},
    ]
    assert statements_from_stored_reasons(reasons, {}) == (
        "Excessive obligations in relation to income",
        "Income insufficient for amount of credit requested",
    )


def test_same_decision_same_document_and_unchanged_when_the_active_model_changes(declined, settings):
    client = _client(declined.officer)
    first_html = client.get(f"/applications/{declined.pk}/notice/").content
    first_pdf = client.get(f"/applications/{declined.pk}/notice.pdf").content
    assert client.get(f"/applications/{declined.pk}/notice/").content == first_html
    assert client.get(f"/applications/{declined.pk}/notice.pdf").content == first_pdf
    settings.SCORING_MODEL_VERSION = CANDIDATE_VERSION  # another model serves now
    forget_loaded_models()
    assert client.get(f"/applications/{declined.pk}/notice/").content == first_html
    assert client.get(f"/applications/{declined.pk}/notice.pdf").content == first_pdf
    settings.SCORING_MODEL_VERSION = "hgb-000000000000"  # no model at all: stored data suffices
    forget_loaded_models()
    assert client.get(f"/applications/{declined.pk}/notice/").content == first_html


def test_pdf_is_readable_and_says_the_same(declined):
    response = _client(declined.officer).get(f"/applications/{declined.pk}/notice.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert 'filename="adverse-action-notice-APP-1001.pdf"' in response["Content-Disposition"]
    text = _pdf_text(response.content)
    assert "Notice of action taken" in text and "APP-1001" in text
    for statement in _expected_statements(declined):
        assert statement in text
    assert " ".join(ECOA_PARAGRAPH.split()[:12]) in text
    assert "Fair Credit Reporting Act" in text


def test_each_generation_is_in_the_access_log_with_its_sha256(declined):
    client = _client(declined.officer)
    html = client.get(f"/applications/{declined.pk}/notice/").content
    pdf = client.get(f"/applications/{declined.pk}/notice.pdf").content
    events = list(AccessEvent.objects.filter(action=AccessEvent.ADVERSE_ACTION_NOTICE).order_by("id"))
    assert [e.target for e in events] == [
        f"application:{declined.pk} html sha256:{hashlib.sha256(html).hexdigest()}",
        f"application:{declined.pk} pdf sha256:{hashlib.sha256(pdf).hexdigest()}",
    ]
    assert {e.user_id for e in events} == {declined.officer.pk}


def test_no_notice_for_an_application_not_declined():
    officer = UserFactory(role=roles.OFFICER)
    approved = scored_application(officer, **{**DECLINED_FORM, "loan_amnt": "5000"})
    client = _client(officer)
    for url in (f"/applications/{approved.pk}/notice/", f"/applications/{approved.pk}/notice.pdf"):
        page = client.get(url)
        assert page.status_code == 409
        assert "its decision in force is APPROVE, not DECLINE" in page.content.decode()
    assert not AccessEvent.objects.filter(action=AccessEvent.ADVERSE_ACTION_NOTICE).exists()


def test_an_approval_in_review_withdraws_the_notice(declined):
    decide_by_review(declined, "APPROVE")  # against the model's DECLINE: four eyes, confirmed
    page = _client(declined.officer).get(f"/applications/{declined.pk}/notice/")
    assert page.status_code == 409 and "its decision in force is APPROVE" in page.content.decode()


def test_a_review_case_has_a_notice_once_declined_in_review_with_the_reviewers_reason_first():
    officer = UserFactory(role=roles.OFFICER)
    referred = scored_application(officer, applicant_reference="REV-1", **REVIEW_FORM)
    assert referred.final_decision == "REVIEW" and referred.case_state == "IN_QUEUE"
    client = _client(officer)
    page = client.get(f"/applications/{referred.pk}/notice/")
    assert page.status_code == 409 and "its decision in force is REVIEW" in page.content.decode()
    decide_by_review(referred, "DECLINE")  # reason code DEC-AFFORD
    html = client.get(f"/applications/{referred.pk}/notice/").content.decode()
    statements = re.findall(r"<li>(.*?)</li>", html)
    assert statements[0] == "Income insufficient for the amount of credit requested"
    record = DecisionRecord.objects.get(application=referred)
    model_statements = statements_from_stored_reasons(record.document["reasons"], record.features)
    assert statements[1:] == [s for s in model_statements if s != statements[0]][:3]


def test_another_officers_application_is_not_found(declined):
    assert _client(UserFactory(role=roles.OFFICER)).get(f"/applications/{declined.pk}/notice/").status_code == 404


def test_pdf_uses_the_notice_stylesheet(declined):
    """The page's stylesheet (css/notice.css) shapes the PDF too: Letter paper, 17 pt heading, 11 pt text."""
    document = _client(declined.officer).get(f"/applications/{declined.pk}/notice.pdf").content
    page = PdfReader(io.BytesIO(document)).pages[0]
    sizes: dict[str, float] = {}

    def remember(text, cm, tm, font, size):
        if text.strip():
            sizes.setdefault(text.strip(), round(size * tm[0], 1))

    page.extract_text(visitor_text=remember)
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (612.0, 792.0)
    assert sizes["Notice of action taken"] == 17.0 and sizes["APP-1001"] == 11.0
