"""Write side of the audit trail (HackSoft style: keyword-only services).

Every function here appends; nothing in the audit app ever updates or
deletes a record. The one value updated in place is a counter, not a
record: ``AnonymousAccessTally.count`` (see ``log_access``).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_ipv46_address
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts import roles
from accounts.client_ip import client_ip as request_client_ip
from audit import canonical, selectors
from audit.latest import advance_latest_decisions, record_latest_outcome
from audit.models import (
    ANONYMOUS_EVENTS_PER_WINDOW,
    AccessEvent,
    AnonymousAccessTally,
    CaseRecord,
    ChainedRecord,
    ChainHead,
    DecisionRecord,
    GovernanceRecord,
    OutcomeRecord,
    OverrideRecord,
    RoleChangeRecord,
    VerificationRun,
)
from audit.verification import Checkpoint, VerificationSummary, verify_audit_trail
from infrastructure.rows import insert_row, insert_values
from infrastructure.task_queue import enqueue_on_commit
from scoring import schema

logger = logging.getLogger(__name__)


def _lock_head(name: str, model: type[ChainedRecord]) -> tuple[int, str]:
    """Lock the chain head and return its (sequence, record_hash); every appender queues here.

    ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time
    anyway (BEGIN IMMEDIATE). The statement is plain SQL because it runs in
    every submission while the write lock is held (see ``infrastructure.rows``).
    The head row is created by migration; a database emptied by a test flush
    gets it back from the last record (or the genesis values).
    """
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('sequence')}, {quote('record_hash')} FROM {quote(ChainHead._meta.db_table)} "
            f"WHERE {quote('name')} = %s{lock}",
            [name],
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0]), row[1]
    last = model.objects.order_by("-sequence").values_list("sequence", "record_hash").first()
    sequence, record_hash = last or (0, canonical.GENESIS_HASH)
    head, _ = ChainHead.objects.select_for_update().get_or_create(
        name=name,
        defaults={"sequence": sequence, "record_hash": record_hash},
    )
    return head.sequence, head.record_hash


def _move_head(name: str, sequence: int, record_hash: str) -> None:
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(ChainHead._meta.db_table)} SET {quote('sequence')} = %s, {quote('record_hash')} = %s "
            f"WHERE {quote('name')} = %s",
            [sequence, record_hash, name],
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"chain head {name!r} vanished while appending")


def _append(model: type[ChainedRecord], head_name: str, document: dict[str, Any], **columns: Any) -> ChainedRecord:
    """Link ``document`` to the chain head, hash it, insert the record, move the head.

    Part of the caller's transaction when there is one (no savepoint: a
    failed append must roll the whole submission back), else its own.
    """
    with transaction.atomic(savepoint=False):
        head_sequence, head_hash = _lock_head(head_name, model)
        sequence = head_sequence + 1
        document = {**document, "sequence": sequence, "previous_hash": head_hash}
        payload = canonical.dumps(document)
        digest = canonical.record_hash(payload)
        record = model(
            sequence=sequence,
            previous_hash=head_hash,
            record_hash=digest,
            payload=payload,
            **columns,
        )
        insert_row(record, using=transaction.get_connection().alias)
        _move_head(head_name, sequence, digest)
        return record


def _application_inputs(application: Any) -> dict[str, Any]:
    """The ten inputs exactly as stored on the application (Decimals kept exact)."""
    return {name: getattr(application, name) for name in schema.INPUT_NAMES}


@dataclass(frozen=True)
class PreparedDecision:
    """A decision record's content, computed before the write lock is taken.

    Everything but the links and the time: the application id (known once
    the application is inserted), the chain position and ``created_at``
    (stamped under the lock, so record times follow the chain's order).
    """

    document: dict[str, Any]
    columns: dict[str, Any]


def prepare_decision_record(*, application: Any, result: Any, officer: Any) -> PreparedDecision:
    """What the DecisionRecord for ``result`` will say; no database access.

    ``result`` is the ``scoring.results.ScoreResult`` the decision came from;
    ``result.features`` is what the model was fed. Prepare once every input
    field of ``application`` is final.
    """
    probability = float(result.probability_of_default)
    document = {
        "kind": "decision",
        "applicant_reference": getattr(application, "applicant_reference", "") or "",
        "officer_id": officer.pk,
        "officer_username": officer.get_username(),
        "inputs": canonical.canonical_value(_application_inputs(application)),
        "features": canonical.canonical_value(dict(result.features)),
        "probability_of_default": canonical.canonical_value(probability),
        "decision": result.decision,
        "risk_label": result.risk_label,
        "approve_below": canonical.canonical_value(float(result.approve_below)),
        "decline_from": canonical.canonical_value(float(result.decline_from)),
        "reasons": canonical.canonical_value([reason.as_dict() for reason in result.reasons]),
        "model_version": result.model_version,
        "model_sha256": result.model_sha256,
        # The training ranges checked (scoring.experience) and what fell outside them.
        "experience_sha256": result.experience_sha256,
        # The officer confirmed this is not a second entry of that application.
        "duplicate_confirmed_of": getattr(application, "duplicate_of_id", None),
        "outside_experience": canonical.canonical_value([e.as_dict() for e in result.outside_experience]),
        # The decision policy whose cut-offs made the decision (records
        # before issue 18 lack it: theirs is the model manifest's).
        "policy_version": result.policy_version,
    }
    return PreparedDecision(document=document, columns=_decision_columns(result, officer))


def _decision_columns(result: Any, officer: Any) -> dict[str, Any]:
    return {
        "officer_id": officer.pk,
        "probability_of_default": float(result.probability_of_default),
        "decision": result.decision,
        "approve_below": float(result.approve_below),
        "decline_from": float(result.decline_from),
        "model_version": result.model_version,
        "model_sha256": result.model_sha256,
        "outside_experience": bool(result.outside_experience),
    }


# The decision document's values that differ between the records of one model, policy and officer, in
# canonical (sorted) order; the rest of the document is serialised once per (model, policy, officer).
_PER_DECISION = (
    "applicant_reference",
    "application_id",
    "created_at",
    "decision",
    "features",
    "inputs",
    "outside_experience",
    "previous_hash",
    "probability_of_default",
    "reasons",
    "risk_label",
    "sequence",
)
_DECISION_TEMPLATES: dict[tuple[Any, ...], canonical.CanonicalTemplate] = {}
_MOST_DECISION_TEMPLATES = 64


@dataclass(frozen=True)
class PreparedDecisionText:
    """A decision record prepared as text, for many records at once (a batch file's chunk).

    The same record as ``prepare_decision_record`` gives, with its document
    kept as its shared template and the canonical texts of its own values
    known before the append (``texts``: applicant_reference, decision,
    features, inputs, outside_experience, probability_of_default, reasons,
    risk_label); ``append_decision_records`` fills in the application id,
    time and chain links.
    """

    template: canonical.CanonicalTemplate
    texts: tuple[str, ...]
    columns: dict[str, Any]


def prepare_decision_text(*, application: Any, result: Any, officer: Any) -> PreparedDecisionText:
    """``prepare_decision_record`` as text: its payload comes out identical, without building the document."""
    return _decision_text(_decision_template(application, result, officer), application, result, officer)


def _decision_template(application: Any, result: Any, officer: Any) -> canonical.CanonicalTemplate:
    """The decision document of this model, policy and officer with its per-record values left open."""
    key = (
        officer.pk,
        officer.get_username(),
        result.model_version,
        result.model_sha256,
        result.experience_sha256,
        result.policy_version,
        float(result.approve_below).hex(),
        float(result.decline_from).hex(),
        getattr(application, "duplicate_of_id", None),
    )
    template = _DECISION_TEMPLATES.get(key)
    if template is None:
        template = canonical.CanonicalTemplate(
            prepare_decision_record(application=application, result=result, officer=officer).document, _PER_DECISION
        )
        if template.names != _PER_DECISION:
            raise ValueError(f"unexpected order of a decision's own values: {template.names!r}")
        if len(_DECISION_TEMPLATES) >= _MOST_DECISION_TEMPLATES:
            _DECISION_TEMPLATES.clear()
        _DECISION_TEMPLATES[key] = template
    return template


def _decision_text(
    template: canonical.CanonicalTemplate,
    application: Any,
    result: Any,
    officer: Any,
    features: str | None = None,
    inputs: str | None = None,
    reasons: str | None = None,
) -> PreparedDecisionText:
    text = canonical.value_text
    texts = (
        canonical.json_text(getattr(application, "applicant_reference", "") or ""),
        text(result.decision),
        text(dict(result.features)) if features is None else features,
        text(_application_inputs(application)) if inputs is None else inputs,
        text([e.as_dict() for e in result.outside_experience]),
        text(float(result.probability_of_default)),
        text([reason.as_dict() for reason in result.reasons]) if reasons is None else reasons,
        text(result.risk_label),
    )
    return PreparedDecisionText(template=template, texts=texts, columns=_decision_columns(result, officer))


def prepare_decision_texts(*, items: Sequence[tuple[Any, Any]], officer: Any) -> list[PreparedDecisionText]:
    """``prepare_decision_text`` for many ``(application, result)`` pairs (a batch file's chunk).

    The same texts, with every row's features and inputs written column by
    column (``canonical.dict_texts``) instead of one document at a time.
    """
    if not items:
        return []
    features = canonical.dict_texts([dict(result.features) for _, result in items])
    inputs = canonical.dict_texts([_application_inputs(application) for application, _ in items])
    # Every row's reasons as one list of dicts (one model: one shape), then each row's slice of it.
    each_reason = canonical.dict_texts([reason.as_dict() for _, result in items for reason in result.reasons])
    prepared = []
    start = 0
    for (application, result), feature_text, input_text in zip(items, features, inputs, strict=True):
        end = start + len(result.reasons)
        reason_text = "[" + ",".join(each_reason[start:end]) + "]"
        start = end
        template = _decision_template(application, result, officer)
        prepared.append(_decision_text(template, application, result, officer, feature_text, input_text, reason_text))
    return prepared


def append_decision_record(*, application_id: int, prepared: PreparedDecision) -> DecisionRecord:
    """Append one chained, immutable DecisionRecord for a scored application.

    Call it inside the caller's ``transaction.atomic()`` after the
    application is saved, so the application row and its audit record commit
    or roll back together (a decision shown to an officer always has its
    record). ``prepared`` comes from ``prepare_decision_record``, called
    before the transaction: under the write lock only the links are added.
    """
    if application_id is None:
        raise ValueError("save the application before recording its decision")
    created_at = timezone.now()
    document = {**prepared.document, "application_id": application_id, "created_at": canonical.utc_iso(created_at)}
    with transaction.atomic(savepoint=False):
        record = _append(
            DecisionRecord,
            ChainHead.DECISIONS,
            document,
            application_id=application_id,
            created_at=created_at,
            **prepared.columns,
        )
        advance_latest_decisions(
            first_sequence=record.sequence, last_sequence=record.sequence, using=transaction.get_connection().alias
        )
    return record


def append_decision_records(*, items: list[tuple[int, PreparedDecision | PreparedDecisionText]]) -> int:
    """Append many decision records in order, locking and moving the chain head once; returns how many.

    For a batch file's chunk: the same documents, links and hashes as one
    ``append_decision_record`` call per item, in the caller's transaction.
    The records are stamped with one time, taken under the lock (they are
    appended together, in one statement per batch of rows), linked and
    hashed in order in one loop, and inserted without building instances.
    Items prepared as text (``prepare_decision_text``) are filled into their
    template instead of serialised.
    """
    if not items:
        return 0
    dumps, digest_of = canonical.dumps, canonical.record_hash
    with transaction.atomic(savepoint=False):
        head_sequence, head_hash = _lock_head(ChainHead.DECISIONS, DecisionRecord)
        using = transaction.get_connection().alias
        created_at = timezone.now()
        stamp = canonical.utc_iso(created_at)
        stamp_text = canonical.json_text(stamp)
        rows = []
        for application_id, prepared in items:
            if application_id is None:
                raise ValueError("save the application before recording its decision")
            sequence = head_sequence + 1
            if prepared.__class__ is PreparedDecisionText:
                (reference, decision, features, inputs, outside, probability, reasons, risk) = prepared.texts
                payload = prepared.template.format % (
                    reference,
                    canonical.value_text(application_id),
                    stamp_text,
                    decision,
                    features,
                    inputs,
                    outside,
                    f'"{head_hash}"',
                    probability,
                    reasons,
                    risk,
                    canonical.value_text(sequence),
                )
            else:
                document = {
                    **prepared.document,
                    "application_id": application_id,
                    "created_at": stamp,
                    "sequence": sequence,
                    "previous_hash": head_hash,
                }
                payload = dumps(document)
            digest = digest_of(payload)
            rows.append(
                {
                    "sequence": sequence,
                    "previous_hash": head_hash,
                    "record_hash": digest,
                    "payload": payload,
                    "application_id": application_id,
                    "created_at": created_at,
                    **prepared.columns,
                }
            )
            head_sequence, head_hash = sequence, digest
        insert_values(DecisionRecord, rows, using=using)
        advance_latest_decisions(first_sequence=rows[0]["sequence"], last_sequence=head_sequence, using=using)
        _move_head(ChainHead.DECISIONS, head_sequence, head_hash)
    return len(rows)


def latest_decision_record(*, application_id: int) -> DecisionRecord | None:
    """The application's most recent decision record (the one an override binds to)."""
    return DecisionRecord.objects.filter(application_id=application_id).order_by("-sequence").first()


def append_override_record(
    *,
    application_id: int,
    decision_record: DecisionRecord,
    reviewer: Any,
    from_decision: str,
    to_decision: str,
    reason: str,
) -> OverrideRecord:
    """Append one chained OverrideRecord, bound to the decision record it overrides.

    How overrides were recorded before the case lifecycle (issue 14); the
    product writes ``CaseRecord`` now and nothing in it calls this. It stays
    because the override chain's existing records must keep verifying, and
    the tests build such legacy records with it to prove they do.
    """
    created_at = timezone.now()
    document = {
        "kind": "override",
        "application_id": application_id,
        "decision_record_sequence": decision_record.sequence,
        "decision_record_hash": decision_record.record_hash,
        "reviewer_id": reviewer.pk,
        "reviewer_username": reviewer.get_username(),
        "created_at": canonical.utc_iso(created_at),
        "from_decision": from_decision,
        "to_decision": to_decision,
        "reason": reason,
    }
    return _append(
        OverrideRecord,
        ChainHead.OVERRIDES,
        document,
        application_id=application_id,
        decision_record=decision_record,
        reviewer_id=reviewer.pk,
        created_at=created_at,
        from_decision=from_decision,
        to_decision=to_decision,
        reason=reason,
    )


OUTCOME_CSV_COLUMNS = ("application_id", "outcome", "outcome_date")
OUTCOME_IMPORT_MAX_ROWS = 100_000


def _latest_outcome(application_id: int) -> OutcomeRecord | None:
    return OutcomeRecord.objects.filter(application_id=application_id).order_by("-sequence").first()


def record_outcome(
    *, application_id: int, outcome: str, outcome_date: dt.date, recorded_by: Any, source: str
) -> OutcomeRecord | None:
    """Append one chained OutcomeRecord: application ``application_id`` was repaid or defaulted on ``outcome_date``.

    Refuses (``PermissionDenied``) anyone without the record-outcome right,
    and (``ValidationError``, keyed by field) an unknown outcome, a date in
    the future or before the decision, and an application that has no
    decision record. The same outcome and date recorded again is not
    appended twice (returns ``None``), so an import can be re-run; a
    different one is a correction and is appended (the latest counts).
    """
    if not roles.can_record_outcomes(recorded_by):
        raise PermissionDenied("Only admins may record loan outcomes.")
    if source not in OutcomeRecord.SOURCES:
        raise ValueError(f"unknown outcome source {source!r}")
    if outcome not in dict(OutcomeRecord.OUTCOMES):
        raise ValidationError({"outcome": f"Choose {OutcomeRecord.REPAID} or {OutcomeRecord.DEFAULTED}."})
    if not isinstance(outcome_date, dt.date) or isinstance(outcome_date, dt.datetime):
        raise ValidationError({"outcome_date": "Give the date as YYYY-MM-DD."})
    if outcome_date > timezone.localdate():
        raise ValidationError({"outcome_date": "The outcome date is in the future."})
    with transaction.atomic():
        decision_record = latest_decision_record(application_id=application_id)
        if decision_record is None:
            raise ValidationError({"application_id": f"Application {application_id} has no recorded decision."})
        decided_on = timezone.localdate(decision_record.created_at)
        if outcome_date < decided_on:
            raise ValidationError(
                {"outcome_date": f"The outcome date is before the decision ({decided_on.isoformat()})."}
            )
        latest = _latest_outcome(application_id)
        if latest is not None and (latest.outcome, latest.outcome_date) == (outcome, outcome_date):
            return None
        created_at = timezone.now()
        document = {
            "kind": "outcome",
            "application_id": application_id,
            "decision_record_sequence": decision_record.sequence,
            "decision_record_hash": decision_record.record_hash,
            "outcome": outcome,
            "outcome_date": outcome_date.isoformat(),
            "recorded_by_id": recorded_by.pk,
            "recorded_by_username": recorded_by.get_username(),
            "source": source,
            "created_at": canonical.utc_iso(created_at),
        }
        record = _append(
            OutcomeRecord,
            ChainHead.OUTCOMES,
            document,
            application_id=application_id,
            decision_record=decision_record,
            outcome=outcome,
            outcome_date=outcome_date,
            recorded_by_id=recorded_by.pk,
            source=source,
            created_at=created_at,
        )
        record_latest_outcome(application_id=application_id, outcome=outcome, using=transaction.get_connection().alias)
        return record


@dataclass(frozen=True)
class OutcomeImport:
    recorded: int
    unchanged: int


def import_outcomes_csv(*, text: str, recorded_by: Any, source: str) -> OutcomeImport:
    """Record every row of an outcome CSV (``application_id,outcome,outcome_date``), all or nothing.

    Every row is checked first; if any is wrong, ``ValidationError`` lists
    each wrong row by its line number and nothing is recorded. Rows equal to
    the outcome already in force are counted as unchanged.
    """
    if not roles.can_record_outcomes(recorded_by):
        raise PermissionDenied("Only admins may record loan outcomes.")
    reader = csv.DictReader(text.lstrip("\ufeff").splitlines())
    missing = [name for name in OUTCOME_CSV_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            f"The file needs the columns {', '.join(OUTCOME_CSV_COLUMNS)} (missing: {', '.join(missing)})."
        )
    rows: list[tuple[int, int, str, dt.date]] = []
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        if len(rows) >= OUTCOME_IMPORT_MAX_ROWS:
            errors.append(f"More than {OUTCOME_IMPORT_MAX_ROWS:,} rows: split the file.")
            break
        try:
            application_id = int((row["application_id"] or "").strip())
        except ValueError:
            errors.append(f"Line {line}: application_id {row['application_id']!r} is not a number.")
            continue
        outcome = (row["outcome"] or "").strip().upper()
        try:
            outcome_date = dt.date.fromisoformat((row["outcome_date"] or "").strip())
        except ValueError:
            errors.append(f"Line {line}: outcome_date {row['outcome_date']!r} is not a date (YYYY-MM-DD).")
            continue
        rows.append((line, application_id, outcome, outcome_date))
    if not rows and not errors:
        raise ValidationError("The file has no rows.")
    recorded = unchanged = 0
    try:
        with transaction.atomic():
            for line, application_id, outcome, outcome_date in rows:
                try:
                    with transaction.atomic():
                        record = record_outcome(
                            application_id=application_id,
                            outcome=outcome,
                            outcome_date=outcome_date,
                            recorded_by=recorded_by,
                            source=source,
                        )
                except ValidationError as error:
                    messages = [m for values in error.message_dict.values() for m in values]
                    errors.append(f"Line {line}: {' '.join(messages)}")
                    continue
                if record is None:
                    unchanged += 1
                else:
                    recorded += 1
            if errors:
                raise ValidationError(errors)
    except ValidationError as error:
        raise ValidationError(
            [f"Nothing was recorded: {len(error.messages)} row(s) need correcting.", *error.messages[:50]]
        ) from None
    return OutcomeImport(recorded=recorded, unchanged=unchanged)


def append_governance_record(
    *,
    action: str,
    model_version: str,
    model_sha256: str,
    policy_version: str,
    approve_below: float,
    decline_from: float,
    proposal_id: int,
    proposed_by: Any,
    proposed_at: dt.datetime,
    approved_by: Any,
    note: str,
    previous: dict[str, Any],
) -> GovernanceRecord:
    """Append one chained GovernanceRecord: an approved model activation or cut-off adoption.

    The caller (``governance.services``) has checked the four-eyes rule and
    switches the serving state in the same transaction, so the change and
    its record commit or roll back together. ``previous`` names what served
    before (model and policy version), so the chain alone tells the story.
    """
    if action not in dict(GovernanceRecord.ACTIONS):
        raise ValueError(f"unknown governance action {action!r}")
    created_at = timezone.now()
    document = {
        "kind": "governance",
        "action": action,
        "model_version": model_version,
        "model_sha256": model_sha256,
        "policy_version": policy_version,
        "approve_below": canonical.canonical_value(float(approve_below)),
        "decline_from": canonical.canonical_value(float(decline_from)),
        "proposal_id": proposal_id,
        "proposed_by_id": proposed_by.pk,
        "proposed_by_username": proposed_by.get_username(),
        "proposed_at": canonical.utc_iso(proposed_at),
        "approved_by_id": approved_by.pk,
        "approved_by_username": approved_by.get_username(),
        "note": note,
        "previous": previous,
        "created_at": canonical.utc_iso(created_at),
    }
    return _append(
        GovernanceRecord,
        ChainHead.GOVERNANCE,
        document,
        action=action,
        model_version=model_version,
        model_sha256=model_sha256,
        policy_version=policy_version,
        approve_below=float(approve_below),
        decline_from=float(decline_from),
        proposed_by_id=proposed_by.pk,
        approved_by_id=approved_by.pk,
        created_at=created_at,
    )


def case_record_document(
    *,
    application_id: int,
    decision_record_sequence: int,
    decision_record_hash: str,
    actor_id: int,
    actor_username: str,
    created_at: dt.datetime,
    action: str,
    from_state: str,
    to_state: str,
    from_decision: str,
    to_decision: str,
    proposed_decision: str,
    reason_code: str,
    reason_label: str,
    explanation: str,
    version: int,
    claim_expires_at: dt.datetime | None,
) -> dict[str, Any]:
    """A case record's hashed content before it is linked (``append_case_record``, ``audit.bulk``)."""
    return {
        "kind": "case",
        "application_id": application_id,
        "decision_record_sequence": decision_record_sequence,
        "decision_record_hash": decision_record_hash,
        "actor_id": actor_id,
        "actor_username": actor_username,
        "created_at": canonical.utc_iso(created_at),
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "from_decision": from_decision,
        "to_decision": to_decision,
        "proposed_decision": proposed_decision,
        "reason_code": reason_code,
        "reason_label": reason_label,
        "explanation": explanation,
        "version": version,
        "claim_expires_at": canonical.utc_iso(claim_expires_at) if claim_expires_at else None,
    }


def append_case_record(
    *,
    application_id: int,
    decision_record: DecisionRecord,
    actor: Any,
    action: str,
    from_state: str,
    to_state: str,
    from_decision: str,
    to_decision: str,
    proposed_decision: str = "",
    reason_code: str = "",
    reason_label: str = "",
    explanation: str = "",
    version: int,
    claim_expires_at: dt.datetime | None = None,
) -> CaseRecord:
    """Append one chained CaseRecord: one transition of an application's case.

    The caller (``applications.cases.apply_transition``) has taken the
    application's row lock and checked the move against ``audit.lifecycle``;
    call it inside that transaction so the record and the row's new state
    commit together or not at all. ``claim_expires_at`` (a CLAIM) is kept
    in the payload only.
    """
    created_at = timezone.now()
    document = case_record_document(
        application_id=application_id,
        decision_record_sequence=decision_record.sequence,
        decision_record_hash=decision_record.record_hash,
        actor_id=actor.pk,
        actor_username=actor.get_username(),
        created_at=created_at,
        action=action,
        from_state=from_state,
        to_state=to_state,
        from_decision=from_decision,
        to_decision=to_decision,
        proposed_decision=proposed_decision,
        reason_code=reason_code,
        reason_label=reason_label,
        explanation=explanation,
        version=version,
        claim_expires_at=claim_expires_at,
    )
    return _append(
        CaseRecord,
        ChainHead.CASES,
        document,
        application_id=application_id,
        decision_record=decision_record,
        actor_id=actor.pk,
        created_at=created_at,
        action=action,
        from_state=from_state,
        to_state=to_state,
        from_decision=from_decision,
        to_decision=to_decision,
        proposed_decision=proposed_decision,
        reason_code=reason_code,
        reason_label=reason_label,
        explanation=explanation,
        version=version,
    )


def append_role_change_record(
    *,
    user: Any,
    action: str,
    role: str,
    actor: Any | None,
    actor_name: str,
    channel: str,
    request: HttpRequest | None = None,
) -> RoleChangeRecord:
    """Record one role grant or revocation: a chained record plus its line in the access log.

    The caller (``staff.services``) has checked the rules and changes the
    role in the same transaction, so the change and its records commit or
    roll back together. Unlike ``log_access`` this raises on failure: a
    role change must not happen unrecorded. The access-log line puts the
    change in the auditor's timeline beside sign-ins; the chained record is
    what makes it tamper-evident (``verify_decisions`` walks the chain).
    """
    if action not in (RoleChangeRecord.GRANT, RoleChangeRecord.REVOKE):
        raise ValueError(f"unknown role change {action!r}")
    created_at = timezone.now()
    document = {
        "kind": "role_change",
        "user_id": user.pk,
        "username": user.get_username(),
        "action": action,
        "role": role,
        "actor_id": actor.pk if actor is not None else None,
        "actor_name": actor_name,
        "channel": channel,
        "created_at": canonical.utc_iso(created_at),
    }
    with transaction.atomic(savepoint=False):
        record = _append(
            RoleChangeRecord,
            ChainHead.ROLE_CHANGES,
            document,
            user_id=user.pk,
            action=action,
            role=role,
            actor_id=actor.pk if actor is not None else None,
            actor_name=actor_name,
            channel=channel,
            created_at=created_at,
        )
        AccessEvent.objects.create(
            created_at=created_at,
            user=actor,
            username=actor_name[:150],
            action=AccessEvent.ROLE_GRANTED if action == RoleChangeRecord.GRANT else AccessEvent.ROLE_REVOKED,
            target=f"{role} {'to' if action == RoleChangeRecord.GRANT else 'from'} {user.get_username()}"[:255],
            ip=_client_ip(request),
            method=(request.method or "")[:8] if request is not None else "",
            path=request.get_full_path()[:500] if request is not None else "",
        )
    return record


def _client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as the lockout sees it (trusted proxies only).

    ``accounts.client_ip`` follows ``DJANGO_TRUSTED_PROXY_COUNT`` so that
    behind a load balancer the log names the officer's address, not the
    balancer's; anything that is not an IP address is dropped.
    """
    address = request_client_ip(request)
    if address:
        try:
            validate_ipv46_address(address)
        except ValidationError:
            return None
    return address


def _counted_anonymous_event(*, action: str, ip: str | None, now: Any) -> bool:
    """Count one anonymous event in its (address, action, hour) tally; True if it is also stored singly.

    Runs in the caller's savepoint. The tally row is locked while counting,
    so concurrent requests from one client count exactly.
    """
    window_start = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)  # the hour
    key = {"window_start": window_start, "action": action, "ip": ip or ""}
    updated = AnonymousAccessTally.objects.filter(**key).update(count=F("count") + 1, last_at=now)
    if not updated:
        try:
            with transaction.atomic():
                AnonymousAccessTally.objects.create(**key, count=1, first_at=now, last_at=now)
        except IntegrityError:  # another request created it first
            AnonymousAccessTally.objects.filter(**key).update(count=F("count") + 1, last_at=now)
    count = AnonymousAccessTally.objects.filter(**key).values_list("count", flat=True).get()
    return count <= ANONYMOUS_EVENTS_PER_WINDOW


def log_access(
    *, user: Any, action: str, target: str = "", request: HttpRequest | None = None, username: str = ""
) -> AccessEvent | None:
    """Append one AccessEvent: who, when, what (action, target), IP, method, path.

    Signed-in users' events are always stored. Anonymous ones (failed and
    locked-out sign-ins, refused requests) are counted per client address,
    action and hour in ``AnonymousAccessTally``, and only the first
    ``ANONYMOUS_EVENTS_PER_WINDOW`` of each are stored as events, so one
    client cannot grow the permanent log without bound. Returns the event,
    or ``None`` if it was only counted.

    Never raises: a failure to log is logged loudly but must not turn an
    officer's page view into an error. (Callers that must not proceed
    without a log entry should write through ``AccessEvent`` themselves.)
    """
    authenticated = bool(getattr(user, "is_authenticated", False))

    def text(value: str, limit: int) -> str:
        return str(value).replace("\x00", "")[:limit]

    if request is not None and action == AccessEvent.PERMISSION_DENIED:
        request._audit_denial_logged = True  # read by audit.middleware
    action = text(action, 32)
    ip = _client_ip(request)
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a failed insert leaves the caller's transaction usable
            if not authenticated and not _counted_anonymous_event(action=action, ip=ip, now=now):
                return None
            return AccessEvent.objects.create(
                created_at=now,
                user=user if authenticated else None,
                username=text(user.get_username() if authenticated else username, 150),
                action=action,
                target=text(target, 255),
                ip=ip,
                method=text(request.method or "", 8) if request is not None else "",
                path=text(request.get_full_path(), 500) if request is not None else "",
            )
    except Exception:  # noqa: BLE001 - see docstring
        logger.exception("could not write access event %s %s", action, target)
        return None


# --- Verification runs (issue 16) ---------------------------------------------------------------

VERIFICATION_TASK = "audit.tasks.run_verification_job"
# A queued or running verification younger than this is the one in progress: starting another
# returns it (a worker killed mid-run leaves its row "running"; the queue hands the task out
# again after its lease, and a run older than this no longer blocks a new one).
VERIFICATION_IN_PROGRESS_HOURS = 2
# Problems kept in words on a run (the counts are exact whatever their number).
VERIFICATION_PROBLEMS_KEPT = 50


def start_verification(*, kind: str, replay: bool, requested_by: Any) -> tuple[VerificationRun, bool]:
    """Queue a verification run for the task queue's workers: (the run, whether it is a new one).

    One at a time: while one is queued or running, that one is returned. Never verifies here.
    """
    if kind not in (VerificationRun.INCREMENTAL, VerificationRun.FULL):
        raise ValueError(f"unknown verification kind {kind!r}")
    in_progress = selectors.verification_in_progress(within_hours=VERIFICATION_IN_PROGRESS_HOURS)
    if in_progress is not None:
        return in_progress, False
    run = VerificationRun.objects.create(
        kind=kind, replay=replay, requested_by=requested_by, channel="web", created_at=timezone.now()
    )
    enqueue_on_commit(VERIFICATION_TASK, run.pk, name=f"audit-verification-{run.pk}", group="audit-verification")
    return run, True


def verify_now(*, kind: str, replay: bool, channel: str = "command") -> tuple[VerificationRun, VerificationSummary]:
    """Verify in this process (``manage.py verify_decisions``), stored as a run like the queued ones."""
    run = VerificationRun.objects.create(kind=kind, replay=replay, channel=channel, created_at=timezone.now())
    return run, run_verification(run=run)


def latest_checkpoints() -> dict[str, Checkpoint] | None:
    """Per chain, the last record the latest passed verification covered; None when none passed yet."""
    passed = _latest_passed()
    if passed is None:
        return None
    return _checkpoints(passed)


def _latest_passed() -> VerificationRun | None:
    return VerificationRun.objects.filter(status=VerificationRun.PASSED).order_by("-finished_at", "-id").first()


def _checkpoints(passed: VerificationRun) -> dict[str, Checkpoint]:
    return {
        name: Checkpoint(chain["last_id"], chain["last_sequence"], chain["last_hash"])
        for name, chain in passed.chains.items()
        if chain.get("last_sequence") and chain.get("last_id") is not None
    }


def run_verification(*, run: VerificationRun) -> VerificationSummary:
    """Run ``run`` here and now, recording its progress and its result on the row.

    Incremental: from the checkpoints of the latest passed run (a problem found by a failed run
    is found again, never walked past); with no passed run yet, a full verification (and recorded
    as one). Raises what broke the run itself (database gone) after recording it as an error.
    """
    passed = _latest_passed() if run.kind == VerificationRun.INCREMENTAL else None
    since = _checkpoints(passed) if passed is not None else None
    if run.kind == VerificationRun.INCREMENTAL and since is None:
        run.kind = VerificationRun.FULL
    heads = dict(ChainHead.objects.values_list("name", "sequence"))
    total = sum(
        max(0, sequence - (since or {}).get(name, Checkpoint(0, 0, "")).sequence) for name, sequence in heads.items()
    )
    run.status, run.started_at, run.records_total, run.records_done = VerificationRun.RUNNING, timezone.now(), total, 0
    run.save(update_fields=["kind", "status", "started_at", "records_total", "records_done"])
    progress = _ProgressWriter(run)
    try:
        summary = verify_audit_trail(replay=run.replay, since=since, progress=progress)
        run.figures = _figures(summary, passed.figures if passed is not None else None, since)
    except Exception as error:
        logger.exception("Verification run %s broke", run.pk)
        run.status, run.finished_at, run.error = (
            VerificationRun.ERROR,
            timezone.now(),
            f"{type(error).__name__}: {error}",
        )
        run.save(update_fields=["status", "finished_at", "error"])
        raise
    finally:
        progress.close()
    _record_result(run, summary, since or {})
    return summary


def _figures(
    summary: VerificationSummary, previous: dict | None, since: dict[str, Checkpoint] | None = None
) -> dict[str, Any]:
    """The audit page's aggregates after this run (``selectors.trail_figures`` counts the same from scratch).

    Decisions: the run's tally of the records it walked, added to ``previous`` (the figures of the run an
    incremental one started from). Overrides: a full run tallied them while comparing the reviewed
    applications; an incremental one keeps the previous figures unless case or override records were
    added, and then adds those after the checkpoints in ``since`` (``selectors.override_figures_since``).
    """
    tally: dict[tuple, list] = {}
    for row in (previous or {}).get("decisions", []) if summary.incremental else []:
        tally[tuple(row[:4])] = list(row[4:])
    for row in summary.decision_figures():
        key, (count, first, last) = tuple(row[:4]), row[4:]
        if key in tally:
            old = tally[key]
            tally[key] = [old[0] + count, min(old[1], first), max(old[2], last)]
        else:
            tally[key] = [count, first, last]
    if summary.reviewer_tally is not None:
        names = dict(get_user_model().objects.filter(pk__in=list(summary.reviewer_tally)).values_list("pk", "username"))
        reviewers = [[names.get(pk, str(pk)), n, apps] for pk, (n, apps) in summary.reviewer_tally.items()]
        overridden = summary.overridden_tally or {}
    elif previous is not None and not summary.cases.checked and not summary.overrides.checked:
        reviewers, overridden = previous.get("reviewers", []), previous.get("overridden", {})
    elif previous is not None and since is not None and "reviewers" in previous:
        reviewers, overridden = selectors.override_figures_since(
            reviewers=previous["reviewers"],
            overridden=previous.get("overridden", {}),
            case_after=since[ChainHead.CASES].sequence if ChainHead.CASES in since else 0,
            override_after=since[ChainHead.OVERRIDES].sequence if ChainHead.OVERRIDES in since else 0,
        )
    else:
        reviewers, overridden = selectors.override_figures()
    return {
        "decisions": [[*key, *value] for key, value in sorted(tally.items())],
        "decision_total": sum(value[0] for value in tally.values()),
        "reviewers": sorted(reviewers),
        "overridden": overridden,
    }


class _ProgressWriter:
    """Writes a running verification's progress where the auditor's page can read it.

    SQLite: on the verifying connection itself (it reads outside any transaction). PostgreSQL: the
    verification reads inside one read-only snapshot, so progress goes through a connection of its
    own (not when the caller already holds a transaction, as tests do: the run row would not be
    visible to it).
    """

    def __init__(self, run: VerificationRun) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        self.run, self.done, self.side = run, 0, None
        self.enabled = connection.vendor == "sqlite" or not connection.in_atomic_block
        if connection.vendor != "sqlite" and self.enabled:
            self.side = connections.create_connection(DEFAULT_DB_ALIAS)

    def __call__(self, walked: int) -> None:
        self.done += walked
        if not self.enabled:
            return
        if self.side is None:
            VerificationRun.objects.filter(pk=self.run.pk).update(records_done=self.done)
            return
        quote = self.side.ops.quote_name
        with self.side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(VerificationRun._meta.db_table)} SET {quote('records_done')} = %s WHERE {quote('id')} = %s",
                [self.done, self.run.pk],
            )

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def _record_result(run: VerificationRun, summary: VerificationSummary, since: dict[str, Checkpoint]) -> None:
    chains = {}
    for name, report in summary.chain_reports().items():
        checkpoint = since.get(name)
        chains[name] = {
            "checked": report.checked,
            "problems": report.problem_count,
            "ok": report.ok,
            "from_sequence": checkpoint.sequence if checkpoint else 0,
            "last_id": report.last_id,
            "last_sequence": report.head_sequence,
            "last_hash": report.head_hash,
        }
    run.status = VerificationRun.PASSED if summary.ok else VerificationRun.FAILED
    run.finished_at = timezone.now()
    run.records_checked = sum(report.checked for report in summary.chain_reports().values())
    run.records_done = run.records_checked
    run.applications_checked = summary.applications_checked
    run.replayed = summary.replayed
    run.problem_count = summary.problem_total
    run.chains = chains
    run.problems = _problems_with_applications(summary)
    run.summary = summary.as_dict()
    run.save()


def _problems_with_applications(summary: VerificationSummary) -> list[dict[str, Any]]:
    """The listed problems in words, each with the application it concerns where a record names one."""
    entries = summary.problem_entries()[:VERIFICATION_PROBLEMS_KEPT]
    record_models = {
        ChainHead.DECISIONS: DecisionRecord,
        ChainHead.OVERRIDES: OverrideRecord,
        ChainHead.OUTCOMES: OutcomeRecord,
        ChainHead.CASES: CaseRecord,
    }
    applications: dict[tuple[str, int], int] = {}
    for name, model in record_models.items():
        ids = {record_id for chain, _, record_id, _ in entries if chain == name and record_id is not None}
        for record_id, application_id in model.objects.filter(id__in=ids).values_list("id", "application_id"):
            applications[(name, record_id)] = application_id
    return [
        {"text": text, "application_id": application_id or applications.get((chain, record_id))}
        for chain, text, record_id, application_id in entries
    ]
