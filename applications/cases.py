"""Write side of the case lifecycle: the one way an application's case state changes.

``LoanApplication.case_state`` (and the decision in force, the claim and any proposed approval) is
changed only by ``apply_transition``, which moves the row by ``audit.lifecycle.next_step`` and appends
the matching chained ``audit.models.CaseRecord`` in the same transaction: the row and its record
commit together or not at all, and ``case_version`` counts the records.

Who may take which action (roles, claims, four eyes, delegated limits, reason codes) is decided by the
review workflow (``reviews.services``) before it calls here, on the row it locked with ``lock_case``;
this module only refuses a move the lifecycle does not have.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from applications import formatting
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import CaseRecord
from audit.services import append_case_record, latest_decision_record


def lock_case(*, application_id: int) -> LoanApplication:
    """The application row, locked until the caller's transaction ends (``SELECT ... FOR UPDATE``).

    Two reviewers acting on one case at once queue here on PostgreSQL (SQLite's BEGIN IMMEDIATE
    serialises writers anyway); the second then reads the first one's result, so its
    ``case_version`` check fails and it changes nothing. Raises ``LoanApplication.DoesNotExist``.

    No ``select_related``: after waiting for the lock PostgreSQL re-reads the locked row but not
    the rows joined to it, so a joined claim holder would be the one from before the wait (the
    concurrency test caught ``claimed_by_id`` set beside a ``claimed_by`` of ``None``). Related
    users are loaded afterwards, from the committed row.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_case must run inside transaction.atomic()")
    return LoanApplication.objects.select_for_update().get(pk=application_id)


def current_step(application: LoanApplication) -> lifecycle.CaseStep:
    return lifecycle.CaseStep(application.case_state, application.final_decision, application.proposed_decision)


def apply_transition(
    *,
    application: LoanApplication,
    actor: Any,
    action: str,
    decision: str = "",
    reason_code: str = "",
    reason_label: str = "",
    explanation: str = "",
    claim_expires_at: dt.datetime | None = None,
) -> CaseRecord:
    """Move the locked ``application`` by ``action`` and record it; returns the new ``CaseRecord``.

    ``decision`` is the chosen APPROVE/DECLINE for DECIDE and PROPOSE; ``claim_expires_at`` is
    required for CLAIM. Raises ``ValidationError`` (key ``decision``) for a move the lifecycle does
    not have; nothing is written then. ``application`` is updated in place.
    """
    if application.status != LoanApplication.Status.SCORED:
        raise ValidationError({"decision": "This application has not been scored yet; there is no case to decide."})
    before = current_step(application)
    try:
        after = lifecycle.next_step(before, action, decision)
    except lifecycle.IllegalTransition as error:
        raise ValidationError({"decision": str(error)}) from None
    if action == lifecycle.CLAIM and claim_expires_at is None:
        raise ValueError("a claim needs its expiry time")
    decision_record = latest_decision_record(application_id=application.pk)
    if decision_record is None:
        raise ValidationError({"decision": "This application has no decision record; its case cannot move."})
    version = application.case_version + 1
    record = append_case_record(
        application_id=application.pk,
        decision_record=decision_record,
        actor=actor,
        action=action,
        from_state=before.state,
        to_state=after.state,
        from_decision=before.final_decision,
        to_decision=after.final_decision,
        proposed_decision=after.proposed_decision,
        reason_code=reason_code,
        reason_label=reason_label,
        explanation=explanation,
        version=version,
        claim_expires_at=claim_expires_at if action == lifecycle.CLAIM else None,
    )
    application.case_state = after.state
    application.final_decision = after.final_decision
    application.proposed_decision = after.proposed_decision
    application.proposed_by = actor if after.state == lifecycle.AWAITING_SECOND else None
    claimed = after.state == lifecycle.CLAIMED
    application.claimed_by = actor if claimed else None
    application.claim_expires_at = claim_expires_at if claimed else None
    # The queue's clock: it starts when the case opens or is referred (a new wait, e.g. for documents);
    # a claim, release, proposal or rejected proposal keeps the case's place; a final case has none.
    if after.state not in lifecycle.OPEN_STATES:
        application.queued_at = None
    elif before.state not in lifecycle.OPEN_STATES or action == lifecycle.REFER:
        application.queued_at = record.created_at
    application.case_version = version
    application.save(update_fields=CASE_FIELDS)
    return record


# What a transition writes on the application row.
CASE_FIELDS = (
    "case_state",
    "final_decision",
    "proposed_decision",
    "proposed_by",
    "claimed_by",
    "claim_expires_at",
    "queued_at",
    "case_version",
)


def describe_state(application: LoanApplication, *, now: dt.datetime | None = None) -> str:
    """The case's state in words, with who holds it or proposed what: shown everywhere the state is."""
    state = application.case_state
    label = lifecycle.STATE_LABELS.get(state, state)
    if state == lifecycle.CLAIMED and application.claimed_by_id:
        holder = application.claimed_by.get_username()
        if claim_is_live(application, now=now):
            return f"{label}: {holder}, until {formatting.local_time(application.claim_expires_at, seconds=False)}"
        return f"{lifecycle.STATE_LABELS[lifecycle.IN_QUEUE]} ({holder}'s claim expired)"
    if state == lifecycle.AWAITING_SECOND and application.proposed_by_id:
        return f"{label}: {application.proposed_decision} proposed by {application.proposed_by.get_username()}"
    if state in (lifecycle.MODEL_FINAL, lifecycle.DECIDED):
        return f"{label}: {application.final_decision}"
    return label


def claim_is_live(application: LoanApplication, *, now: dt.datetime | None = None) -> bool:
    return (
        application.case_state == lifecycle.CLAIMED
        and application.claim_expires_at is not None
        and application.claim_expires_at > (now or timezone.now())
    )
