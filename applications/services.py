"""Write side of the workbench (HackSoft style: keyword-only service functions).

Every way an application comes in (the officer's form, the admin, a later
API) goes through ``submit_application``, so each one is validated by the
same form, scored by the same engine and stored with its audit record in the
same transaction. Nothing here runs from signals: a reader of a view sees
every side effect of a save by following one call.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.forms import IDEMPOTENCY_KEY_RE, LoanApplicationForm
from applications.models import LoanApplication
from audit.services import append_decision_record, prepare_decision_record
from operations.rows import insert_row, prepare_insert
from scoring.exceptions import ModelUnavailable
from scoring.features import derived_values
from scoring.results import ScoreResult
from scoring.schema import INPUT_NAMES
from scoring.services import score_application

logger = logging.getLogger(__name__)

PENDING_MESSAGE = (
    "The scoring model is unavailable right now, so this application was saved as PENDING "
    "without a decision. Nothing was lost: it will be scored as soon as the model is back "
    "(manage.py score_pending)."
)


def new_idempotency_key() -> str:
    """A fresh token for one rendering of the application form."""
    return secrets.token_urlsafe(24)


def _scorer_error(error: ValueError) -> ValidationError:
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
    application.risk_label = result.risk_label
    application.reasons = [reason.as_dict() for reason in result.reasons]
    application.model_version = result.model_version
    application.model_sha256 = result.model_sha256
    # The engine's own derived values: exactly what the model saw.
    application.loan_percent_income = result.loan_percent_income
    application.interest_burden = result.interest_burden
    application.scored_at = timezone.now()
    application.scoring_error = ""


def _apply_derived(application: LoanApplication) -> None:
    """Derived features for a row the model could not score (same formulas)."""
    application.loan_percent_income, application.interest_burden = derived_values(
        loan_amnt=float(application.loan_amnt),
        loan_int_rate=float(application.loan_int_rate),
        person_income=float(application.person_income),
    )


def submit_application(
    *,
    officer: Any,
    data: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> LoanApplication:
    """Validate, score and store one application with its audit record.

    Raises ``ValidationError`` (keyed by field) for bad input; nothing is
    stored then. Scoring runs before the transaction so the database write
    lock is held only for the two inserts. If the model is unavailable the
    application is stored as PENDING with the reason in ``scoring_error``
    (see ``PENDING_MESSAGE``) and scored later by ``score_pending_application``.

    ``idempotency_key`` is the token rendered into the form: submitting the
    same form twice returns the application stored the first time.
    """
    key = idempotency_key or None
    if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError({NON_FIELD_ERRORS: "This form's token is not valid; please reload the page."})

    form = LoanApplicationForm(data=data)
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    application: LoanApplication = form.save(commit=False)
    application.officer = officer
    application.idempotency_key = key

    try:
        result: ScoreResult | None = score_application(application.model_inputs())
    except ModelUnavailable as error:
        logger.warning("Model unavailable; storing application as pending: %s", error)
        result = None
        application.scoring_error = str(error) or error.__class__.__name__
        _apply_derived(application)
    except ValueError as error:
        raise _scorer_error(error) from None

    # Everything that needs no database is done before the transaction:
    # under SQLite the write lock is held from its first statement to the
    # commit, and every other submission waits for it meanwhile.
    prepared_decision = None
    if result is not None:
        _apply_score(application, result)
        prepared_decision = prepare_decision_record(application=application, result=result, officer=officer)
    prepared_insert = prepare_insert(application)
    try:
        with transaction.atomic():
            insert_row(application, prepared=prepared_insert)
            if prepared_decision is not None:
                append_decision_record(application=application, prepared=prepared_decision)
    except IntegrityError:
        if key is None:
            raise
        existing = LoanApplication.objects.filter(idempotency_key=key).select_related("officer").first()
        if existing is None:
            raise
        if existing.officer_id != officer.pk:
            raise PermissionDenied("This form was submitted by another user.") from None
        return existing
    return application


def score_pending_application(*, application: LoanApplication) -> LoanApplication:
    """Score one PENDING application now that the model is back.

    Raises ``ModelUnavailable`` if it still is not; the row stays pending.
    Another process may have scored it in the meantime: then the stored
    outcome is returned unchanged and no second audit record is written.
    """
    result = score_application(application.model_inputs())
    with transaction.atomic():
        current = LoanApplication.objects.select_for_update().select_related("officer").get(pk=application.pk)
        if current.status != LoanApplication.Status.PENDING:
            return current
        _apply_score(current, result)
        current.save(
            update_fields=[
                "status",
                "probability_of_default",
                "decision",
                "final_decision",
                "risk_label",
                "reasons",
                "model_version",
                "model_sha256",
                "loan_percent_income",
                "interest_burden",
                "scored_at",
                "scoring_error",
            ]
        )
        append_decision_record(
            application=current,
            prepared=prepare_decision_record(application=current, result=result, officer=current.officer),
        )
    return current


def record_scoring_failure(*, application: LoanApplication, error: Exception) -> None:
    """Keep the latest reason a pending application could not be scored."""
    LoanApplication.objects.filter(pk=application.pk, status=LoanApplication.Status.PENDING).update(
        scoring_error=str(error)[:2000],
    )
