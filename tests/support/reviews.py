"""Helpers for tests that need a case decided through the review workflow (as reviewers would, via the services)."""

from __future__ import annotations

from typing import Any

from accounts import roles
from applications.models import LoanApplication
from audit import lifecycle
from reviews import services
from reviews.reason_codes import seed_reason_codes
from tests.support.factories import UserFactory

CODES = {"APPROVE": "APP-INCOME", "DECLINE": "DEC-AFFORD", "REFER": "REF-DOCS"}
EXPLANATION = "Checked the documents on file for this case."


def _version(application: LoanApplication) -> int:
    return LoanApplication.objects.values_list("case_version", flat=True).get(pk=application.pk)


def decide_by_review(
    application: LoanApplication,
    decision: str,
    *,
    reviewer: Any = None,
    second_reviewer: Any = None,
    explanation: str = EXPLANATION,
) -> LoanApplication:
    """Take ``application``'s case to ``decision`` (APPROVE / DECLINE / REFER) the way reviewers do.

    Claims a queued case first; an approval that needs four eyes is confirmed by ``second_reviewer``.
    Returns the application as stored afterwards.
    """
    seed_reason_codes()  # a transactional test's flush removes the migration's codes
    reviewer = reviewer or UserFactory(role=roles.REVIEWER)
    if application.case_state in (lifecycle.IN_QUEUE, lifecycle.CLAIMED):
        services.claim_case(application_id=application.pk, reviewer=reviewer, expected_version=_version(application))
    record = services.decide_case(
        application_id=application.pk,
        reviewer=reviewer,
        expected_version=_version(application),
        decision=decision,
        reason_code=CODES[decision],
        explanation=explanation,
    )
    if record.action == lifecycle.PROPOSE:
        services.answer_second_approval(
            application_id=application.pk,
            reviewer=second_reviewer or UserFactory(role=roles.REVIEWER),
            expected_version=_version(application),
            confirm=True,
            reason_code="CNF-EVIDENCE",
            explanation="Second look: the evidence supports it.",
        )
    application.refresh_from_db()
    return application
