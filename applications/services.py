"""Write side of the loan domain (HackSoft style: keyword-only service functions).

Every way an application comes in (the officer's page, the admin) validates
its input with ``LoanApplicationForm`` and hands the cleaned data to
``submit_application``, which scores it with the same engine and stores it
with its audit record in one transaction. Nothing here runs from signals: a
reader of a view sees every side effect of a save by following one call.
The audit records themselves are written by ``audit.services``: this app
owns the application rows, the audit app owns the chain.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.models import LoanApplication
from audit import lifecycle
from audit.services import PreparedDecision, append_decision_record, append_decision_records, prepare_decision_record
from governance.selectors import scoring_arguments
from infrastructure.rows import PreparedInsert, insert_row, insert_rows, prepare_insert
from scoring.exceptions import ModelUnavailable
from scoring.features import derived_values
from scoring.results import ScoreResult
from scoring.schema import INPUT_NAMES
from scoring.services import score_application

logger = logging.getLogger(__name__)

# Said to the officer, so it tells them what happens next and what (not) to do;
# how operators score pending applications is in the README, not on screen.
PENDING_MESSAGE = (
    "The scoring model is unavailable right now, so this application was saved as PENDING, "
    "without a decision. Nothing was lost and you do not need to enter it again: it will be "
    "scored as soon as the model is back, and its decision will appear on this page and in the history."
)
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_idempotency_key() -> str:
    """A fresh token for one rendering of the application form."""
    return secrets.token_urlsafe(24)


def submit_application(
    *, officer: Any, cleaned_data: Mapping[str, Any], idempotency_key: str | None = None
) -> LoanApplication:
    """Score and store one validated application with its audit record.

    ``cleaned_data`` is ``LoanApplicationForm.cleaned_data``: the ten inputs
    and the optional reference. Raises ``ValidationError`` (keyed by field)
    if the engine still refuses a value; nothing is stored then. If the model
    is unavailable the application is stored as PENDING (see
    ``PENDING_MESSAGE``). ``idempotency_key`` is the token rendered into the
    form: submitting the same form twice returns the application stored the
    first time.
    """
    key = _checked_idempotency_key(idempotency_key)
    application = LoanApplication(
        officer=officer,
        idempotency_key=key,
        applicant_reference=cleaned_data.get("applicant_reference") or "",
        **{name: cleaned_data[name] for name in INPUT_NAMES},
    )
    result = _score_or_mark_pending(application)
    try:
        _store(application, result, officer=officer)
    except IntegrityError:
        earlier = _earlier_submission(key=key, officer=officer)
        if earlier is None:
            raise
        return earlier
    return application


@dataclass(frozen=True)
class PreparedApplication:
    """One validated application, scored (or marked PENDING) and bound for insertion; nothing stored yet."""

    application: LoanApplication
    insert: PreparedInsert
    decision: PreparedDecision | None


def prepare_applications(
    *, officer: Any, rows: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[PreparedApplication | ValidationError]:
    """Score many validated applications outside any transaction (a batch file's chunk).

    ``rows`` are ``(idempotency_key, cleaned_data)`` pairs, ``cleaned_data``
    as ``applications.forms.clean_application_data`` returns it. Each
    application is scored exactly as ``submit_application`` scores one (the
    same ``score_application``; PENDING if the model is unavailable). An
    input the engine still refuses gives a ``ValidationError`` in its place.
    Store the result with ``store_prepared_applications``. The serving
    model and policy are read once for all ``rows`` (one database read per
    chunk, not per row): a chunk is scored by one model and one policy.
    """
    arguments = scoring_arguments()
    prepared: list[PreparedApplication | ValidationError] = []
    for key, cleaned_data in rows:
        application = LoanApplication(
            officer=officer,
            idempotency_key=_checked_idempotency_key(key),
            applicant_reference=cleaned_data.get("applicant_reference") or "",
            **{name: cleaned_data[name] for name in INPUT_NAMES},
        )
        try:
            result = _score_or_mark_pending(application, arguments=arguments)
        except ValidationError as error:
            prepared.append(error)
            continue
        decision = None
        if result is not None:
            decision = prepare_decision_record(application=application, result=result, officer=officer)
        prepared.append(PreparedApplication(application, prepare_insert(application), decision))
    return prepared


def store_prepared_applications(*, prepared: Sequence[PreparedApplication]) -> list[LoanApplication]:
    """Insert prepared applications and their chained decision records; call inside ``transaction.atomic()``.

    The caller's transaction also holds whatever marks the rows as done
    (``batches``), so applications, records and that mark commit together.
    Each application's idempotency key is unique in the database: storing
    the same row twice fails (``IntegrityError``) instead of duplicating it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("store_prepared_applications must run inside the caller's transaction")
    if all(item.application.idempotency_key for item in prepared):
        # Multi-row INSERTs, each key paired back by the row's unique idempotency key.
        insert_rows(
            [item.application for item in prepared],
            prepared=[item.insert for item in prepared],
            match="idempotency_key",
            using=prepared[0].insert.using if prepared else "default",
        )
    else:
        for item in prepared:
            insert_row(item.application, prepared=item.insert)
    append_decision_records(
        items=[(item.application.pk, item.decision) for item in prepared if item.decision is not None]
    )
    return [item.application for item in prepared]


def _checked_idempotency_key(key: str | None) -> str | None:
    if key and not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError({NON_FIELD_ERRORS: "This form's token is not valid; please reload the page."})
    return key or None


def _score_or_mark_pending(
    application: LoanApplication, *, arguments: Mapping[str, Any] | None = None
) -> ScoreResult | None:
    """Score the application in memory; ``None`` (and the row marked PENDING) if the model is unavailable.

    ``arguments`` are ``scoring_arguments()`` read once by a caller scoring many rows.
    """
    try:
        if arguments is None:
            arguments = scoring_arguments()
        result = score_application(application.model_inputs(), **arguments)
    except ModelUnavailable as error:
        logger.warning("Model unavailable; storing application as pending: %s", error)
        application.scoring_error = str(error) or error.__class__.__name__
        application.loan_percent_income, application.interest_burden = derived_values(
            loan_amnt=float(application.loan_amnt),
            loan_int_rate=float(application.loan_int_rate),
            person_income=float(application.person_income),
        )
        return None
    except ValueError as error:
        raise _engine_refusal(error) from None
    _apply_score(application, result)
    return result


def _store(application: LoanApplication, result: ScoreResult | None, *, officer: Any) -> None:
    """Insert the application and its decision record in one transaction.

    Both statements are prepared before the transaction: under SQLite the
    write lock is held from the first statement to the commit, and every
    other submission waits for it meanwhile.
    """
    prepared_decision = None
    if result is not None:
        prepared_decision = prepare_decision_record(application=application, result=result, officer=officer)
    prepared_insert = prepare_insert(application)
    with transaction.atomic():
        insert_row(application, prepared=prepared_insert)
        if prepared_decision is not None:
            append_decision_record(application_id=application.pk, prepared=prepared_decision)


def _earlier_submission(*, key: str | None, officer: Any) -> LoanApplication | None:
    """The application a retried form stored first, or ``None`` if this was not a retry."""
    if key is None:
        return None
    existing = LoanApplication.objects.filter(idempotency_key=key).select_related("officer").first()
    if existing is not None and existing.officer_id != officer.pk:
        raise PermissionDenied("This form was submitted by another user.")
    return existing


def _engine_refusal(error: ValueError) -> ValidationError:
    """Turn the engine's ``"<field>: message"`` into a form error on that field.

    The form applies the schema first, so this only fires if the two ever
    disagree; the officer then still sees a message, not a 500.
    """
    text = str(error)
    field, _, message = text.partition(": ")
    if field in INPUT_NAMES and message:
        return ValidationError({field: message[:1].upper() + message[1:]})
    return ValidationError({NON_FIELD_ERRORS: text})


def _apply_score(application: LoanApplication, result: ScoreResult) -> None:
    application.status = LoanApplication.Status.SCORED
    application.probability_of_default = result.probability_of_default
    application.decision = result.decision
    application.final_decision = result.decision
    # REVIEW goes to the queue; APPROVE and DECLINE are final unless a reviewer overrides them.
    application.case_state = lifecycle.initial_step(result.decision).state
    application.risk_label = result.risk_label
    application.reasons = [reason.as_dict() for reason in result.reasons]
    application.model_version = result.model_version
    application.model_sha256 = result.model_sha256
    # The engine's own derived values: exactly what the model saw.
    application.loan_percent_income = result.loan_percent_income
    application.interest_burden = result.interest_burden
    application.scored_at = timezone.now()
    application.queued_at = application.scored_at if application.case_state in lifecycle.OPEN_STATES else None
    application.scoring_error = ""


def score_pending_application(*, application: LoanApplication) -> LoanApplication:
    """Score one PENDING application now that the model is back.

    Raises ``ModelUnavailable`` if it still is not; the row stays pending.
    Another process may have scored it in the meantime: then the stored
    outcome is returned unchanged and no second audit record is written.
    """
    result = score_application(application.model_inputs(), **scoring_arguments())
    with transaction.atomic():
        current = LoanApplication.objects.select_for_update().select_related("officer").get(pk=application.pk)
        if current.status != LoanApplication.Status.PENDING:
            return current
        _apply_score(current, result)
        current.save(update_fields=LoanApplication.SCORE_FIELDS)
        append_decision_record(
            application_id=current.pk,
            prepared=prepare_decision_record(application=current, result=result, officer=current.officer),
        )
    return current


@dataclass(frozen=True)
class PendingScoring:
    """What one pass over the PENDING applications did."""

    scored: int
    failed: list[tuple[int, str]]
    model_unavailable: str | None


def score_pending_applications(*, limit: int | None = None) -> PendingScoring:
    """Score PENDING applications, oldest first, each with its decision record.

    Stops at the first ``ModelUnavailable`` (every further one would fail the
    same way); an application the current schema refuses stays pending with
    its reason and the others go on. Used by ``manage.py score_pending`` and
    by the periodic task (``applications.tasks``).
    """
    from applications.selectors import pending_applications

    # Ids first: no read cursor stays open across the writes below.
    ids = list(pending_applications().values_list("pk", flat=True)[:limit])
    scored = 0
    failed: list[tuple[int, str]] = []
    for pk in ids:
        application = pending_applications().filter(pk=pk).first()
        if application is None:  # scored meanwhile by another process
            continue
        try:
            score_pending_application(application=application)
        except ModelUnavailable as error:
            record_scoring_failure(application=application, error=error)
            return PendingScoring(scored, failed, str(error) or error.__class__.__name__)
        except ValueError as error:
            record_scoring_failure(application=application, error=error)
            failed.append((application.pk, str(error)))
            continue
        scored += 1
    return PendingScoring(scored, failed, None)


def record_scoring_failure(*, application: LoanApplication, error: Exception) -> None:
    """Keep the latest reason a pending application could not be scored."""
    LoanApplication.objects.filter(pk=application.pk, status=LoanApplication.Status.PENDING).update(
        scoring_error=str(error)[:2000],
    )
