"""Chained records in bulk, for generated demo and benchmark data (``manage.py seed_demo``).

The same records, links and hashes as ``audit.services`` appends one at a
time: each decision record's payload is ``canonical.dumps`` of the document
``prepare_decision_record`` builds, with the application, officer, time and
chain links filled in; each case record's is ``case_record_document``'s.
``verify_decisions`` (with ``--replay``) checks them like any other.

Speed (a million records in minutes): many applications share one scoring
(the same inputs under the same model), so ``DecisionTemplate`` serialises
that shared document once, with markers where the per-record values go,
and each record's payload is the template with those values put in: a
string format instead of a sorted JSON dump. ``tests/audit/test_bulk.py``
checks the result equals ``canonical.dumps`` of the full document. Rows go
in with ``infrastructure.bulk.insert_many`` (COPY on PostgreSQL), inside
the caller's transaction, under the chain head's lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit import canonical
from audit.latest import advance_latest_decisions
from audit.models import CaseRecord, ChainHead, DecisionRecord
from audit.services import PreparedDecision, _lock_head, _move_head, case_record_document
from infrastructure.bulk import insert_many, next_primary_key, sync_primary_key_sequence

# The document fields that differ between records sharing a scoring, in the order canonical JSON puts them.
_PER_RECORD = (
    "applicant_reference",
    "application_id",
    "created_at",
    "officer_id",
    "officer_username",
    "previous_hash",
    "sequence",
)
DECISION_COLUMNS = (
    "id",
    "sequence",
    "previous_hash",
    "record_hash",
    "payload",
    "created_at",
    "application_id",
    "officer_id",
    "probability_of_default",
    "decision",
    "approve_below",
    "decline_from",
    "model_version",
    "model_sha256",
    "outside_experience",
)
CASE_COLUMNS = (
    "id",
    "sequence",
    "previous_hash",
    "record_hash",
    "payload",
    "created_at",
    "application_id",
    "decision_record_id",
    "actor_id",
    "action",
    "from_state",
    "to_state",
    "from_decision",
    "to_decision",
    "proposed_decision",
    "reason_code",
    "reason_label",
    "explanation",
    "version",
)


class DecisionTemplate:
    """One scoring's decision record, serialised once; ``payload`` fills in one record's own values."""

    def __init__(self, prepared: PreparedDecision) -> None:
        template = canonical.CanonicalTemplate(prepared.document, _PER_RECORD)
        if template.names != _PER_RECORD:
            raise ValueError(f"unexpected order of the per-record values: {template.names!r}")
        self._format = template.format
        columns = prepared.columns
        self.values = (
            columns["probability_of_default"],
            columns["decision"],
            columns["approve_below"],
            columns["decline_from"],
            columns["model_version"],
            columns["model_sha256"],
            columns["outside_experience"],
        )

    def payload(
        self,
        *,
        applicant_reference: str,
        application_id: int,
        created_at: str,
        officer_id: int,
        officer_username: str,
        previous_hash: str,
        sequence: int,
    ) -> str:
        """The canonical payload; the texts come JSON-encoded (``json_text``), ``created_at`` from ``utc_iso``."""
        return self._format % (
            applicant_reference,
            application_id,
            f'"{created_at}"',
            officer_id,
            officer_username,
            f'"{previous_hash}"',
            sequence,
        )


def _same(value: Any) -> Any:
    return value


# Kept here for its callers (operations.demo_data): the shared one is audit.canonical's.
json_text = canonical.json_text


@dataclass(frozen=True)
class BulkDecision:
    """One decision record to append: its scoring's template and its own values."""

    template: DecisionTemplate
    application_id: int
    officer_id: int
    officer_username_json: str  # json_text(username)
    applicant_reference_json: str  # json_text(reference)
    created_at: dt.datetime


@dataclass(frozen=True)
class LinkedDecision:
    """Where a decision record landed: what a case record binds to."""

    id: int
    sequence: int
    record_hash: str


