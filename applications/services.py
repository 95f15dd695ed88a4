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

import copy
import datetime as dt
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import roles
from applications.models import LoanApplication
from audit import lifecycle
from audit.services import (
    PreparedDecision,
    PreparedDecisionText,
    append_decision_record,
    append_decision_records,
    latest_decision_record,
    prepare_decision_record,
    prepare_decision_texts,
)
from governance.models import ChallengerScore
from governance.selectors import scoring_arguments, scoring_plan
from governance.shadow import shadow_score, shadow_scores, store_shadow_score, store_shadow_scores
from infrastructure.rows import PreparedInsert, insert_row, insert_rows, new_instance, prepare_insert
from scoring.counter_offer import CounterOffer, largest_approvable_amount
from scoring.exceptions import ModelUnavailable
from scoring.features import derived_values
from scoring.results import APPROVE, ScoreResult
from scoring.schema import INPUT_NAMES
from scoring.services import score_application, score_applications

logger = logging.getLogger(__name__)

# Said to the officer, so it tells them what happens next and what (not) to do;
# how operators score pending applications is in the README, not on screen.
PENDING_MESSAGE = (
    "The scoring model is unavailable right now, so this application was saved as PENDING, "
    "without a decision. Nothing was lost and you do not need to enter it again: it will be "
    "scored as soon as the model is back, and its decision will appear on this page and in the history."
)
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# The same inputs from the same officer this soon after is most likely the same
# application entered twice (Back and submit again, a second tab).
DUPLICATE_WINDOW = dt.timedelta(minutes=10)
DUPLICATE_REFERENCE_IN_BATCH = (
    "The reference {} is already used by {}; not stored (enter it on the form to confirm it is not a second entry)."
)


class PossibleDuplicate(Exception):
    """An application like this one is already stored: the officer must confirm before another is.

    ``earlier`` is that application; ``why`` says in a sentence what matched.
    Nothing has been stored when this is raised.
    """

    def __init__(self, *, earlier: LoanApplication, why: str) -> None:
        super().__init__(why)
        self.earlier = earlier
        self.why = why


def new_idempotency_key() -> str:
    """A fresh token for one rendering of the application form."""
    return secrets.token_urlsafe(24)


def submit_application(
    *,
    officer: Any,
    cleaned_data: Mapping[str, Any],
    idempotency_key: str | None = None,
    confirmed_duplicate_of: int | None = None,
) -> LoanApplication:
    """Score and store one validated application with its audit record.

    ``cleaned_data`` is ``LoanApplicationForm.cleaned_data``: the ten inputs
    and the optional reference. Raises ``ValidationError`` (keyed by field)
    if the engine still refuses a value; nothing is stored then. If the model
    is unavailable the application is stored as PENDING (see
    ``PENDING_MESSAGE``). ``idempotency_key`` is the token rendered into the
    form: submitting the same form twice returns the application stored the
    first time.

    Before anything is scored or stored, an application whose reference is
    already in use, or with the same ten inputs entered by the same officer
    within ``DUPLICATE_WINDOW``, raises ``PossibleDuplicate`` naming the
    earlier one, unless ``confirmed_duplicate_of`` is that earlier
    application's id: the officer saw the warning and confirmed. The
    confirmation is kept on the row (``duplicate_of``) and in its decision record.
    """
    key = _checked_idempotency_key(idempotency_key)
    retried = _earlier_submission(key=key, officer=officer)
    if retried is not None:
        return retried
    application = LoanApplication(
        officer=officer,
        idempotency_key=key,
        applicant_reference=cleaned_data.get("applicant_reference") or "",
        **{name: cleaned_data[name] for name in INPUT_NAMES},
    )
    earlier, why = possible_duplicate(application)
    if earlier is not None:
        if confirmed_duplicate_of != earlier.pk:
            # The same form stored by a racing retry since the check above is that form's result, not a duplicate.
            retried = _earlier_submission(key=key, officer=officer)
            if retried is not None:
                return retried
            raise PossibleDuplicate(earlier=earlier, why=why)
        application.duplicate_of = earlier
    arguments, challenger = scoring_plan()
    result = _score_or_mark_pending(application, arguments=arguments)
    shadow = _shadow(application, result, challenger=challenger)
    try:
        _store(application, result, officer=officer, shadow=shadow)
    except IntegrityError:
        earlier = _earlier_submission(key=key, officer=officer)
        if earlier is None:
            raise
        return earlier
    return application


