"""Integrity shown where people look (issue 14, point 7) and decision bands (point 8).

The application page says whether its row matches its chained decision and case records; a row
edited in the database gets a red "does not match its audit record" with the recorded decision
beside the stored one, the history flags the row, and the audit page links the problem to it.
"""

from __future__ import annotations

import pytest

from accounts import roles
from applications.models import LoanApplication
from tests.support.audit import drop_triggers, raw, run_verify
from tests.support.factories import declined_case, review_case
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_an_intact_application_says_verified_everywhere(client_for):
    application = review_case()
    decide_by_review(application, "DECLINE")
    auditor = client_for(roles.AUDITOR)
    detail = page(auditor, f"/applications/{application.pk}/")
    assert "✓ Verified: matches its audit record and case records." in detail
    assert "does not match" not in detail
    assert 'data-testid="integrity-flag"' not in page(auditor, "/applications/")


def test_a_decision_edited_in_the_database_is_shown_in_red_with_the_recorded_one(client_for):
    """The issue's scenario: a DECLINE at 99.8% turned into APPROVE by an UPDATE behind the product's back."""
    application = declined_case(applicant_reference="TAMPERED-1")
    raw("UPDATE applications_loanapplication SET final_decision = 'APPROVE' WHERE id = %s", (application.pk,))
    auditor = client_for(roles.AUDITOR)

    detail = page(auditor, f"/applications/{application.pk}/")
    assert "✗ This application does not match its audit record." in detail
    assert 'data-testid="recorded-decision">DECLINE<' in detail and 'data-testid="stored-decision">APPROVE<' in detail
    assert "Final decision differs from the last override or case record" in detail
    assert "✓ Verified" not in detail

    history = page(auditor, "/applications/")
    assert history.count('data-testid="integrity-flag"') == 1
    assert "does not match its audit record (recorded DECLINE)" in history

    run_verify()
    audit = page(auditor, "/audit/")
    assert f'<a href="/applications/{application.pk}/" data-testid="application-problem-link">' in audit
    assert "1 problem found" in audit


def test_an_edited_case_state_is_flagged_too(client_for):
    application = review_case()
    decide_by_review(application, "REFER")
    raw("UPDATE applications_loanapplication SET case_state = 'DECIDED' WHERE id = %s", (application.pk,))
    detail = page(client_for(roles.REVIEWER), f"/applications/{application.pk}/")
    assert "does not match its audit record" in detail and "Case state differs from its case records" in detail


def test_an_edited_case_record_is_flagged_on_the_page():
    application = review_case()
    decide_by_review(application, "REFER")
    drop_triggers()
    raw(
        "UPDATE audit_caserecord SET explanation = 'nothing to see here at all' WHERE application_id = %s",
        (application.pk,),
    )
    from audit.verification import application_integrity

    result = application_integrity(applications=[LoanApplication.objects.get(pk=application.pk)])[application.pk]
    assert not result.ok and result.problem.startswith("its case record #") and result.problem.endswith("was changed")


def test_review_shows_its_band_with_the_cut_offs_instead_of_a_safe_badge(client_for):
    application = review_case()
    assert application.risk_label == "SAFE"  # stored for the record, not shown beside REVIEW
    for client in (client_for(roles.REVIEWER), client_for(roles.AUDITOR)):
        detail = page(client, f"/applications/{application.pk}/")
        assert "REVIEW: probability of default between 10% and 50%" in detail
        assert ">SAFE<" not in detail and "risk-badge" not in detail
    case = page(client_for(roles.REVIEWER), f"/reviews/{application.pk}/")
    assert 'data-testid="band">REVIEW: probability of default between 10% and 50%<' in case


def test_the_band_uses_the_cut_offs_recorded_with_the_decision(client_for):
    """The words follow the thresholds the decision was made with (from the model manifest), not a constant."""
    application = declined_case()
    drop_triggers()
    raw(
        "UPDATE audit_decisionrecord SET approve_below = 0.2, decline_from = 0.6 WHERE application_id = %s",
        (application.pk,),
    )
    detail = page(client_for(roles.REVIEWER), f"/applications/{application.pk}/")
    assert "DECLINE: probability of default 60% or more" in detail
    assert "does not match its audit record" in detail  # and the edit itself is caught