@dataclass(frozen=True)
class ChainEnd:
    """A chain's last record (sequence and hash; 0 and the genesis hash when empty) and its next primary key."""

    next_id: int
    sequence: int
    record_hash: str


def chain_end(name: str, model: type[DecisionRecord] | type[CaseRecord], *, using: str = "default") -> ChainEnd:
    """Where appending to chain ``name`` would start now (read under the head's lock, released on return)."""
    with transaction.atomic(using=using):
        sequence, previous = _lock_head(name, model)
        return ChainEnd(next_primary_key(model, using=using), sequence, previous)


def link_decision_records(
    *, items: Sequence[tuple], end: ChainEnd, adapt: Callable[[dt.datetime], Any] = _same
) -> tuple[list[tuple], list[LinkedDecision], ChainEnd]:
    """Decision record rows (``DECISION_COLUMNS``) for ``items`` appended after ``end``; no database access.

    ``items``: ``(template, application_id, officer_id, officer_username_json,
    applicant_reference_json, created_at)``. Links and hashes are computed in
    chain order; ``adapt`` turns ``created_at`` into what the database stores
    (``infrastructure.bulk.column_value``). Returns the rows, where each record
    landed and the chain's new end.
    """
    sha256 = hashlib.sha256
    utc_iso = canonical.utc_iso
    record_id, sequence, previous = end.next_id, end.sequence, end.record_hash
    rows: list[tuple] = []
    linked: list[LinkedDecision] = []
    for template, application_id, officer_id, username_json, reference_json, created_at in items:
        sequence += 1
        payload = template.payload(
            applicant_reference=reference_json,
            application_id=application_id,
            created_at=utc_iso(created_at),
            officer_id=officer_id,
            officer_username=username_json,
            previous_hash=previous,
            sequence=sequence,
        )
        digest = sha256(payload.encode("ascii")).hexdigest()
        rows.append(
            (
                record_id,
                sequence,
                previous,
                digest,
                payload,
                adapt(created_at),
                application_id,
                officer_id,
                *template.values,
            )
        )
        linked.append(LinkedDecision(record_id, sequence, digest))
        previous = digest
        record_id += 1
    return rows, linked, ChainEnd(record_id, sequence, previous)


def _check_head(name: str, model: type[DecisionRecord] | type[CaseRecord], expected: ChainEnd) -> None:
    sequence, previous = _lock_head(name, model)
    if (sequence, previous) != (expected.sequence, expected.record_hash):
        raise RuntimeError(
            f"the {name} chain moved while its records were being prepared "
            f"(head {sequence}, expected {expected.sequence}): someone else is writing to this database"
        )


def write_decision_records(
    *, rows: Sequence[tuple], after: ChainEnd, until: ChainEnd, using: str = "default", prepared: bool = False
) -> None:
    """Insert rows made by ``link_decision_records`` from ``after``; the chain's head moves to ``until``.

    In the caller's transaction (or its own), under the head's lock; refuses if the head is not at
    ``after`` (another writer). ``prepared``: the rows' times are already the database's form.
    """
    if not rows:
        return
    with transaction.atomic(using=using, savepoint=False):
        _check_head(ChainHead.DECISIONS, DecisionRecord, after)
        insert_many(DecisionRecord, DECISION_COLUMNS, rows, using=using, prepared=prepared)
        sync_primary_key_sequence(DecisionRecord, using=using)
        advance_latest_decisions(first_sequence=after.sequence + 1, last_sequence=until.sequence, using=using)
        _move_head(ChainHead.DECISIONS, until.sequence, until.record_hash)