def possible_duplicate(application: LoanApplication) -> tuple[LoanApplication | None, str]:
    """The stored application this unsaved one looks like a second entry of, and what matched.

    The one rule for duplicates; ``submit_application`` applies it, and the
    admin's add form asks it first so its page can show the warning.
    """
    reference = application.applicant_reference
    if reference:
        earlier = LoanApplication.objects.filter(applicant_reference=reference).order_by("-created_at", "-id").first()
        if earlier is not None:
            return earlier, f"The reference {reference} is already used by application #{earlier.pk}."
    same_inputs = {name: getattr(application, name) for name in INPUT_NAMES}
    earlier = (
        LoanApplication.objects.filter(
            officer=application.officer, created_at__gte=timezone.now() - DUPLICATE_WINDOW, **same_inputs
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if earlier is not None:
        minutes = int((timezone.now() - earlier.created_at).total_seconds() // 60)
        when = "less than a minute ago" if minutes < 1 else f"{minutes} minute{'s' if minutes > 1 else ''} ago"
        return earlier, f"You entered an application with exactly the same details {when} (#{earlier.pk})."
    return None, ""


def what_if(*, cleaned_data: Mapping[str, Any]) -> ScoreResult:
    """What the engine would say for these inputs: computed, never stored, never chained.

    The same ``score_application`` as a submission (guard included), so the
    answer is exactly what submitting would give with today's model. Raises
    ``ModelUnavailable`` when there is no model to ask.
    """
    return score_application({name: cleaned_data[name] for name in INPUT_NAMES}, **scoring_arguments())


NO_COUNTER_OFFER_ON_APPROVED = "This application is approved: there is nothing to counter-offer."
NO_COUNTER_OFFER_ON_PENDING = "This application has not been scored yet: there is no decision to counter-offer on."


def counter_offer(*, application: LoanApplication) -> CounterOffer:
    """The largest whole amount below the request, same income, rate and purpose, that today's model approves.

    For applications whose decision in force is REVIEW or DECLINE; refuses
    (``ValidationError``) an approved or unscored one. Exact against the
    engine (``scoring.counter_offer``). Raises ``ModelUnavailable`` without
    a model. Computes only: offering it is ``offer_counter_offer``.
    """
    if application.status != LoanApplication.Status.SCORED:
        raise ValidationError(NO_COUNTER_OFFER_ON_PENDING)
    if application.final_decision == APPROVE:
        raise ValidationError(NO_COUNTER_OFFER_ON_APPROVED)
    return largest_approvable_amount(application.model_inputs(), **scoring_arguments())


NO_COUNTER_OFFER_AMOUNT = (
    "No counter-offer: no amount from 1 up to the {requested} requested would be approved by today's model "
    "at the same income, rate and purpose."
)
ALREADY_COUNTER_OFFERED = "A counter-offer has already been made on this application."
CENTS = Decimal("0.01")
COUNTER_OFFER_AWAITING_SECOND = "An approval of this case awaits a second reviewer; no counter-offer meanwhile."
COUNTER_OFFER_HELD = (
    "Another reviewer holds this case; a counter-offer can be made once they release it or their claim expires."
)
STALE_COUNTER_OFFER = "The application changed while the counter-offer was computed; reload the page and try again."


def offer_counter_offer(*, application: LoanApplication, reviewer: Any) -> LoanApplication:
    """Offer the counter-offer in one step: store and score it as a new scoring of the same application.

    The largest approvable amount (``counter_offer``) becomes the
    application's ``loan_amnt``; the amount asked for is kept in
    ``requested_loan_amnt`` (and in the first decision record, unchanged).
    The offer is scored by ``score_application`` and gets its own chained
    decision record (its document names the requested amount, the reviewer
    and the decision record it follows), so the application's outcome is the
    offer's APPROVE. Being a new scoring, the case starts again from it
    (``audit.lifecycle.initial_step``: a final APPROVE, with no claim or
    proposal); the case records before it stay bound to the decision record
    they were made on. Who may: whoever may act on the case
    (``accounts.roles.can_act_on_case``: a reviewer, never on an application
    they entered), on a case nobody else holds and with no approval awaiting
    a second reviewer. Refuses (``ValidationError``) an approved, unscored or
    already counter-offered application, and one with no approvable amount.
    Raises ``ModelUnavailable`` without a model.
    """
    if not roles.can_act_on_case(reviewer, application):
        raise PermissionDenied("Only a reviewer may make a counter-offer, never on an application they entered.")
    # Searched, scored and prepared before the transaction (under SQLite the
    # write lock is held from the first write to the commit); checked again under the row lock.
    seen = LoanApplication.objects.get(pk=application.pk)
    _check_counter_offer_allowed(seen, reviewer)
    previous = latest_decision_record(application_id=seen.pk)
    offer = counter_offer(application=seen)
    if offer.amount is None:
        raise ValidationError(NO_COUNTER_OFFER_AMOUNT.format(requested=f"{seen.loan_amnt:,.2f}"))
    offered = copy.copy(seen)
    offered.loan_amnt = Decimal(offer.amount).quantize(CENTS)
    result = score_application(offered.model_inputs(), **scoring_arguments())
    if result.decision != APPROVE:  # counter_offer confirmed it with the same engine: a bug, not input
        raise RuntimeError(f"the counter-offer of {offer.amount} scored {result.decision}")
    prepared = prepare_decision_record(application=offered, result=result, officer=reviewer)
    prepared.document["counter_offer"] = {
        "requested_loan_amnt": str(Decimal(seen.loan_amnt).quantize(CENTS)),
        "offered_loan_amnt": str(offered.loan_amnt),
        "offered_by": reviewer.get_username(),
        "follows_decision_record_sequence": previous.sequence if previous else None,
        "follows_decision_record_hash": previous.record_hash if previous else None,
    }
    with transaction.atomic():
        current = LoanApplication.objects.select_for_update().get(pk=application.pk)
        _check_counter_offer_allowed(current, reviewer)
        latest = latest_decision_record(application_id=current.pk)
        if (current.final_decision, current.loan_amnt, current.case_version, getattr(latest, "pk", None)) != (
            seen.final_decision,
            seen.loan_amnt,
            seen.case_version,
            getattr(previous, "pk", None),
        ):
            raise ValidationError(STALE_COUNTER_OFFER)
        current.requested_loan_amnt = current.loan_amnt
        current.loan_amnt = offered.loan_amnt
        current.counter_offered_by = reviewer
        current.counter_offered_at = timezone.now()
        _apply_score(current, result)
        # A new scoring: the case starts again from it (no claim, no proposal); case_version keeps
        # counting, so a form rendered for the case before the offer is stale.
        current.claimed_by = current.proposed_by = None
        current.claim_expires_at = None
        current.proposed_decision = ""
        current.save(
            update_fields=[
                *LoanApplication.SCORE_FIELDS,
                "loan_amnt",
                "requested_loan_amnt",
                "counter_offered_by",
                "counter_offered_at",
                "case_state",
                "queued_at",
                "claimed_by",
                "claim_expires_at",
                "proposed_decision",
                "proposed_by",
            ]
        )
        append_decision_record(application_id=current.pk, prepared=prepared)
    return current


def _check_counter_offer_allowed(application: LoanApplication, reviewer: Any) -> None:
    if application.officer_id == reviewer.pk:
        raise PermissionDenied("Four eyes: you cannot make a counter-offer on an application you entered.")
    if application.is_counter_offer:
        raise ValidationError(ALREADY_COUNTER_OFFERED)
    if application.case_state == lifecycle.AWAITING_SECOND:
        raise ValidationError(COUNTER_OFFER_AWAITING_SECOND)
    held = (
        application.case_state == lifecycle.CLAIMED
        and application.claimed_by_id not in (None, reviewer.pk)
        and application.claim_expires_at is not None
        and application.claim_expires_at > timezone.now()
    )
    if held:
        raise ValidationError(COUNTER_OFFER_HELD)


@dataclass(frozen=True)
class PreparedApplication:
    """One validated application, scored (or marked PENDING) and bound for insertion; nothing stored yet."""

    application: LoanApplication
    insert: PreparedInsert
    decision: PreparedDecision | PreparedDecisionText | None
    # The challenger's shadow score (governance.shadow_scores' field values), stored beside it; never part of
    # the decision.
    shadow: dict[str, Any] | None = None


def prepare_applications(
    *, officer: Any, rows: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[PreparedApplication | ValidationError]:
    """Score many validated applications outside any transaction (a batch file's chunk).

    ``rows`` are ``(idempotency_key, cleaned_data)`` pairs, ``cleaned_data``
    as ``applications.forms.clean_application_data`` returns it. Each
    application is scored exactly as ``submit_application`` scores one (the
    same ``score_application``; PENDING if the model is unavailable). An
    input the engine still refuses gives a ``ValidationError`` in its place,
    and so does a row whose reference is already used (by a stored
    application or an earlier row of ``rows``): the duplicate check of
    ``submit_application`` with nobody to confirm, so the row is refused
    with the earlier application named, and can be entered on the form.
    Store the result with ``store_prepared_applications``. The serving
    model and policy are read once for all ``rows`` (one database read per
    chunk, not per row): a chunk is scored by one model and one policy.
    """
    arguments, challenger = scoring_plan()
    prepared: list[PreparedApplication | ValidationError] = []
    references = [cleaned_data.get("applicant_reference") or "" for _, cleaned_data in rows]
    # The duplicate rule a batch can apply: a reference already in use (stored, or an earlier row of these)
    # is refused, since nobody is there to confirm it; one query for the whole chunk.
    used: dict[str, int | None] = {}
    for reference, pk in (
        LoanApplication.objects.filter(applicant_reference__in={r for r in references if r})
        .order_by("created_at", "id")
        .values_list("applicant_reference", "pk")
    ):
        used[reference] = pk
    to_score: list[tuple[int, LoanApplication]] = []
    # One moment for the chunk: its rows are entered and scored together.
    now = timezone.now()
    for (key, cleaned_data), reference in zip(rows, references, strict=True):
        if reference and reference in used:
            earlier = used[reference]
            where = f"application #{earlier}" if earlier is not None else "an earlier row of this file"
            prepared.append(
                ValidationError({"applicant_reference": [DUPLICATE_REFERENCE_IN_BATCH.format(reference, where)]})
            )
            continue
        if reference:
            used[reference] = None
        # LoanApplication(**values) without Django's per-field generic work (the same instance, tested).
        application = new_instance(
            LoanApplication,
            {
                "officer": officer,
                "idempotency_key": _checked_idempotency_key(key),
                "applicant_reference": reference,
                "created_at": now,
                **{name: cleaned_data[name] for name in INPUT_NAMES},
            },
        )
        to_score.append((len(prepared), application))
        prepared.append(None)  # type: ignore[arg-type]  # filled in below
    inputs = [application.model_inputs() for _, application in to_score]
    results = _score_table(inputs, arguments)
    decided: list[tuple[int, LoanApplication, dict[str, Any], ScoreResult | None]] = []
    for (position, application), row_inputs, result in zip(to_score, inputs, results, strict=True):
        if result is _SCORE_ONE_BY_ONE:
            try:
                result = _score_or_mark_pending(application, arguments=arguments)
            except ValidationError as error:
                prepared[position] = error
                continue
        else:
            _apply_score(application, result, scored_at=now)
        decided.append((position, application, row_inputs, result))
    # The challenger's answers for the whole chunk at once; never part of a decision (governance.shadow).
    shadows = shadow_scores(
        inputs=[row_inputs for _, _, row_inputs, _ in decided],
        champions=[result for _, _, _, result in decided],
        challenger=challenger,
        scored_at=now,
    )
    decisions = iter(
        prepare_decision_texts(
            items=[(application, result) for _, application, _, result in decided if result is not None],
            officer=officer,
        )
    )
    for (position, application, _, result), shadow in zip(decided, shadows, strict=True):
        decision = next(decisions) if result is not None else None
        prepared[position] = PreparedApplication(application, prepare_insert(application), decision, shadow)
    return prepared


_SCORE_ONE_BY_ONE = object()


def _score_table(inputs: list[dict[str, Any]], arguments: Mapping[str, Any]) -> list[Any]:
    """Each application's ``ScoreResult`` from one ``score_applications`` call over their ``model_inputs()``.

    Exactly what ``score_application`` gives row by row (tested bit for bit).
    Where the table cannot be scored as a whole (the model unavailable, or an
    input the engine refuses), every row is marked ``_SCORE_ONE_BY_ONE`` and
    goes through ``_score_or_mark_pending`` alone: PENDING, or its own refusal.
    """
    if not inputs:
        return []
    frame = {name: [row[name] for row in inputs] for name in INPUT_NAMES}
    try:
        return score_applications(frame, **arguments)
    except (ModelUnavailable, ValueError):
        return [_SCORE_ONE_BY_ONE] * len(inputs)


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
    store_shadow_scores(items=[(item.application.pk, item.shadow) for item in prepared])
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


def _shadow(
    application: LoanApplication, result: ScoreResult | None, *, challenger: str | None
) -> ChallengerScore | None:
    """The challenger's shadow score of a scored application (``None``: no challenger, or nothing decided).

    Computed from the same inputs after the champion decided, and stored in
    governance's own table: the application, its decision and its record
    never see it. Never raises (``governance.shadow``).
    """
    if result is None or challenger is None:
        return None
    return shadow_score(inputs=application.model_inputs(), champion=result, challenger=challenger)


def _store(
    application: LoanApplication,
    result: ScoreResult | None,
    *,
    officer: Any,
    shadow: ChallengerScore | None = None,
) -> None:
    """Insert the application and its decision record in one transaction (and a challenger's shadow score).

    Both statements are prepared before the transaction: under SQLite the
    write lock is held from the first statement to the commit, and every
    other submission waits for it meanwhile. The shadow score goes in last,
    in a savepoint that cannot take the application down with it.
    """
    prepared_decision = None
    if result is not None:
        prepared_decision = prepare_decision_record(application=application, result=result, officer=officer)
    prepared_insert = prepare_insert(application)
    with transaction.atomic():
        insert_row(application, prepared=prepared_insert)
        if prepared_decision is not None:
            append_decision_record(application_id=application.pk, prepared=prepared_decision)
        store_shadow_score(score=shadow, application_id=application.pk)


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


def _apply_score(application: LoanApplication, result: ScoreResult, *, scored_at: dt.datetime | None = None) -> None:
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
    application.scored_at = scored_at or timezone.now()
    application.queued_at = application.scored_at if application.case_state in lifecycle.OPEN_STATES else None
    application.scoring_error = ""


def score_pending_application(*, application: LoanApplication) -> LoanApplication:
    """Score one PENDING application now that the model is back.

    Raises ``ModelUnavailable`` if it still is not; the row stays pending.
    Another process may have scored it in the meantime: then the stored
    outcome is returned unchanged and no second audit record is written.
    """
    arguments, challenger = scoring_plan()
    result = score_application(application.model_inputs(), **arguments)
    shadow = _shadow(application, result, challenger=challenger)
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
        store_shadow_score(score=shadow, application_id=current.pk)
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
