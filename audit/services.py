"""Write side of the audit trail (HackSoft style: keyword-only services).

Every function here appends; nothing in the audit app ever updates or
deletes a record. The one value updated in place is a counter, not a
record: ``AnonymousAccessTally.count`` (see ``log_access``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.client_ip import client_ip as request_client_ip
from audit import canonical
from audit.models import (
    ANONYMOUS_EVENTS_PER_WINDOW,
    AccessEvent,
    AnonymousAccessTally,
    CaseRecord,
    ChainedRecord,
    ChainHead,
    DecisionRecord,
    OverrideRecord,
    RoleChangeRecord,
)
from infrastructure.rows import insert_row
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
    }
    columns = {
        "officer_id": officer.pk,
        "probability_of_default": probability,
        "decision": result.decision,
        "approve_below": float(result.approve_below),
        "decline_from": float(result.decline_from),
        "model_version": result.model_version,
        "model_sha256": result.model_sha256,
        "outside_experience": bool(result.outside_experience),
    }
    return PreparedDecision(document=document, columns=columns)


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
    return _append(
        DecisionRecord,
        ChainHead.DECISIONS,
        document,
        application_id=application_id,
        created_at=created_at,
        **prepared.columns,
    )


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
    document = {
        "kind": "case",
        "application_id": application_id,
        "decision_record_sequence": decision_record.sequence,
        "decision_record_hash": decision_record.record_hash,
        "actor_id": actor.pk,
        "actor_username": actor.get_username(),
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
