"""The review workflow's rules: who may claim, decide, refer, confirm or reject a case, and when.

Each service takes the case's row lock (``applications.cases.lock_case``), checks every rule against
the row as it is *now*, and moves it with ``applications.cases.apply_transition``, which writes the
row and its chained ``CaseRecord`` together. What a refusal raises:

* ``PermissionDenied`` — not a reviewer, or the application is one they entered (four eyes);
  the pages log it and answer 403.
* ``ValidationError`` keyed by form field — a reason code not in the list for that action, an
  explanation shorter than ``EXPLANATION_MIN_LENGTH``, a move the lifecycle does not have.
* ``CaseConflict`` — the case is not where the reviewer thought: someone else holds it, it moved on
  since the form was rendered (``expected_version``), it was already decided, or they would confirm
  their own proposal. Nothing is written; the message says what happened.

Rules as built:

* Only one reviewer holds a claim at a time; a claim lasts ``settings.REVIEW_CLAIM_MINUTES`` (30) and
  anyone may take over an expired one; the holder may release it.
* A case in the queue is decided only by the reviewer holding a live claim. A model APPROVE/DECLINE
  (``MODEL_FINAL``) may be overridden without a claim (it is not in the queue); the version check
  still lets exactly one of two simultaneous reviewers through.
* APPROVE needs a second reviewer (``PROPOSE`` -> ``AWAITING_2ND``) when the model said DECLINE or the
  amount is above the reviewer's delegated limit (``DelegatedLimit``, else
  ``settings.REVIEW_DEFAULT_APPROVAL_LIMIT``); otherwise APPROVE and DECLINE are final at once, and
  REFER puts the case (back) in the queue.
* The second reviewer is neither the proposer nor the entering officer; they CONFIRM (final
  APPROVE) or REJECT (back to the queue, or to the model's decision for an override), each with a
  reason code and an explanation.
* A case decided in review (``DECIDED``) is final: deciding it again is refused.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from applications import formatting
from applications.cases import apply_transition, claim_is_live, describe_state, lock_case
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import CaseRecord
from reviews.models import DelegatedLimit, ReasonCode
from scoring.results import APPROVE, DECLINE

EXPLANATION_MIN_LENGTH = 20
EXPLANATION_MAX_LENGTH = 2000
REFER = lifecycle.REFER
# What a reviewer may choose on the decide page.
DECISION_CHOICES = (APPROVE, DECLINE, REFER)


class CaseConflict(Exception):
    """The case is not in a state that allows this action for this reviewer now; nothing was recorded."""


def claim_duration() -> dt.timedelta:
    return dt.timedelta(minutes=settings.REVIEW_CLAIM_MINUTES)


def approval_limit(user: Any) -> Decimal:
    """The largest amount ``user`` may approve without a second reviewer."""
    limit = DelegatedLimit.objects.filter(user_id=user.pk).values_list("approval_limit", flat=True).first()
    return Decimal(settings.REVIEW_DEFAULT_APPROVAL_LIMIT) if limit is None else limit


def second_approval_reasons(*, application: LoanApplication, reviewer: Any, decision: str) -> list[str]:
    """Why ``reviewer``'s ``decision`` would need a second reviewer (empty: it is final at once)."""
    if decision != APPROVE:
        return []
    reasons = []
    if application.decision == DECLINE:
        reasons.append("it approves an application the model declined")
    limit = approval_limit(reviewer)
    if application.loan_amnt > limit:
        reasons.append(
            f"the amount, {formatting.money(application.loan_amnt)}, is above your delegated limit of {formatting.money(limit)}"
        )
    return reasons


def clean_explanation(text: Any) -> str:
    """The written explanation: at least 20 characters of text, at most 2,000, no NUL."""
    text = text.strip() if isinstance(text, str) else ""
    if "\x00" in text:
        raise ValidationError({"explanation": "The explanation contains a NUL character."})
    if len(text) < EXPLANATION_MIN_LENGTH:
        raise ValidationError(
            {
                "explanation": f"Explain the decision in at least {EXPLANATION_MIN_LENGTH} characters "
                f"(you wrote {len(text)}); it is kept with the case for auditors."
            }
        )
    if len(text) > EXPLANATION_MAX_LENGTH:
        raise ValidationError({"explanation": f"Keep the explanation to at most {EXPLANATION_MAX_LENGTH} characters."})
    return text


def reason_code_for(*, code: Any, action: str) -> ReasonCode:
    """The active reason code ``code`` for ``action`` (APPROVE/DECLINE/REFER/CONFIRM/REJECT), or a field error."""
    reason = ReasonCode.objects.filter(code=code, action=action, active=True).first() if isinstance(code, str) else None
    if reason is None:
        raise ValidationError({"reason_code": "Choose a reason code from the list for this decision."})
    return reason


def _require_reviewer(reviewer: Any) -> None:
    if not roles.can_review(reviewer):
        raise PermissionDenied("Only reviewers may act on cases.")


