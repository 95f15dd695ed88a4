"""The case lifecycle: initial states, every move chained, illegal moves refused, the row verified against its chain."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import roles
from applications.cases import apply_transition, lock_case
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import CaseRecord, ChainHead
from audit.services import append_override_record, latest_decision_record
from tests.support.audit import drop_triggers, raw, run_verify
from tests.support.factories import UserFactory, declined_case, review_case, scored_application

pytestmark = pytest.mark.django_db


def move(application, actor, action, **kwargs):
    with transaction.atomic():
        locked = lock_case(application_id=application.pk)
        if action == lifecycle.CLAIM:
            kwargs.setdefault("claim_expires_at", timezone.now() + dt.timedelta(minutes=30))
        return apply_transition(application=locked, actor=actor, action=action, **kwargs)


def test_scoring_puts_review_in_the_queue_and_model_decisions_final():
    assert review_case().case_state == lifecycle.IN_QUEUE
    assert declined_case().case_state == lifecycle.MODEL_FINAL
    approved = scored_application()
    assert approved.decision == "APPROVE" and approved.case_state == lifecycle.MODEL_FINAL
    assert LoanApplication.objects.get(pk=approved.pk).case_version == 0


def test_every_transition_is_one_chained_record_and_the_row_follows():
    application = review_case()
    first, second = UserFactory(role=roles.REVIEWER), UserFactory(role=roles.REVIEWER)
    claim = move(application, first, lifecycle.CLAIM)
    propose = move(
        application,
        first,
        lifecycle.PROPOSE,
        decision="APPROVE",
        reason_code="APP-DOCS",
        reason_label="Documents",
        explanation="Payslips for two years seen.",
    )
    confirm = move(
        application, second, lifecycle.CONFIRM, reason_code="CNF-EVIDENCE", explanation="Agreed on evidence."
    )
    application.refresh_from_db()
    assert (application.case_state, application.final_decision, application.case_version) == (
        lifecycle.DECIDED,
        "APPROVE",
        3,
    )
    assert application.decision == "REVIEW" and application.claimed_by is None and application.proposed_by is None
    records = list(CaseRecord.objects.filter(application=application).order_by("sequence"))
    assert records == [claim, propose, confirm]
    assert [(r.action, r.from_state, r.to_state, r.actor_id, r.version) for r in records] == [
        ("CLAIM", "IN_QUEUE", "CLAIMED", first.pk, 1),
        ("PROPOSE", "CLAIMED", "AWAITING_2ND", first.pk, 2),
        ("CONFIRM", "AWAITING_2ND", "DECIDED", second.pk, 3),
    ]
    assert propose.previous_hash == claim.record_hash and confirm.previous_hash == propose.record_hash
    assert propose.proposed_decision == "APPROVE" and propose.to_decision == "REVIEW"
    assert confirm.document["decision_record_hash"] == latest_decision_record(application_id=application.pk).record_hash
    assert ChainHead.objects.get(name="cases").record_hash == confirm.record_hash
    code, out, summary = run_verify()
    assert code == 0, out
    assert summary["cases_checked"] == 3 and summary["cases_chain_ok"] is True


@pytest.mark.parametrize(
    ("state_maker", "action", "decision"),
    [
        (review_case, lifecycle.RELEASE, ""),  # nothing to release: not claimed
        (review_case, lifecycle.DECIDE, "APPROVE"),  # must be claimed first
        (review_case, lifecycle.CONFIRM, ""),  # nothing awaits a second approval
        (declined_case, lifecycle.DECIDE, "DECLINE"),  # already the decision in force
        (declined_case, lifecycle.PROPOSE, "DECLINE"),  # only approvals wait for a second reviewer
        (declined_case, lifecycle.CLAIM, ""),  # not in the queue
    ],
)
def test_moves_the_lifecycle_does_not_have_are_refused_and_change_nothing(state_maker, action, decision):
    application = state_maker()
    before = LoanApplication.objects.values().get(pk=application.pk)
    with pytest.raises(ValidationError):
        move(application, UserFactory(role=roles.REVIEWER), action, decision=decision)
    assert LoanApplication.objects.values().get(pk=application.pk) == before
    assert CaseRecord.objects.count() == 0


def test_reject_returns_an_override_proposal_to_the_models_decision():
    application = declined_case()
    move(application, UserFactory(role=roles.REVIEWER), lifecycle.PROPOSE, decision="APPROVE")
    move(application, UserFactory(role=roles.REVIEWER), lifecycle.REJECT)
    application.refresh_from_db()
    assert (application.case_state, application.final_decision, application.proposed_decision) == (
        lifecycle.MODEL_FINAL,
        "DECLINE",
        "",
    )
    assert run_verify()[0] == 0


def test_an_edited_case_state_is_found_with_the_recorded_decision():
    application = review_case()
    reviewer = UserFactory(role=roles.REVIEWER)
    move(application, reviewer, lifecycle.CLAIM)
    move(application, reviewer, lifecycle.DECIDE, decision="DECLINE")
    assert run_verify()[0] == 0
    raw(
        "UPDATE applications_loanapplication SET final_decision = 'APPROVE' WHERE id = %s",
        (application.pk,),
    )
    code, out, summary = run_verify()
    assert code != 0 and summary["application_mismatches"] == 1 and summary["cases_chain_ok"] is True
    assert f"application id={application.pk}: final decision differs" in out


def test_an_edited_case_record_breaks_the_case_chain():
    application = review_case()
    record = move(application, UserFactory(role=roles.REVIEWER), lifecycle.CLAIM)
    drop_triggers()
    raw("UPDATE audit_caserecord SET actor_id = %s WHERE id = %s", (application.officer_id, record.pk))
    code, _, summary = run_verify()
    assert code != 0 and summary["cases_chain_ok"] is False and summary["first_bad_case_id"] == record.pk


def test_case_records_are_append_only():
    application = review_case()
    record = move(application, UserFactory(role=roles.REVIEWER), lifecycle.CLAIM)
    from django.db import DatabaseError

    for sql in (
        "UPDATE audit_caserecord SET explanation = 'x' WHERE id = %s",
        "DELETE FROM audit_caserecord WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            raw(sql, (record.pk,))
    assert CaseRecord.objects.filter(pk=record.pk).exists()


def test_a_legacy_override_stays_verifiable_and_the_case_continues_from_it():
    """Overrides written before the lifecycle (OverrideRecord) still verify; the case starts where they left it."""
    application = declined_case()
    reviewer = UserFactory(role=roles.REVIEWER)
    with transaction.atomic():
        append_override_record(
            application_id=application.pk,
            decision_record=latest_decision_record(application_id=application.pk),
            reviewer=reviewer,
            from_decision="DECLINE",
            to_decision="REVIEW",
            reason="Legacy override to review.",
        )
        # What migrations applications.0006 and 0007 set for such a row.
        LoanApplication.objects.filter(pk=application.pk).update(
            final_decision="REVIEW", case_state="IN_QUEUE", queued_at=F("scored_at")
        )
    assert run_verify()[0] == 0
    move(application, reviewer, lifecycle.CLAIM)
    move(application, reviewer, lifecycle.DECIDE, decision="DECLINE")
    code, out, _ = run_verify()
    assert code == 0, out


def test_the_queue_clock_starts_on_entry_keeps_its_place_and_stops_when_final():
    application = review_case()
    row = LoanApplication.objects.get(pk=application.pk)
    assert row.queued_at == row.scored_at
    first, second = UserFactory(role=roles.REVIEWER), UserFactory(role=roles.REVIEWER)
    move(application, first, lifecycle.CLAIM)
    assert LoanApplication.objects.get(pk=application.pk).queued_at == row.scored_at  # keeps its place
    referral = move(application, first, lifecycle.REFER, reason_code="REF-DOCS", explanation="Payslips requested.")
    assert LoanApplication.objects.get(pk=application.pk).queued_at == referral.created_at  # a new wait
    move(application, second, lifecycle.CLAIM)
    move(application, second, lifecycle.DECIDE, decision="DECLINE")
    assert LoanApplication.objects.get(pk=application.pk).queued_at is None
    assert declined_case().queued_at is None
    raw("UPDATE applications_loanapplication SET queued_at = scored_at WHERE id = %s", (application.pk,))
    code, out, _ = run_verify()
    assert code != 0 and "queued at differs from its case records" in out
