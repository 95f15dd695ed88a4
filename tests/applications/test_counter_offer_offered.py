"""Issue 15.2: a reviewer offers the counter-offer in one step, stored and scored with its own chained record.

The offer is a new scoring of the same case: the case starts again from it
(a final APPROVE); the case records before it stay bound to the decision
record they were made on, and verification replays only the latest
scoring's.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from accounts import roles
from applications.models import LoanApplication
from applications.services import offer_counter_offer
from audit.models import DecisionRecord
from audit.verification import verify_audit_trail
from scoring.model_cache import forget_loaded_models
from scoring.services import score_application
from tests.support.factories import DECLINED_FORM, REVIEW_FORM, UserFactory, scored_application
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined():
    return scored_application(UserFactory(role=roles.OFFICER), applicant_reference="CO-1", **DECLINED_FORM)


@pytest.fixture
def reviewer():
    return UserFactory(role=roles.REVIEWER, username="rex-reviewer")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_offering_stores_and_scores_the_counter_offer(declined, reviewer):
    first_record = DecisionRecord.objects.get(application=declined)
    offered = offer_counter_offer(application=declined, reviewer=reviewer)
    assert offered.loan_amnt == Decimal("13575.00") and offered.requested_loan_amnt == Decimal("15000.00")
    assert offered.counter_offered_by == reviewer and offered.final_decision == "APPROVE"
    records = list(DecisionRecord.objects.filter(application=declined).order_by("sequence"))
    assert records[0] == first_record and len(records) == 2
    offer_record = records[1]
    expected = score_application(offered.model_inputs())
    assert offer_record.probability_of_default == expected.probability_of_default == offered.probability_of_default
    assert offer_record.decision == "APPROVE" and offer_record.officer_id == reviewer.pk
    assert offer_record.document["inputs"]["loan_amnt"] == "13575.00"
    assert offer_record.document["counter_offer"] == {
        "requested_loan_amnt": "15000.00",
        "offered_loan_amnt": "13575.00",
        "offered_by": "rex-reviewer",
        "follows_decision_record_sequence": first_record.sequence,
        "follows_decision_record_hash": first_record.record_hash,
    }
    # The first record still holds the amount asked for, as entered.
    assert first_record.document["inputs"]["loan_amnt"] == "15000"
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    assert summary.replayed == 2


def test_a_case_decision_after_a_counter_offer_still_verifies(declined, reviewer):
    offered = offer_counter_offer(application=declined, reviewer=reviewer)
    assert (offered.case_state, offered.final_decision) == ("MODEL_FINAL", "APPROVE")
    declined_again = decide_by_review(offered, "DECLINE")  # the applicant's circumstances changed
    assert declined_again.final_decision == "DECLINE"
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    # Its notice is now the decline's, with the reviewer's reason first.
    html = _client(declined.officer).get(f"/applications/{declined.pk}/notice/").content.decode()
    assert "has been declined" in html and "<li>Income insufficient for the amount of credit requested</li>" in html


def test_a_claimed_review_case_counter_offered_by_its_holder(reviewer):
    from reviews import services as reviews

    referred = scored_application(UserFactory(role=roles.OFFICER), applicant_reference="REV-CO", **REVIEW_FORM)
    reviews.claim_case(application_id=referred.pk, reviewer=reviewer, expected_version=referred.case_version)
    referred.refresh_from_db()
    with pytest.raises(ValidationError, match="Another reviewer holds this case"):
        offer_counter_offer(application=referred, reviewer=UserFactory(role=roles.REVIEWER))
    offered = offer_counter_offer(application=referred, reviewer=reviewer)
    assert offered.loan_amnt == Decimal("5685.00") and offered.case_state == "MODEL_FINAL"
    assert offered.claimed_by is None and offered.queued_at is None and offered.case_version == 1
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    # The case goes on from the offer, its versions counting on.
    decide_by_review(offered, "DECLINE")
    offered.refresh_from_db()
    assert offered.case_version == 2
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    client = _client(UserFactory(role=roles.AUDITOR))
    assert "does not match its audit record" not in client.get(f"/applications/{offered.pk}/").content.decode()


def test_only_a_reviewer_never_on_their_own_and_only_once(declined, reviewer):
    with pytest.raises(PermissionDenied):
        offer_counter_offer(application=declined, reviewer=declined.officer)
    own = scored_application(reviewer, **DECLINED_FORM, applicant_reference="CO-OWN")
    with pytest.raises(PermissionDenied, match="never on an application they entered"):
        offer_counter_offer(application=own, reviewer=reviewer)
    offer_counter_offer(application=declined, reviewer=reviewer)
    with pytest.raises(ValidationError, match="already been made"):
        offer_counter_offer(application=declined, reviewer=UserFactory(role=roles.REVIEWER))
    assert DecisionRecord.objects.filter(application=declined).count() == 2


def test_refused_on_an_approved_application_and_when_there_is_none(reviewer):
    officer = UserFactory(role=roles.OFFICER)
    approved = scored_application(officer, **{**DECLINED_FORM, "loan_amnt": "5000"})
    with pytest.raises(ValidationError, match="nothing to counter-offer"):
        offer_counter_offer(application=approved, reviewer=reviewer)
    hopeless = scored_application(
        officer,
        **{
            **DECLINED_FORM,
            "cb_person_default_on_file": "Y",
            "loan_grade": "G",
            "loan_int_rate": "22",
            "person_income": "27000",
        },
    )
    assert hopeless.final_decision != "APPROVE"
    with pytest.raises(ValidationError, match="No counter-offer"):
        offer_counter_offer(application=hopeless, reviewer=reviewer)
    assert DecisionRecord.objects.filter(application=hopeless).count() == 1


def test_the_page_offers_it_in_one_step(declined, reviewer):
    client = _client(reviewer)
    page = client.get(f"/applications/{declined.pk}/").content.decode()
    assert 'data-testid="offer-counter-offer"' in page
    assert (
        'data-testid="offer-counter-offer"'
        not in _client(declined.officer).get(f"/applications/{declined.pk}/").content.decode()
    )
    answer = client.post(f"/applications/{declined.pk}/counter-offer/")
    assert answer.status_code == 303
    page = client.get(f"/applications/{declined.pk}/").content.decode()
    assert "Counter-offer of USD\xa013,575.00 stored and scored: APPROVE." in page
    assert 'data-testid="counter-offer-made"' in page
    assert _client(declined.officer).post(f"/applications/{declined.pk}/counter-offer/").status_code == 403


def test_without_a_model_the_page_says_so_and_nothing_is_stored(declined, reviewer, settings):
    settings.SCORING_MODEL_VERSION = "hgb-000000000000"
    forget_loaded_models()
    client = _client(reviewer)
    client.post(f"/applications/{declined.pk}/counter-offer/")
    assert "no counter-offer can be made" in client.get(f"/applications/{declined.pk}/").content.decode()
    assert LoanApplication.objects.get(pk=declined.pk).requested_loan_amnt is None
    assert DecisionRecord.objects.filter(application=declined).count() == 1


def test_the_counter_offer_notice_states_both_amounts_and_the_declined_amounts_reasons(declined, reviewer):
    from applications.notices import statements_from_stored_reasons

    first_record = DecisionRecord.objects.get(application=declined)
    offer_counter_offer(application=declined, reviewer=reviewer)
    html = _client(declined.officer).get(f"/applications/{declined.pk}/notice/").content.decode()
    assert "We cannot approve the loan of USD 15,000.00 you applied for." in html
    assert "We can offer you a loan of USD 13,575.00 on the same terms instead." in html
    for statement in statements_from_stored_reasons(first_record.document["reasons"], first_record.features):
        assert f"<li>{statement}</li>" in html