def _locked(application_id: int, reviewer: Any, expected_version: Any) -> LoanApplication:
    """The case row, locked, after the checks every action shares (inside the caller's transaction)."""
    try:
        application = lock_case(application_id=application_id)
    except LoanApplication.DoesNotExist:
        raise CaseConflict("There is no such application.") from None
    if application.officer_id == reviewer.pk:
        raise PermissionDenied("Four eyes: you cannot act on an application you entered.")
    if application.status != LoanApplication.Status.SCORED:
        raise CaseConflict("This application has not been scored yet; there is no case to act on.")
    if str(application.case_version) != str(expected_version):
        raise CaseConflict(
            f"This case changed while you had it open: it is now {describe_state(application).lower()}. "
            "Nothing was recorded; check it again below."
        )
    return application


def claim_case(*, application_id: int, reviewer: Any, expected_version: Any) -> CaseRecord:
    """Take the case for ``settings.REVIEW_CLAIM_MINUTES``: nobody else may decide it meanwhile."""
    _require_reviewer(reviewer)
    with transaction.atomic():
        application = _locked(application_id, reviewer, expected_version)
        now = timezone.now()
        if claim_is_live(application, now=now):
            if application.claimed_by_id == reviewer.pk:
                raise CaseConflict("You already hold this case.")
            raise CaseConflict(f"{describe_state(application, now=now)}. Only they can decide it until then.")
        if application.case_state not in (lifecycle.IN_QUEUE, lifecycle.CLAIMED):
            raise CaseConflict(f"This case is not in the queue: it is {describe_state(application).lower()}.")
        return apply_transition(
            application=application, actor=reviewer, action=lifecycle.CLAIM, claim_expires_at=now + claim_duration()
        )


def release_case(*, application_id: int, reviewer: Any, expected_version: Any) -> CaseRecord:
    """Give the case back to the queue (the holder only, live or expired claim)."""
    _require_reviewer(reviewer)
    with transaction.atomic():
        application = _locked(application_id, reviewer, expected_version)
        if application.case_state != lifecycle.CLAIMED or application.claimed_by_id != reviewer.pk:
            raise CaseConflict("You do not hold this case, so there is nothing to release.")
        return apply_transition(application=application, actor=reviewer, action=lifecycle.RELEASE)


def decide_case(
    *,
    application_id: int,
    reviewer: Any,
    expected_version: Any,
    decision: str,
    reason_code: Any,
    explanation: Any,
) -> CaseRecord:
    """APPROVE, DECLINE or REFER a case (or override a model decision), with a reason code and an explanation.

    An approval that needs four eyes (``second_approval_reasons``) is recorded as a proposal
    (``PROPOSE``) and awaits a second reviewer; the decision in force does not change until then.
    """
    _require_reviewer(reviewer)
    if decision not in DECISION_CHOICES:
        raise ValidationError({"decision": "Choose APPROVE, DECLINE or REFER."})
    reason = reason_code_for(code=reason_code, action=decision)
    explanation = clean_explanation(explanation)
    with transaction.atomic():
        application = _locked(application_id, reviewer, expected_version)
        _check_may_decide(application, reviewer)
        if decision == REFER:
            action = lifecycle.REFER
        elif second_approval_reasons(application=application, reviewer=reviewer, decision=decision):
            action = lifecycle.PROPOSE
        else:
            action = lifecycle.DECIDE
        return apply_transition(
            application=application,
            actor=reviewer,
            action=action,
            decision="" if decision == REFER else decision,
            reason_code=reason.code,
            reason_label=reason.label,
            explanation=explanation,
        )


def _check_may_decide(application: LoanApplication, reviewer: Any) -> None:
    state = application.case_state
    if state == lifecycle.MODEL_FINAL:
        return  # an override of the model's decision: no claim, the version check orders reviewers
    if state == lifecycle.CLAIMED:
        if application.claimed_by_id != reviewer.pk:
            if claim_is_live(application):
                raise CaseConflict(f"{describe_state(application)}. Only they can decide it.")
            raise CaseConflict("Claim this case before deciding it.")
        if not claim_is_live(application):
            raise CaseConflict(
                f"Your claim expired at {formatting.local_time(application.claim_expires_at, seconds=False)}; "
                "claim the case again to decide it."
            )
        return
    if state == lifecycle.IN_QUEUE:
        raise CaseConflict("Claim this case before deciding it.")
    if state == lifecycle.AWAITING_SECOND:
        raise CaseConflict("An approval of this case is awaiting a second reviewer; confirm or reject it instead.")
    raise CaseConflict(f"This case was already decided ({application.final_decision}); the decision is final.")


def answer_second_approval(
    *,
    application_id: int,
    reviewer: Any,
    expected_version: Any,
    confirm: bool,
    reason_code: Any,
    explanation: Any,
) -> CaseRecord:
    """The second reviewer confirms (final APPROVE) or rejects a proposed approval, with a reason."""
    _require_reviewer(reviewer)
    action = lifecycle.CONFIRM if confirm else lifecycle.REJECT
    reason = reason_code_for(code=reason_code, action=action)
    explanation = clean_explanation(explanation)
    with transaction.atomic():
        application = _locked(application_id, reviewer, expected_version)
        if application.case_state != lifecycle.AWAITING_SECOND:
            raise CaseConflict(
                f"No approval of this case awaits a second reviewer: it is {describe_state(application).lower()}."
            )
        if application.proposed_by_id == reviewer.pk:
            raise CaseConflict("Four eyes: you proposed this approval; another reviewer must confirm or reject it.")
        return apply_transition(
            application=application,
            actor=reviewer,
            action=action,
            reason_code=reason.code,
            reason_label=reason.label,
            explanation=explanation,
        )
