"""The challenger's shadow scores: beside every real decision, never instead of it. Keyword-only.

``applications.services`` calls ``shadow_score`` after the champion has
scored an application (form, API, batch file, pending scorer) and before its
transaction, then stores the row with ``store_shadow_score`` /
``store_shadow_scores`` inside that transaction, after the application row.
Nothing here touches the application, its decision or its decision record:
the challenger's answer goes to its own table (``ChallengerScore``), and the
comparison page reads it from there.

A challenger that cannot score (its artifact missing, tampered with, or
refused by the engine) never fails the submission: the row is stored as
FAILED with the reason, the failure is logged, and for
``RETRY_AFTER_SECONDS`` the same reason is recorded without loading the
artifact again, so a broken challenger does not cost every submission a
SHA-256 of the artifact. A database error while storing the row is confined
to a savepoint and logged; the application commits without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from governance.models import ChallengerScore
from infrastructure.rows import insert_row
from scoring.results import ScoreResult
from scoring.services import score_application

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60.0
ERROR_MAX_CHARS = 500

# Per process: version -> (monotonic time of the failure, its reason).
_recent_failures: dict[str, tuple[float, str]] = {}


def shadow_score(*, inputs: Mapping[str, Any], champion: ScoreResult, challenger: str | None) -> ChallengerScore | None:
    """The challenger's answer for ``inputs`` as an unsaved row; ``None`` without a challenger. Never raises.

    ``challenger`` is ``governance.selectors.challenger_version()`` as read
    for this scoring. A challenger that is (now) the champion itself is not
    scored twice. The challenger decides under its own manifest's cut-offs.
    """
    if not challenger or challenger == champion.model_version:
        return None
    row = ChallengerScore(
        model_version=challenger,
        champion_version=champion.model_version,
        champion_policy_version=champion.policy_version,
        champion_probability=champion.probability_of_default,
        champion_decision=champion.decision,
        scored_at=timezone.now(),
    )
    failed = _recent_failures.get(challenger)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_SECONDS:
        return _failed(row, failed[1])
    try:
        result = score_application(inputs, model_version=challenger)
    except Exception as error:  # noqa: BLE001 - whatever the challenger does, the submission goes on
        reason = (str(error) or error.__class__.__name__)[:ERROR_MAX_CHARS]
        _recent_failures[challenger] = (time.monotonic(), reason)
        logger.warning("Challenger %s could not score; the application is decided without it: %s", challenger, reason)
        return _failed(row, reason)
    _recent_failures.pop(challenger, None)
    row.status = ChallengerScore.Status.SCORED
    row.probability_of_default = result.probability_of_default
    row.decision = result.decision
    row.model_sha256 = result.model_sha256
    row.policy_version = result.policy_version
    return row


def _failed(row: ChallengerScore, reason: str) -> ChallengerScore:
    row.status = ChallengerScore.Status.FAILED
    row.error = reason
    return row


def store_shadow_score(*, score: ChallengerScore | None, application_id: int) -> None:
    """Insert one shadow row for a just-inserted application, inside the caller's transaction; never raises."""
    if score is None:
        return
    score.application_id = application_id
    try:
        with transaction.atomic():
            insert_row(score)
    except DatabaseError:
        score.pk = None
        logger.exception(
            "Challenger score for application %s not stored; the application is unaffected", application_id
        )


def store_shadow_scores(*, items: Sequence[tuple[int, ChallengerScore | None]]) -> None:
    """Insert the shadow rows of a batch chunk (``(application_id, row)`` pairs) in one statement; never raises."""
    rows = []
    for application_id, score in items:
        if score is not None:
            score.application_id = application_id
            rows.append(score)
    if not rows:
        return
    try:
        with transaction.atomic():
            ChallengerScore.objects.bulk_create(rows)
    except DatabaseError:
        logger.exception("Challenger scores of %d applications not stored; the applications are unaffected", len(rows))


def forget_failures() -> None:
    """Retry a failed challenger at the next scoring (tests; an operator who repaired the artifact can wait a minute)."""
    _recent_failures.clear()
