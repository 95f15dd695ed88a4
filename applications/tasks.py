"""Queue tasks of the loan domain (run by the task-queue workers; see ``infrastructure.task_queue``)."""

from __future__ import annotations

import logging

from applications.services import score_pending_applications

logger = logging.getLogger(__name__)

# One pass scores at most this many; the next pass (a minute later) goes on.
PENDING_PER_PASS = 5000


def score_pending() -> str:
    """The periodic PENDING scorer (a schedule, every minute): scores what it can, says what it did.

    Never raises for a model that is still unavailable: that is the normal
    state until it is back, not a failed task to retry.
    """
    outcome = score_pending_applications(limit=PENDING_PER_PASS)
    if outcome.model_unavailable is not None:
        logger.warning("PENDING scorer: model unavailable (%s); %d scored", outcome.model_unavailable, outcome.scored)
    for pk, error in outcome.failed:
        logger.warning("PENDING scorer: application %s cannot be scored: %s", pk, error)
    if outcome.scored:
        logger.info("PENDING scorer: %d application(s) scored", outcome.scored)
    return (
        f"scored {outcome.scored}, failed {len(outcome.failed)}, model unavailable: {outcome.model_unavailable or 'no'}"
    )