def _both_ways(application_id: int):
    """The page's check from the records it shows, and ``application_integrity`` reading them itself."""
    from audit import selectors as audit_selectors
    from audit.verification import application_integrity, application_integrity_of

    application = LoanApplication.objects.get(pk=application_id)
    of_records = application_integrity_of(
        application=application,
        decision_records=list(audit_selectors.decision_records_for_application(application_id=application_id)),
        override_records=list(audit_selectors.overrides_for_application(application_id=application_id)),
        case_records=list(audit_selectors.case_records_for_application(application_id=application_id)),
    )
    return of_records, application_integrity(applications=[application]).get(application_id)


@pytest.mark.parametrize(
    "tamper",
    [
        None,
        "UPDATE applications_loanapplication SET final_decision = 'APPROVE' WHERE id = {app}",
        "UPDATE applications_loanapplication SET case_state = 'IN_QUEUE' WHERE id = {app}",
        "UPDATE audit_caserecord SET explanation = 'Rewritten.' WHERE application_id = {app}",
        "UPDATE audit_decisionrecord SET approve_below = 0.5 WHERE application_id = {app}",
        "UPDATE audit_decisionrecord SET payload = payload || ' ' WHERE application_id = {app}",
        "UPDATE audit_decisionrecord SET model_sha256 = '0' WHERE application_id = {app}",
        "DELETE FROM audit_caserecord WHERE application_id = {app}",
    ],
)
def test_the_page_checks_the_records_it_shows_as_application_integrity_does(tamper):
    application = review_case()
    decide_by_review(application, "DECLINE")
    if tamper is not None:
        drop_triggers()
        raw(tamper.format(app=application.pk))
    of_records, read_itself = _both_ways(application.pk)
    assert of_records == read_itself
    assert of_records.ok is (tamper is None)


def test_the_page_check_loads_no_deferred_column(django_assert_max_num_queries):
    """Every column the decision chain's checks compare comes with the page's records: none loaded one by one."""
    from audit import selectors as audit_selectors
    from audit.verification import application_integrity_of

    application = LoanApplication.objects.get(pk=review_case().pk)
    records = list(audit_selectors.decision_records_for_application(application_id=application.pk))
    with django_assert_max_num_queries(0):
        result = application_integrity_of(
            application=application, decision_records=records, override_records=[], case_records=[]
        )
    assert result.ok and result.approve_below is not None


def test_an_application_page_reads_each_record_once(client_for, django_assert_max_num_queries):
    """Query budget of one application's page (a decided case): its records are read once, for the page and
    its integrity check alike."""
    application = review_case()
    decide_by_review(application, "DECLINE")
    reviewer = client_for(roles.REVIEWER)
    page(reviewer, f"/applications/{application.pk}/")
    with django_assert_max_num_queries(13) as captured:  # 21 before: records read twice, a query per permission
        page(reviewer, f"/applications/{application.pk}/")
    tables = [query["sql"] for query in captured.captured_queries if 'FROM "audit_decisionrecord"' in query["sql"]]
    assert len(tables) == 1, tables


def test_the_review_case_page_checks_the_records_it_shows_once(client_for, django_assert_max_num_queries):
    """The reviewer's case page flags an edited case record, from the same single read of the records that
    its case history shows."""
    application = review_case()
    decide_by_review(application, "REFER")
    reviewer = client_for(roles.REVIEWER)
    url = f"/reviews/{application.pk}/"
    assert "✓ Verified" in page(reviewer, url)
    drop_triggers()
    raw(
        "UPDATE audit_caserecord SET explanation = 'nothing to see here at all' WHERE application_id = %s",
        (application.pk,),
    )
    with django_assert_max_num_queries(30) as captured:
        case = page(reviewer, url)
    assert "does not match its audit record" in case and "was changed" in case
    assert "nothing to see here at all" in case  # the history shows the record as it now reads
    for table in ("audit_caserecord", "audit_overriderecord", "audit_decisionrecord"):
        reads = [query["sql"] for query in captured.captured_queries if f'FROM "{table}"' in query["sql"]]
        assert len(reads) == 1, (table, reads)
