"""The challenger's shadow scores: beside every real decision, never instead of it. Keyword-only.

``applications.services`` calls ``shadow_score`` after the champion has
scored an application (form, API, pending scorer), or ``shadow_scores`` for
a batch file's chunk (the chunk's rows in one ``score_applications`` call),
before its transaction, then stores the row(s) with ``store_shadow_score`` /
``store_shadow_scores`` inside that transaction, after the application rows.
Nothing here touches the application, its decision or its decision record:
the challenger's answer goes to its own table (``ChallengerScore``), and the
comparison page reads it from there.

A challenger that cannot score (its artifact missing, tampered with, or
refused by the engine) never fails the submission: the row is stored as
FAILED with the reason, the failure is logged, and for
``RETRY_AFTER_SECONDS`` the same reason is recorded without loading the
artifact again, so a broken challenger does not cost every submission (or
every chunk) a SHA-256 of the artifact. A database error while storing the
row(s) is confined to a savepoint and logged; the application commits
without it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from governance.models import ChallengerScore
from infrastructure.rows import insert_row, insert_values
from scoring.results import ScoreResult
from scoring.schema import INPUT_NAMES
from scoring.services import score_application, score_applications

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
    return ChallengerScore(**_answer(inputs, champion, challenger, timezone.now()))


def _answer(
    inputs: Mapping[str, Any], champion: ScoreResult, challenger: str, scored_at: dt.datetime
) -> dict[str, Any]:
    """``shadow_score``'s row as field values (``application_id`` aside)."""
    row = _beside(champion, challenger, scored_at)
    reason = _recent_failure(challenger)
    if reason is not None:
        return _failed(row, reason)
    try:
        result = score_application(inputs, model_version=challenger)
    except Exception as error:  # noqa: BLE001 - whatever the challenger does, the submission goes on
        reason = _record_failure(challenger, error)
        logger.warning("Challenger %s could not score; the application is decided without it: %s", challenger, reason)
        return _failed(row, reason)
    _recent_failures.pop(challenger, None)
    return _scored(row, result)


def shadow_scores(
    *,
    inputs: Sequence[Mapping[str, Any]],
    champions: Sequence[ScoreResult | None],
    challenger: str | None,
    scored_at: dt.datetime,
) -> list[dict[str, Any] | None]:
    """``shadow_score`` for a batch chunk: the challenger's rows as field values, in one scoring call. Never raises.

    ``inputs[i]`` is what the champion scored as ``champions[i]`` (``None``:
    not decided, e.g. PENDING, so nothing to shadow). Each answer is what
    ``shadow_score`` gives that row (``tests/governance/test_challenger.py``
    stores one chunk both ways): the rows the challenger scores go through
    ``score_applications`` at once (bit for bit ``score_application``); a
    broken challenger is tried once for the whole chunk (then, as for a
    submission, not for ``RETRY_AFTER_SECONDS``), its rows FAILED with the
    reason and one log line. An input its engine refuses sends the chunk
    row by row through ``shadow_score``'s own path, which stores what it
    stores for a submission. ``scored_at``: the chunk's one moment.
    """
    answers: list[dict[str, Any] | None] = [None] * len(champions)
    if not challenger:
        return answers
    positions = [
        position
        for position, champion in enumerate(champions)
        if champion is not None and champion.model_version != challenger
    ]
    if not positions:
        return answers
    reason = _recent_failure(challenger)
    if reason is None:
        frame = {name: [inputs[position][name] for position in positions] for name in INPUT_NAMES}
        try:
            results = score_applications(frame, model_version=challenger)
        except ValueError:
            for position in positions:
                answers[position] = _answer(inputs[position], champions[position], challenger, scored_at)
            return answers
        except Exception as error:  # noqa: BLE001 - whatever the challenger does, the chunk goes on
            reason = _record_failure(challenger, error)
            logger.warning(
                "Challenger %s could not score %d applications of a batch chunk; they are decided without it: %s",
                challenger,
                len(positions),
                reason,
            )
        else:
            _recent_failures.pop(challenger, None)
            for position, result in zip(positions, results, strict=True):
                answers[position] = _scored(_beside(champions[position], challenger, scored_at), result)
            return answers
    for position in positions:
        answers[position] = _failed(_beside(champions[position], challenger, scored_at), reason)
    return answers


def _beside(champion: ScoreResult, challenger: str, scored_at: dt.datetime) -> dict[str, Any]:
    return {
        "model_version": challenger,
        "champion_version": champion.model_version,
        "champion_policy_version": champion.policy_version,
        "champion_probability": champion.probability_of_default,
        "champion_decision": champion.decision,
        "scored_at": scored_at,
    }


def _scored(row: dict[str, Any], result: ScoreResult) -> dict[str, Any]:
    row.update(
        status=ChallengerScore.Status.SCORED.value,
        probability_of_default=result.probability_of_default,
        decision=result.decision,
        model_sha256=result.model_sha256,
        policy_version=result.policy_version,
        error="",
    )
    return row


def _failed(row: dict[str, Any], reason: str) -> dict[str, Any]:
    row.update(
        status=ChallengerScore.Status.FAILED.value,
        probability_of_default=None,
        decision="",
        model_sha256="",
        policy_version="",
        error=reason,
    )
    return row


def _recent_failure(challenger: str) -> str | None:
    """The reason ``challenger`` failed within ``RETRY_AFTER_SECONDS`` in this process, if it did."""
    failed = _recent_failures.get(challenger)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_SECONDS:
        return failed[1]
    return None


def _record_failure(challenger: str, error: Exception) -> str:
    reason = (str(error) or error.__class__.__name__)[:ERROR_MAX_CHARS]
    _recent_failures[challenger] = (time.monotonic(), reason)
    return reason


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


def store_shadow_scores(*, items: Sequence[tuple[int, Mapping[str, Any] | None]]) -> None:
    """Insert a batch chunk's shadow rows (``(application_id, shadow_scores answer)`` pairs) at once; never raises.

    Inside the caller's transaction, after the applications: multi-row
    INSERTs of the values as they are (``infrastructure.rows.insert_values``,
    no model instances), in a savepoint a database error cannot escape.
    """
    rows = [{**values, "application_id": application_id} for application_id, values in items if values is not None]
    if not rows:
        return
    try:
        with transaction.atomic():
            insert_values(ChallengerScore, rows)
    except DatabaseError:
        logger.exception("Challenger scores of %d applications not stored; the applications are unaffected", len(rows))


def forget_failures() -> None:
    """Retry a failed challenger at the next scoring (tests; an operator who repaired the artifact can wait a minute)."""
    _recent_failures.clear()
