"""The review workflow's rules: claims, decisions with reason codes, four eyes, delegated limits, refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from accounts import roles
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import CaseRecord
from reviews import services
from reviews.models import DelegatedLimit, ReasonCode
from tests.support.audit import run_verify
from tests.support.factories import UserFactory, declined_case, review_case, scored_application

pytestmark = pytest.mark.django_db

EXPLANATION = "Two years of payslips and a guarantor on file."


def fresh(application) -> LoanApplication:
    return LoanApplication.objects.select_related("claimed_by", "proposed_by").get(pk=application.pk)


def claim(application, reviewer):
    return services.claim_case(
        application_id=application.pk, reviewer=reviewer, expected_version=fresh(application).case_version
    )


def decide(application, reviewer, decision, code=None, explanation=EXPLANATION, version=None):
    code = code or {"APPROVE": "APP-INCOME", "DECLINE": "DEC-AFFORD", "REFER": "REF-DOCS"}.get(decision, "APP-INCOME")
    return services.decide_case(
        application_id=application.pk,
        reviewer=reviewer,
        expected_version=fresh(application).case_version if version is None else version,
        decision=decision,
        reason_code=code,
        explanation=explanation,
    )


def answer(application, reviewer, confirm, code=None, explanation="Checked the payslips myself too."):
    return services.answer_second_approval(
        application_id=application.pk,
        reviewer=reviewer,
        expected_version=fresh(application).case_version,
        confirm=confirm,
        reason_code=code or ("CNF-EVIDENCE" if confirm else "REJ-EVIDENCE"),
        explanation=explanation,
    )


def limit(user, amount):
    DelegatedLimit.objects.create(user=user, approval_limit=Decimal(amount))


def unchanged(application):
    """Snapshot of the row and the case chain; compare after a refusal."""
    return LoanApplication.objects.values().get(pk=application.pk), CaseRecord.objects.count()


def test_seeded_reason_codes_cover_every_action():
    assert set(ReasonCode.objects.values_list("action", flat=True)) == {
        "APPROVE",
        "DECLINE",
        "REFER",
        "CONFIRM",
        "REJECT",
    }
    assert ReasonCode.objects.filter(code="DEC-AFFORD", action="DECLINE", active=True).exists()


def test_a_review_case_claimed_and_declined_is_final(reviewer):
    application = review_case()
    claim(application, reviewer)
    record = decide(application, reviewer, "DECLINE")
    row = fresh(application)
    assert (row.case_state, row.final_decision, row.claimed_by) == (lifecycle.DECIDED, "DECLINE", None)
    assert (record.action, record.reason_code, record.reason_label, record.explanation) == (
        "DECIDE",
        "DEC-AFFORD",
        "Income insufficient for the amount of credit requested",
        EXPLANATION,
    )
    assert run_verify()[0] == 0


def test_approval_within_the_delegated_limit_is_final_at_once(reviewer):
    application = review_case()  # 14,000
    limit(reviewer, "15000")
    claim(application, reviewer)
    assert decide(application, reviewer, "APPROVE").action == "DECIDE"
    assert (fresh(application).case_state, fresh(application).final_decision) == (lifecycle.DECIDED, "APPROVE")


def test_approval_above_the_delegated_limit_needs_a_second_reviewer(reviewer, second_reviewer):
    application = review_case()
    limit(reviewer, "13999.99")
    claim(application, reviewer)
    record = decide(application, reviewer, "APPROVE")
    row = fresh(application)
    assert record.action == "PROPOSE"
    assert (row.case_state, row.final_decision, row.proposed_decision, row.proposed_by) == (
        lifecycle.AWAITING_SECOND,
        "REVIEW",
        "APPROVE",
        reviewer,
    )
    answer(application, second_reviewer, confirm=True)
    row = fresh(application)
    assert (row.case_state, row.final_decision) == (lifecycle.DECIDED, "APPROVE")
    assert run_verify()[0] == 0


@override_settings(REVIEW_DEFAULT_APPROVAL_LIMIT="50000")
def test_approving_against_a_model_decline_needs_a_second_reviewer_whatever_the_limit(reviewer, second_reviewer):
    application = declined_case()
    assert services.second_approval_reasons(application=application, reviewer=reviewer, decision="APPROVE") == [
        "it approves an application the model declined"
    ]
    record = decide(application, reviewer, "APPROVE")  # an override: no claim needed
    assert record.action == "PROPOSE" and fresh(application).final_decision == "DECLINE"
    answer(application, second_reviewer, confirm=False)
    row = fresh(application)
    assert (row.case_state, row.final_decision, row.proposed_decision) == (lifecycle.MODEL_FINAL, "DECLINE", "")


def test_the_default_limit_is_zero_so_every_approval_needs_four_eyes(reviewer):
    application = scored_application(loan_amnt="1000", loan_grade="C", loan_int_rate="14")
    assert services.approval_limit(reviewer) == 0
    assert services.second_approval_reasons(application=application, reviewer=reviewer, decision="APPROVE")
    assert services.second_approval_reasons(application=application, reviewer=reviewer, decision="DECLINE") == []


def test_overriding_a_model_approve_to_decline_needs_no_second_reviewer(reviewer):
    application = scored_application()
    decide(application, reviewer, "DECLINE")
    assert (fresh(application).case_state, fresh(application).final_decision) == (lifecycle.DECIDED, "DECLINE")


def test_refer_keeps_a_case_in_review(reviewer):
    application = review_case()
    claim(application, reviewer)
    decide(application, reviewer, "REFER")
    row = fresh(application)
    assert (row.case_state, row.final_decision, row.claimed_by) == (lifecycle.IN_QUEUE, "REVIEW", None)


def test_second_reviewer_rejection_sends_a_review_case_back_to_the_queue(reviewer, second_reviewer):
    application = review_case()
    claim(application, reviewer)
    decide(application, reviewer, "APPROVE")
    answer(application, second_reviewer, confirm=False)
    assert (fresh(application).case_state, fresh(application).final_decision) == (lifecycle.IN_QUEUE, "REVIEW")
    records = CaseRecord.objects.filter(application=application).order_by("sequence")
    assert [r.action for r in records] == ["CLAIM", "PROPOSE", "REJECT"]
    assert records.last().reason_code == "REJ-EVIDENCE"


# --- Refusals: a clear message, nothing changes -----------------------------------------


def test_deciding_a_case_someone_else_holds_is_refused(reviewer, second_reviewer):
    application = review_case()
    claim(application, reviewer)
    before = unchanged(application)
    with pytest.raises(services.CaseConflict, match=f"{reviewer.username}, until .*Only they can decide it"):
        decide(application, second_reviewer, "DECLINE")
    with pytest.raises(services.CaseConflict, match="Only they can decide it until then"):
        claim(application, second_reviewer)
    assert unchanged(application) == before


def test_deciding_an_unclaimed_queue_case_is_refused(reviewer):
    application = review_case()
    with pytest.raises(services.CaseConflict, match="Claim this case before deciding it"):
        decide(application, reviewer, "DECLINE")
    assert CaseRecord.objects.count() == 0


def test_deciding_twice_is_refused(reviewer):
    application = review_case()
    claim(application, reviewer)
    decide(application, reviewer, "DECLINE")
    before = unchanged(application)
    with pytest.raises(services.CaseConflict, match="already decided \\(DECLINE\\); the decision is final"):
        decide(application, reviewer, "APPROVE")
    assert unchanged(application) == before


def test_a_stale_form_is_refused_after_the_case_moved_on(reviewer, second_reviewer):
    application = review_case()
    version_seen = fresh(application).case_version
    claim(application, reviewer)
    decide(application, reviewer, "REFER")
    claim(application, second_reviewer)
    before = unchanged(application)
    with pytest.raises(services.CaseConflict, match="changed while you had it open: it is now claimed by a reviewer"):
        services.claim_case(application_id=application.pk, reviewer=reviewer, expected_version=version_seen)
    assert unchanged(application) == before


def test_confirming_your_own_proposal_is_refused(reviewer):
    application = declined_case()
    decide(application, reviewer, "APPROVE")
    before = unchanged(application)
    with pytest.raises(services.CaseConflict, match="Four eyes: you proposed this approval"):
        answer(application, reviewer, confirm=True)
    assert unchanged(application) == before


def test_the_entering_officer_can_never_act_even_as_a_reviewer(reviewer):
    own = review_case(officer=reviewer)
    with pytest.raises(PermissionDenied, match="Four eyes"):
        claim(own, reviewer)
    other = declined_case()
    decide(other, UserFactory(role=roles.REVIEWER), "APPROVE")
    with pytest.raises(PermissionDenied, match="Only reviewers"):
        answer(other, other.officer, confirm=True)  # an officer is no reviewer
    assert fresh(own).case_state == lifecycle.IN_QUEUE and fresh(other).case_state == lifecycle.AWAITING_SECOND


def test_an_entering_reviewer_cannot_be_the_second_reviewer(reviewer, second_reviewer):
    application = declined_case(officer=second_reviewer)
    decide(application, reviewer, "APPROVE")
    with pytest.raises(PermissionDenied, match="Four eyes"):
        answer(application, second_reviewer, confirm=True)
    assert fresh(application).case_state == lifecycle.AWAITING_SECOND


@pytest.mark.parametrize("role", [roles.OFFICER, roles.AUDITOR, None])
def test_only_reviewers_act_on_cases(role):
    application = review_case()
    with pytest.raises(PermissionDenied):
        claim(application, UserFactory(role=role))
    assert CaseRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("decision", "code", "explanation", "field"),
    [
        ("APPROVE", "NOT-A-CODE", EXPLANATION, "reason_code"),
        ("APPROVE", "DEC-AFFORD", EXPLANATION, "reason_code"),  # a decline reason for an approval
        ("DECLINE", "DEC-AFFORD", "Too short.", "explanation"),
        ("DECLINE", "DEC-AFFORD", " " * 30, "explanation"),
        ("DECLINE", "DEC-AFFORD", "x" * 2001, "explanation"),
        ("DECLINE", "DEC-AFFORD", "nul\x00" * 10, "explanation"),
        ("MAYBE", "DEC-AFFORD", EXPLANATION, "decision"),
    ],
)
def test_bad_input_is_refused_beside_its_field(reviewer, decision, code, explanation, field):
    application = review_case()
    claim(application, reviewer)
    before = unchanged(application)
    with pytest.raises(ValidationError) as error:
        decide(application, reviewer, decision, code=code, explanation=explanation)
    assert field in error.value.message_dict
    assert unchanged(application) == before


def test_an_inactive_reason_code_is_refused(reviewer):
    ReasonCode.objects.filter(code="DEC-AFFORD").update(active=False)
    application = declined_case()
    with pytest.raises(ValidationError, match="Choose a reason code"):
        decide(application, reviewer, "APPROVE", code="DEC-AFFORD")


def test_an_expired_claim_can_be_taken_over_and_the_old_holder_cannot_decide(reviewer, second_reviewer):
    application = review_case()
    claim(application, reviewer)
    LoanApplication.objects.filter(pk=application.pk).update(claim_expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(services.CaseConflict, match="Your claim expired at"):
        decide(application, reviewer, "DECLINE")
    record = claim(application, second_reviewer)
    assert (record.from_state, record.to_state) == (lifecycle.CLAIMED, lifecycle.CLAIMED)
    assert fresh(application).claimed_by == second_reviewer


@override_settings(REVIEW_CLAIM_MINUTES=5)
def test_claims_last_the_configured_time_and_can_be_released(reviewer, second_reviewer):
    application = review_case()
    before = timezone.now()
    record = claim(application, reviewer)
    expires = fresh(application).claim_expires_at
    assert dt.timedelta(minutes=5) <= expires - before < dt.timedelta(minutes=5, seconds=5)
    assert record.document["claim_expires_at"] is not None
    with pytest.raises(services.CaseConflict, match="nothing to release"):
        services.release_case(
            application_id=application.pk, reviewer=second_reviewer, expected_version=fresh(application).case_version
        )
    services.release_case(
        application_id=application.pk, reviewer=reviewer, expected_version=fresh(application).case_version
    )
    assert (fresh(application).case_state, fresh(application).claimed_by) == (lifecycle.IN_QUEUE, None)
    claim(application, second_reviewer)
    assert run_verify()[0] == 0