def append_decision_records_in_bulk(*, items: Sequence[BulkDecision], using: str = "default") -> list[LinkedDecision]:
    """Link, hash and insert ``items`` in order at the end of the decision chain; move its head once.

    Runs in the caller's transaction (or its own); the chain head stays
    locked until that transaction ends.
    """
    if not items:
        return []
    with transaction.atomic(using=using, savepoint=False):
        end = chain_end(ChainHead.DECISIONS, DecisionRecord, using=using)
        rows, linked, until = link_decision_records(
            items=[
                (
                    item.template,
                    item.application_id,
                    item.officer_id,
                    item.officer_username_json,
                    item.applicant_reference_json,
                    item.created_at,
                )
                for item in items
            ],
            end=end,
        )
        write_decision_records(rows=rows, after=end, until=until, using=using)
    return linked


@dataclass
class BulkCaseRecord:
    """One case transition to append (the arguments of ``append_case_record``, with its time)."""

    application_id: int
    decision: LinkedDecision | None  # set before appending
    actor_id: int
    actor_username: str
    created_at: dt.datetime
    action: str
    from_state: str
    to_state: str
    from_decision: str
    to_decision: str
    version: int
    proposed_decision: str = ""
    reason_code: str = ""
    reason_label: str = ""
    explanation: str = ""
    claim_expires_at: dt.datetime | None = None


def link_case_records(
    *, items: Sequence[BulkCaseRecord], end: ChainEnd, adapt: Callable[[dt.datetime], Any] = _same
) -> tuple[list[tuple], ChainEnd]:
    """Case record rows (``CASE_COLUMNS``) for ``items`` appended after ``end``, in chain order; no database access."""
    rows: list[tuple] = []
    record_id, sequence, previous = end.next_id, end.sequence, end.record_hash
    for item in items:
        sequence += 1
        document = case_record_document(
            application_id=item.application_id,
            decision_record_sequence=item.decision.sequence,
            decision_record_hash=item.decision.record_hash,
            actor_id=item.actor_id,
            actor_username=item.actor_username,
            created_at=item.created_at,
            action=item.action,
            from_state=item.from_state,
            to_state=item.to_state,
            from_decision=item.from_decision,
            to_decision=item.to_decision,
            proposed_decision=item.proposed_decision,
            reason_code=item.reason_code,
            reason_label=item.reason_label,
            explanation=item.explanation,
            version=item.version,
            claim_expires_at=item.claim_expires_at,
        )
        document["sequence"] = sequence
        document["previous_hash"] = previous
        payload = canonical.dumps(document)
        digest = canonical.record_hash(payload)
        rows.append(
            (
                record_id,
                sequence,
                previous,
                digest,
                payload,
                adapt(item.created_at),
                item.application_id,
                item.decision.id,
                item.actor_id,
                item.action,
                item.from_state,
                item.to_state,
                item.from_decision,
                item.to_decision,
                item.proposed_decision,
                item.reason_code,
                item.reason_label,
                item.explanation,
                item.version,
            )
        )
        previous = digest
        record_id += 1
    return rows, ChainEnd(record_id, sequence, previous)


def write_case_records(
    *, rows: Sequence[tuple], after: ChainEnd, until: ChainEnd, using: str = "default", prepared: bool = False
) -> None:
    """Insert rows made by ``link_case_records`` from ``after``; the head moves to ``until`` (as for decisions)."""
    if not rows:
        return
    with transaction.atomic(using=using, savepoint=False):
        _check_head(ChainHead.CASES, CaseRecord, after)
        insert_many(CaseRecord, CASE_COLUMNS, rows, using=using, prepared=prepared)
        sync_primary_key_sequence(CaseRecord, using=using)
        _move_head(ChainHead.CASES, until.sequence, until.record_hash)


def append_case_records_in_bulk(*, items: Sequence[BulkCaseRecord], using: str = "default") -> int:
    """Link, hash and insert case records in order at the end of the case chain; returns how many."""
    if not items:
        return 0
    with transaction.atomic(using=using, savepoint=False):
        end = chain_end(ChainHead.CASES, CaseRecord, using=using)
        rows, until = link_case_records(items=items, end=end)
        write_case_records(rows=rows, after=end, until=until, using=using)
    return len(rows)
