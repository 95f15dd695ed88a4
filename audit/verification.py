"""Verify the audit trail: the hash chains, and (optionally) replay every decision.

One plain function, ``verify_audit_trail``, behind ``manage.py
verify_decisions`` and the verification runs the auditor starts from
``/audit/`` (``audit.services.run_verification``). It streams the records in
sequence order (raw tuples from a chunked, server-side cursor: constant
memory) and checks, for each one: that its sequence follows its
predecessor's, that it links to its predecessor's hash, that its hash is the
SHA-256 of its stored payload, and that the queryable columns still say what
the payload says (``ChainSpec``: one table of agreements per chain; only the
checked keys of the payload are decoded, by msgspec). The chain head must
match the last record (a truncated tail), and every scored application must
show the outcome its latest records say. With ``replay`` it re-scores every
stored feature vector with the recorded model version — loaded by
``scoring`` only after its SHA-256 check — and compares the probability bit
for bit. Given the checkpoints of an earlier passed verification
(``since``), it re-checks each checkpoint record and walks only the records
after it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import json
import multiprocessing
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec
import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Case, IntegerField, Value, When

from audit import canonical, lifecycle
from audit.latest import mismatched_applications
from audit.models import (
    CaseRecord,
    ChainedRecord,
    ChainHead,
    DecisionRecord,
    GovernanceRecord,
    OutcomeRecord,
    OverrideRecord,
    RoleChangeRecord,
)
from infrastructure.id_lists import ids_condition
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.results import DECISIONS as DECISIONS_MADE
from scoring.results import REVIEW
from scoring.services import MANIFEST_POLICY_PREFIX, decide, replay_outside_experience, replay_probabilities

CHUNK_SIZE = 5000
# LoanApplication.Status.SCORED, as stored: the only applications with a decision to compare.
SCORED = "SCORED"
REPLAY_BATCH = 20000
MAX_LISTED = 20
# Records walked between two progress reports of a running verification.
PROGRESS_EVERY = 50_000
# PostgreSQL: no JIT compilation for this transaction's queries. Each whole-table query crosses the JIT cost
# thresholds and spent 0.3-1.2 s compiling (EXPLAIN ANALYZE at 200,000 applications); the never-reviewed
# applications' lateral join ran in 1.5-1.7 s without JIT against 2.0-2.3 s with it.
NO_JIT = "SET LOCAL jit = off"
# A full verification without replay walks the decision chain (by sequence ranges) and the case chain in
# worker processes once the decision chain is this long: each record's checks need only the record itself,
# and each range's first link is checked against the range before it (``_merge_parts``).
PARALLEL_FROM = 20_000
# An incremental run compares the applications its records touched this many at a time (five statements
# each: 5,000 cost 6% less CPU than 1,000 at 10,000 applications; SQLite takes up to 32,766 parameters).
TOUCHED_CHUNK = 5000
WORKERS = 2
RANGES_PER_WORKER = 2


@dataclass
class ChainReport:
    checked: int = 0
    ok: bool = True
    first_bad_id: int | None = None
    first_bad_sequence: int | None = None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    head_sequence: int = 0
    head_hash: str = canonical.GENESIS_HASH
    # The record each listed problem is about (None: the chain as a whole, e.g. its head).
    problem_record_ids: list[int | None] = field(default_factory=list)
    # The last record walked (with head_sequence and head_hash: the checkpoint a passed run stores).
    last_id: int | None = None

    def fail(self, record_id: int | None, sequence: int | None, message: str) -> None:
        if self.ok:
            self.first_bad_id, self.first_bad_sequence = record_id, sequence
        self.ok = False
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(message)
            self.problem_record_ids.append(record_id)


@dataclass
class VerificationSummary:
    decisions: ChainReport
    overrides: ChainReport
    outcomes: ChainReport = field(default_factory=ChainReport)
    cases: ChainReport = field(default_factory=ChainReport)
    role_changes: ChainReport = field(default_factory=ChainReport)
    governance: ChainReport = field(default_factory=ChainReport)
    replay_requested: bool = False
    # Only the records after stored checkpoints (and the applications they touch) were verified.
    incremental: bool = False
    # The audit page's aggregates, tallied while walking (``figures()``): decisions per (model version,
    # SHA-256, decision, outside experience) -> [count, first time, last time] of the records walked; and,
    # for a full run, per reviewer (user id) [changes of a decision in force, applications], and per model
    # version the applications whose decision a reviewer changed.
    decision_tally: dict[tuple, list] = field(default_factory=dict)
    reviewer_tally: dict[int, list[int]] | None = None
    overridden_tally: dict[str, int] | None = None
    replayed: int = 0
    mismatches: int = 0
    mismatch_ids: list[int] = field(default_factory=list)
    # Replayed decisions (the training-range guard, then the cut-offs of the policy they name) or cut-offs
    # that differ from the recorded ones.
    policy_mismatches: int = 0
    policy_problems: list[str] = field(default_factory=list)
    policy_problem_ids: list[int] = field(default_factory=list)
    model_errors: dict[str, str] = field(default_factory=dict)
    # Scored applications whose shown outcome disagrees with their audit records.
    applications_checked: int = 0
    application_mismatches: int = 0
    application_problems: list[str] = field(default_factory=list)
    # The first MAX_LISTED mismatching application ids, for the auditor's links.
    application_mismatch_ids: list[int] = field(default_factory=list)

    def application_problem(self, app_id: int, problem: str) -> None:
        """Count a scored application that disagrees with its records; list it (with ``problem`` in words)
        while fewer than MAX_LISTED are listed."""
        self.application_mismatches += 1
        if len(self.application_problems) < MAX_LISTED:
            self.application_problems.append(f"application id={app_id}: {problem}")
            self.application_mismatch_ids.append(app_id)

    @property
    def ok(self) -> bool:
        return (
            self.decisions.ok
            and self.overrides.ok
            and self.outcomes.ok
            and self.cases.ok
            and self.role_changes.ok
            and self.governance.ok
            and self.mismatches == 0
            and self.policy_mismatches == 0
            and not self.model_errors
            and self.application_mismatches == 0
        )

    def chain_reports(self) -> dict[str, ChainReport]:
        """Each chain's report by its head's name, in verification order."""
        return {
            ChainHead.GOVERNANCE: self.governance,
            ChainHead.DECISIONS: self.decisions,
            ChainHead.OVERRIDES: self.overrides,
            ChainHead.OUTCOMES: self.outcomes,
            ChainHead.ROLE_CHANGES: self.role_changes,
            ChainHead.CASES: self.cases,
        }

    @property
    def application_links(self) -> list[tuple[int, str]]:
        """(application id, problem) for the auditor's page, which links each to its application."""
        return [
            (app_id, problem.split(": ", 1)[-1])
            for app_id, problem in zip(self.application_mismatch_ids, self.application_problems)
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary; its first five keys are a published contract (verify_decisions, README)."""
        return {
            "checked": self.decisions.checked,
            "chain_ok": self.decisions.ok,
            "first_bad_id": self.decisions.first_bad_id,
            "replayed": self.replayed,
            "mismatches": self.mismatches,
            "overrides_checked": self.overrides.checked,
            "overrides_chain_ok": self.overrides.ok,
            "first_bad_override_id": self.overrides.first_bad_id,
            "outcomes_checked": self.outcomes.checked,
            "outcomes_chain_ok": self.outcomes.ok,
            "first_bad_outcome_id": self.outcomes.first_bad_id,
            "cases_checked": self.cases.checked,
            "cases_chain_ok": self.cases.ok,
            "first_bad_case_id": self.cases.first_bad_id,
            "role_changes_checked": self.role_changes.checked,
            "role_changes_chain_ok": self.role_changes.ok,
            "first_bad_role_change_id": self.role_changes.first_bad_id,
            "governance_checked": self.governance.checked,
            "governance_chain_ok": self.governance.ok,
            "first_bad_governance_id": self.governance.first_bad_id,
            "policy_mismatches": self.policy_mismatches,
            "model_errors": self.model_errors,
            "applications_checked": self.applications_checked,
            "application_mismatches": self.application_mismatches,
            "incremental": self.incremental,
            "ok": self.ok,
        }

    def problems(self) -> list[str]:
        lines = [f"decision chain: {p}" for p in self.decisions.problems]
        lines += [f"override chain: {p}" for p in self.overrides.problems]
        lines += [f"outcome chain: {p}" for p in self.outcomes.problems]
        lines += [f"case chain: {p}" for p in self.cases.problems]
        lines += [f"role change chain: {p}" for p in self.role_changes.problems]
        lines += [f"governance chain: {p}" for p in self.governance.problems]
        lines += [f"decision policy: {p}" for p in self.policy_problems]
        lines += [f"model {version}: {message}" for version, message in sorted(self.model_errors.items())]
        lines += [f"application: {p}" for p in self.application_problems]
        if self.mismatches:
            shown = ", ".join(str(i) for i in self.mismatch_ids)
            lines.append(
                f"replay: {self.mismatches} probabilities differ from the recorded ones (ids {shown}"
                f"{', …' if self.mismatches > len(self.mismatch_ids) else ''})"
            )
        return lines

    def decision_figures(self) -> list[list]:
        """The decision tally as ``audit.selectors.trail_figures`` writes it (times as the payloads do)."""
        return [
            [version, sha256, decision, bool(outside), count, _time_text(first), _time_text(last)]
            for (version, sha256, decision, outside), (count, first, last) in self.decision_tally.items()
        ]

    @property
    def problem_total(self) -> int:
        """Every problem found, listed or not."""
        return (
            sum(report.problem_count for report in self.chain_reports().values())
            + self.policy_mismatches
            + self.mismatches
            + len(self.model_errors)
            + self.application_mismatches
        )

    def problem_entries(self) -> list[tuple[str, str, int | None, int | None]]:
        """The listed problems as (chain head name or "replay"/"application", text, decision-chain-kind record id,
        application id): the record is in ``chain``'s table; the application is named directly when known."""
        entries: list[tuple[str, str, int | None, int | None]] = []
        labels = {spec.head: spec.label for spec in CHAINS}
        for name, report in self.chain_reports().items():
            for text, record_id in zip(report.problems, report.problem_record_ids, strict=True):
                entries.append((name, f"{labels[name]}: {text}", record_id, None))
        for text, record_id in zip(self.policy_problems, self.policy_problem_ids, strict=True):
            entries.append((ChainHead.DECISIONS, f"decision policy: {text}", record_id, None))
        for version, message in sorted(self.model_errors.items()):
            entries.append(("replay", f"model {version}: {message}", None, None))
        for record_id in self.mismatch_ids:
            entries.append(
                (
                    ChainHead.DECISIONS,
                    f"replay: decision record id={record_id}: the probability differs from the recorded one",
                    record_id,
                    None,
                )
            )
        for app_id, text in zip(self.application_mismatch_ids, self.application_problems, strict=True):
            entries.append(("application", text.split(": ", 1)[-1], None, app_id))
        return entries


def _float_hex(value: Any) -> str | None:
    return None if value is None else float(value).hex()


def _time_text(value: Any) -> str | None:
    """A stored time as the payload writes it; SQLite hands back text, PostgreSQL a datetime."""
    if value.__class__ is str:
        # Django's SQLite form, naive UTC: "YYYY-MM-DD HH:MM:SS.ffffff" (hot path: no parsing).
        if value[10:11] == " ":
            if len(value) == 26:
                return f"{value[:10]}T{value[11:]}+00:00"
            if len(value) == 19:  # no microseconds: str() of a datetime leaves them out
                return f"{value[:10]}T{value[11:]}.000000+00:00"
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return canonical.utc_iso(moment)
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite's converter: naive UTC, as Django stores it
        return value.isoformat(timespec="microseconds") + "+00:00"
    return canonical.utc_iso(value)


def _date_text(value: Any) -> str | None:
    return None if value is None else value if value.__class__ is str else value.isoformat()


# How a column is turned into what its payload key holds (None: as it is).
SAME, FLOAT, TIME, DATE, BOOL = None, _float_hex, _time_text, _date_text, bool


@dataclass(frozen=True)
class Agreement:
    """Columns that must say what their payload keys say; ``label`` names the problem ("column thresholds …")."""

    label: str
    pairs: tuple[tuple[str, str], ...]  # (payload key, column)
    convert: Callable[[Any], Any] | None = SAME


def _agree(label: str, *names: str, convert: Callable[[Any], Any] | None = SAME) -> Agreement:
    """Key and column of the same name (``application_id`` is both)."""
    return Agreement(label, tuple((name, name) for name in names), convert)


@dataclass(frozen=True)
class ChainSpec:
    """One hash chain: its table, its head, and what its columns must agree with in the payload, in check order.

    ``extra_keys`` are payload keys read for other checks (bindings, replay); ``extra_columns`` likewise.
    ``rule`` is a check of the payload alone (governance: four eyes).
    """

    head: str
    label: str
    model: type[ChainedRecord]
    agreements: tuple[Agreement, ...]
    extra_keys: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    rule: Callable[[Any], str | None] | None = None

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The agreed and extra columns, in order, each once; rows carry them after id, sequence, links, payload."""
        names: list[str] = []
        for agreement in self.agreements:
            for _, column in agreement.pairs:
                if column not in names:
                    names.append(column)
        return tuple(names) + tuple(c for c in self.extra_columns if c not in names)

    @cached_property
    def position(self) -> dict[str, int]:
        """Column name -> index in a walked row."""
        return {name: 5 + index for index, name in enumerate(self.columns)}

    def decoder(self, *more_keys: str) -> msgspec.json.Decoder:
        """Decodes a payload into only the keys checked (the rest of the document is parsed, not built)."""
        keys = ["sequence", "previous_hash"]
        for agreement in self.agreements:
            keys += [key for key, _ in agreement.pairs if key not in keys]
        keys += [key for key in (*self.extra_keys, *more_keys) if key not in keys]
        fields = [(key, Any, None) for key in keys]
        return msgspec.json.Decoder(msgspec.defstruct(f"{self.head.title()}Document", fields))

    @cached_property
    def plain_decoder(self) -> msgspec.json.Decoder:
        return self.decoder()

    @cached_property
    def _comparison(self) -> tuple[Callable[[Any], tuple], Callable[[tuple], tuple], tuple]:
        """(payload side, column side, [(label, first index, end index)]): the fast path.

        Both sides become flat tuples compared at once; only on a difference is the first differing
        agreement looked for. Each side is one generated function (a tuple display over the
        spec's own keys and positions, compiled once per chain), measured 3x faster per record
        than a loop over the agreements.
        """
        recorded, stored, spans, names = [], [], [], {}
        for agreement in self.agreements:
            start = len(recorded)
            convert = ""
            if agreement.convert is not None:
                convert = f"_c{len(names)}"
                names[convert] = agreement.convert
            for key, column in agreement.pairs:
                at = self.position[column]
                recorded.append(f"bool(d.{key})" if agreement.convert is bool else f"d.{key}")
                if agreement.convert is FLOAT:  # inline: three per decision record
                    stored.append(f"(None if r[{at}] is None else float(r[{at}]).hex())")
                else:
                    stored.append(f"{convert}(r[{at}])")
            spans.append((agreement.label, start, len(recorded)))
        namespace: dict[str, Any] = dict(names)
        exec(  # noqa: S102 - source built only from this spec's constant key names and positions
            f"def recorded(d):\n    return ({', '.join(recorded)},)\n"
            f"def stored(r):\n    return ({', '.join(stored)},)\n",
            namespace,
        )
        return namespace["recorded"], namespace["stored"], tuple(spans)

    @cached_property
    def _stored_rendered(self) -> Callable[[tuple], tuple]:
        """The column side of ``_comparison`` for a row whose times the database rendered (``_select``'s
        ``rendered``): the same tuple, with each time column taken as it is instead of through ``_time_text``."""
        stored, names = [], {}
        for agreement in self.agreements:
            for _, column in agreement.pairs:
                at = self.position[column]
                if agreement.convert is FLOAT:
                    stored.append(f"(None if r[{at}] is None else float(r[{at}]).hex())")
                elif agreement.convert is TIME:  # rendered, or "" (never equal: the record is read again)
                    stored.append(f'(r[{at}] if r[{at}][10:11] == "T" else _unrendered)')
                elif agreement.convert is SAME:
                    stored.append(f"r[{at}]")
                else:
                    names[f"_c{len(names)}"] = agreement.convert
                    stored.append(f"_c{len(names) - 1}(r[{at}])")
        # A value no decoded payload value equals (object() compares by identity).
        namespace: dict[str, Any] = {**names, "_unrendered": object()}
        exec(  # noqa: S102 - source built only from this spec's constant positions
            f"def stored(r):\n    return ({', '.join(stored)},)\n", namespace
        )
        return namespace["stored"]

    def rendered_disagreement(self, document: Any, row: tuple, original: Callable[[int], tuple | None]) -> str | None:
        """``disagreement`` for a row from ``_select(rendered=True)``; ``original(record id)`` reads the record
        as ``_select`` gives it without rendering.

        Equal tuples prove agreement: a rendered time is exactly ``_time_text`` of the column (``_select``),
        and a time it did not render never compares equal (``_stored_rendered``). Anything unequal
        is decided by ``disagreement`` on the record read again unrendered, so the finding and its label are
        exactly those of the unrendered walk.
        """
        recorded_of, _, _ = self._comparison
        if recorded_of(document) == self._stored_rendered(row):
            return None if self.rule is None else self.rule(document)
        return self.disagreement(document, original(row[0]) or row)

    def disagreement(self, document: Any, row: tuple) -> str | None:
        """The label of the first agreement the row's columns break, or None."""
        recorded_of, stored_of, spans = self._comparison
        recorded, stored = recorded_of(document), stored_of(row)
        if recorded != stored:
            for label, start, end in spans:
                if recorded[start:end] != stored[start:end]:
                    return label
        if self.rule is not None:
            return self.rule(document)
        return None

    def row_from(self, named: Any) -> tuple:
        """A walked row's layout from a ``values_list(named=True)`` row (the pages' per-application check)."""
        return (
            named.id,
            named.sequence,
            getattr(named, "previous_hash", None),
            named.record_hash,
            named.payload,
            *(getattr(named, column) for column in self.columns),
        )


def _four_eyes(document: Any) -> str | None:
    same_person = document.proposed_by_id == document.approved_by_id
    if document.action == GovernanceRecord.WITHDRAW:
        if not same_person:
            return "approved_by (a proposal withdrawn by someone other than its proposer)"
    elif same_person:
        return "approved_by (the proposer approved or rejected their own proposal)"
    return None


DECISIONS = ChainSpec(
    ChainHead.DECISIONS,
    "decision chain",
    DecisionRecord,
    (
        _agree("probability_of_default", "probability_of_default", convert=FLOAT),
        _agree("decision", "decision"),
        _agree("thresholds", "approve_below", "decline_from", convert=FLOAT),
        _agree("model", "model_version", "model_sha256"),
        _agree("outside_experience", "outside_experience", convert=BOOL),
        _agree("application", "application_id"),
        _agree("officer", "officer_id"),
        _agree("created_at", "created_at", convert=TIME),
    ),
)
OVERRIDES = ChainSpec(
    ChainHead.OVERRIDES,
    "override chain",
    OverrideRecord,
    (
        _agree("application", "application_id"),
        _agree("reviewer", "reviewer_id"),
        _agree("decision", "from_decision", "to_decision"),
        _agree("reason", "reason"),
        _agree("created_at", "created_at", convert=TIME),
    ),
    extra_keys=("decision_record_hash",),
    extra_columns=("decision_record_id",),
)
OUTCOMES = ChainSpec(
    ChainHead.OUTCOMES,
    "outcome chain",
    OutcomeRecord,
    (
        _agree("application", "application_id"),
        _agree("recorded_by", "recorded_by_id"),
        _agree("outcome", "outcome"),
        _agree("outcome_date", "outcome_date", convert=DATE),
        _agree("source", "source"),
        _agree("created_at", "created_at", convert=TIME),
    ),
    extra_keys=("decision_record_hash",),
    extra_columns=("decision_record_id",),
)
CASES = ChainSpec(
    ChainHead.CASES,
    "case chain",
    CaseRecord,
    (
        _agree("application", "application_id"),
        _agree("actor", "actor_id"),
        *(
            _agree(name, name)
            for name in (
                "action",
                "from_state",
                "to_state",
                "from_decision",
                "to_decision",
                "proposed_decision",
                "version",
                "reason_code",
                "reason_label",
                "explanation",
            )
        ),
        _agree("created_at", "created_at", convert=TIME),
    ),
    extra_keys=("decision_record_hash",),
    extra_columns=("decision_record_id",),
)
ROLE_CHANGES = ChainSpec(
    ChainHead.ROLE_CHANGES,
    "role change chain",
    RoleChangeRecord,
    (
        _agree("user", "user_id"),
        _agree("role", "action", "role"),
        _agree("actor", "actor_id", "actor_name", "channel"),
        _agree("created_at", "created_at", convert=TIME),
    ),
)
GOVERNANCE = ChainSpec(
    ChainHead.GOVERNANCE,
    "governance chain",
    GovernanceRecord,
    (
        _agree("action", "action"),
        _agree("model", "model_version", "model_sha256"),
        _agree("policy_version", "policy_version"),
        _agree("thresholds", "approve_below", "decline_from", convert=FLOAT),
        _agree("people", "proposed_by_id", "approved_by_id"),
        _agree("created_at", "created_at", convert=TIME),
    ),
    rule=_four_eyes,
)
# Verification order: governance first (replay needs its policies), decisions, then the chains bound to them.
CHAINS: tuple[ChainSpec, ...] = (GOVERNANCE, DECISIONS, OVERRIDES, OUTCOMES, ROLE_CHANGES, CASES)


@dataclass(frozen=True)
class Checkpoint:
    """The last record of a chain a passed verification covered: where an incremental one starts."""

    id: int
    sequence: int
    record_hash: str


# PostgreSQL: a time as the payload writes it (``canonical.utc_iso``: "YYYY-MM-DDTHH:MM:SS.ffffff+00:00"),
# rendered by the server. Only within the years Python can hold (to_char writes a year BC, or infinity, in
# forms Python never would); any other value, NULL too, comes as "" (no "T" at [10]: ``_stored_rendered``
# then makes the comparison fail, and ``rendered_disagreement`` reads the record again unrendered).
_PG_TIME_TEXT = (
    "CASE WHEN {c} BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00' "
    "THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') ELSE '' END"
)


def renders_times(connection: Any) -> bool:
    """Whether ``_select(rendered=True)`` has the database write the times (PostgreSQL: psycopg's loading of
    a timestamptz and ``_time_text`` cost ~8 µs a record of client CPU, to_char ~1 µs of the server's)."""
    return connection.vendor == "postgresql"


def _select(spec: ChainSpec, connection: Any, where: str, *, rendered: bool = False, bound_hash: bool = False) -> str:
    """The walk's statement; ``bound_hash``: one more column, the record_hash of the decision record the row
    names (``decision_record_id``; NULL when there is none), for ``_JoinedBindings``."""
    quote = connection.ops.quote_name
    meta = spec.model._meta
    names = ("id", "sequence", "previous_hash", "record_hash", "payload", *spec.columns)
    render = rendered and renders_times(connection)

    def column(name: str) -> str:
        field = meta.get_field(name)
        # SQLite: a time as its stored text, not through the driver's converter (parsed in Python, per
        # value); _time_text turns Django's "YYYY-MM-DD HH:MM:SS.ffffff" into the payload's form.
        if connection.vendor == "sqlite" and field.get_internal_type() == "DateTimeField":
            return f"CAST({quote(field.column)} AS TEXT)"
        if render and field.get_internal_type() == "DateTimeField":
            return _PG_TIME_TEXT.format(c=quote(field.column))
        return quote(field.column)

    columns = ", ".join(column(name) for name in names)
    if bound_hash:
        decisions = DecisionRecord._meta
        columns += (
            f", (SELECT b.{quote(decisions.get_field('record_hash').column)} FROM {quote(decisions.db_table)} b "
            f"WHERE b.{quote(decisions.pk.column)} = {quote(meta.db_table)}.{quote(meta.get_field('decision_record').column)})"
        )
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {where} ORDER BY {quote('sequence')}"


def _column_sql(connection: Any, meta: Any, name: str) -> str:
    """A record column as the walk reads it."""
    field = meta.get_field(name)
    quote = connection.ops.quote_name
    # A time as text in Django's SQLite form, "YYYY-MM-DD HH:MM:SS.ffffff" (UTC), which _time_text turns into
    # the payload's form without parsing: SQLite's stored text as it is; PostgreSQL's rendered by the server
    # (psycopg's parsing of each value into a datetime cost 0.2 s of client CPU per 22,000, cProfile).
    if field.get_internal_type() == "DateTimeField":
        if connection.vendor == "sqlite":
            return f"CAST({quote(field.column)} AS TEXT)"
        if connection.vendor == "postgresql":
            return f"to_char({quote(field.column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    return quote(field.column)


def _rows(
    spec: ChainSpec, where: str, params: tuple, *, rendered: bool = False, bound_hash: bool = False
) -> Iterator[tuple]:
    """The chain's records in sequence order as plain tuples, streamed in chunks (constant memory).

    Raw SQL on the connection's chunked cursor (PostgreSQL: a server-side cursor), so no
    model instances and no per-value converters: times come as the driver gives them and
    are compared as text (``_time_text``), or ``rendered`` by the database where it does that.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.chunked_cursor() as cursor:
        cursor.execute(_select(spec, connection, where, rendered=rendered, bound_hash=bound_hash), params)
        while True:
            chunk = cursor.fetchmany(CHUNK_SIZE)
            if not chunk:
                return
            yield from chunk


def _walked(
    spec: ChainSpec, where: str, params: tuple, *, bound_hash: bool = False
) -> tuple[Iterator[tuple], Callable[[Any, tuple], str | None]]:
    """The rows a walk checks and the column check for them: times rendered by the database where it can."""
    if not renders_times(connections[DEFAULT_DB_ALIAS]):
        return _rows(spec, where, params, bound_hash=bound_hash), spec.disagreement

    def original(record_id: int) -> tuple | None:
        return next(iter(_rows(spec, "id = %s", (record_id,))), None)

    def disagreement(document: Any, row: tuple) -> str | None:
        return spec.rendered_disagreement(document, row, original)

    return _rows(spec, where, params, rendered=True, bound_hash=bound_hash), disagreement


def _walk(
    spec: ChainSpec,
    report: ChainReport,
    *,
    after: Checkpoint | None = None,
    on_record: Callable[[tuple, Any], None] | None = None,
    decoder: msgspec.json.Decoder | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Stream the chain's records after ``after`` (all without) and check sequence, link, hash and columns.

    With a checkpoint, the checkpoint record itself is checked first: its hash must still be the one
    verified, and its content, columns and hash must still agree; the walk then continues from its hash.
    """
    decode = (decoder or spec.plain_decoder).decode
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    expected_sequence, previous = 1, canonical.GENESIS_HASH
    if after is not None:
        _check_checkpoint(spec, report, after, decode)
        expected_sequence, previous = after.sequence + 1, after.record_hash
        report.last_id = after.id
    rows, disagreement = _walked(spec, f"{quote('sequence')} >= %s", (expected_sequence,))
    _walk_rows(
        spec,
        report,
        rows,
        expected_sequence,
        previous,
        decode=decode,
        on_record=on_record,
        progress=progress,
        disagreement=disagreement,
    )


def _walk_rows(
    spec: ChainSpec,
    report: ChainReport,
    rows: Iterable[tuple],
    expected_sequence: int | None,
    previous: str | None,
    *,
    decode: Callable[[str], Any],
    on_record: Callable[[tuple, Any], None] | None = None,
    progress: Callable[[int], None] | None = None,
    disagreement: Callable[[Any, tuple], str | None] | None = None,
) -> tuple[int, int, str] | None:
    """Check ``rows`` (in sequence order) following a record ``expected_sequence - 1`` whose hash is ``previous``.

    ``expected_sequence`` None: a range of the chain whose predecessor another walker has, so the first
    row's sequence and link are not checked here; it is returned as (id, sequence, previous_hash), for
    ``_merge_parts`` to check against the range before it.
    """
    sha256 = hashlib.sha256
    disagreement = disagreement or spec.disagreement
    first = None
    if expected_sequence is None:
        rows = iter(rows)
        head = next(rows, None)
        if head is None:
            return None
        first = (head[0], head[1], head[2])
        # The first row's own sequence and link: it passes both checks here.
        expected_sequence, previous = head[1], head[2]
        rows = itertools.chain((head,), rows)
    walked = 0
    for row in rows:
        record_id, sequence, previous_hash, record_hash, payload = row[0], row[1], row[2], row[3], row[4]
        walked += 1
        if sequence != expected_sequence:
            report.fail(record_id, sequence, _sequence_problem(record_id, sequence, expected_sequence))
        elif previous_hash != previous:
            report.fail(record_id, sequence, _link_problem(record_id, sequence))
        if sha256(payload.encode("utf-8")).hexdigest() != record_hash:
            report.fail(
                record_id, sequence, f"record id={record_id} #{sequence}: its hash does not match its content (edited)"
            )
        else:
            try:
                document = decode(payload)
            except (msgspec.DecodeError, ValueError):
                report.fail(record_id, sequence, f"record id={record_id} #{sequence}: its payload is not valid JSON")
            else:
                if document.sequence != sequence or document.previous_hash != previous_hash:
                    report.fail(
                        record_id,
                        sequence,
                        f"record id={record_id} #{sequence}: sequence or link columns differ from the hashed content (edited)",
                    )
                else:
                    wrong = disagreement(document, row)
                    if wrong:
                        report.fail(
                            record_id,
                            sequence,
                            f"record id={record_id} #{sequence}: column {wrong} differs from the hashed content (edited)",
                        )
                if on_record is not None:
                    on_record(row, document)
        expected_sequence = sequence + 1
        previous = record_hash
        report.last_id = record_id
        if progress is not None and walked % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(walked % PROGRESS_EVERY)
    report.checked += walked
    report.head_sequence, report.head_hash = expected_sequence - 1, previous
    return first


def _sequence_problem(record_id: int, sequence: int, expected_sequence: int) -> str:
    if sequence > expected_sequence:
        what = f"records #{expected_sequence}..#{sequence - 1} are missing (deleted)"
    else:
        what = "its sequence number repeats or goes backwards (inserted)"
    return f"record id={record_id} #{sequence}: {what}"


def _link_problem(record_id: int, sequence: int) -> str:
    return (
        f"record id={record_id} #{sequence}: does not link to the previous record's hash "
        "(a record before it was deleted, inserted or edited)"
    )


@dataclass
class _PartReport(ChainReport):
    """A range's findings, with the sequence of each listed problem (for ``_merge_parts``)."""

    problem_sequences: list[int | None] = field(default_factory=list)

    def fail(self, record_id: int | None, sequence: int | None, message: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problem_sequences.append(sequence)
        super().fail(record_id, sequence, message)


@dataclass
class _Part:
    """One range of a chain as a worker walked it: its findings, its first record (unchecked link), its tally."""

    report: _PartReport
    first: tuple[int, int, str] | None
    tally: dict[tuple, list]


def _decision_tallier(tally: dict[tuple, list]) -> Callable[[tuple], None]:
    """Counts a walked decision record into ``tally``: (version, SHA-256, decision, outside) -> [count, first, last]."""
    at = DECISIONS.position
    version_at, sha_at, decision_at, outside_at = (
        at["model_version"],
        at["model_sha256"],
        at["decision"],
        at["outside_experience"],
    )
    created_at = at["created_at"]

    def count(row: tuple) -> None:
        key = (row[version_at], row[sha_at], row[decision_at], row[outside_at])
        entry = tally.get(key)
        created = row[created_at]
        if entry is None:
            tally[key] = [1, created, created]
        else:
            entry[0] += 1
            if created < entry[1]:
                entry[1] = created
            elif created > entry[2]:
                entry[2] = created

    return count


@contextlib.contextmanager
def _in_snapshot(snapshot: str | None) -> Iterator[None]:
    """On PostgreSQL with ``snapshot`` (exported by the verifying transaction): read inside that very snapshot."""
    if snapshot is None:
        yield
        return
    connection = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            cursor.execute(NO_JIT)
        yield


# SQLite: read the database file through a memory map (SQLite's own ceiling is 2 GiB of the file) rather
# than a read() per page: the decision walk's fetch 6.5 -> 4.3 µs a record (200,000, alternated).
MMAP_BYTES = 1 << 31


@contextlib.contextmanager
def _mapped(connection: Any) -> Iterator[None]:
    """On SQLite: ``connection`` reads through a memory map while inside, as it read before after."""
    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # no file to map
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size")
        before = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA mmap_size={int(before)}")


# The parent's connection as a forked worker inherited it: kept referenced, never used nor closed (closing
# it would end the parent's PostgreSQL session, or release an SQLite file the parent still reads).
_INHERITED_CONNECTIONS: list[Any] = []


def _own_connection() -> None:
    """A worker process's start: a database connection of its own."""
    _INHERITED_CONNECTIONS.append(connections[DEFAULT_DB_ALIAS])
    connections[DEFAULT_DB_ALIAS] = connections.create_connection(DEFAULT_DB_ALIAS)
    gc.disable()


_BINDING_WORDS = {OVERRIDES.head: "overrides", OUTCOMES.head: "records the outcome of", CASES.head: "rests on"}


def _walk_part(head: str, start: int | None, stop: int | None, snapshot: str | None = None) -> _Part:
    """Walk the records of chain ``head`` with ``start`` <= sequence < ``stop`` (None: unbounded); a worker's task."""
    spec = next(spec for spec in CHAINS if spec.head == head)
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    report, tally = _PartReport(), {}
    on_record, bindings = None, None
    if spec is DECISIONS:
        count = _decision_tallier(tally)

        def on_record(row: tuple, document: Any) -> None:
            count(row)

    elif head in _BINDING_WORDS:
        bindings = _JoinedBindings(report, _BINDING_WORDS[head])
        on_record = bindings.add

    conditions, params = [], []
    if start is not None:
        conditions.append(f"{quote('sequence')} >= %s")
        params.append(start)
    if stop is not None:
        conditions.append(f"{quote('sequence')} < %s")
        params.append(stop)
    with _in_snapshot(snapshot), _mapped(connections[DEFAULT_DB_ALIAS]):
        rows, disagreement = _walked(
            spec, " AND ".join(conditions) or "1 = 1", tuple(params), bound_hash=bindings is not None
        )
        first = _walk_rows(
            spec,
            report,
            rows,
            None,
            None,
            decode=spec.plain_decoder.decode,
            on_record=on_record,
            disagreement=disagreement,
        )
        if bindings is not None:
            bindings.flush()
    return _Part(report, first, tally)


def _merge_parts(report: ChainReport, parts: Iterable[_Part], tally: dict[tuple, list] | None = None) -> None:
    """The ranges' findings into ``report`` in chain order, as one walk from the first record finds them.

    Each range's first record is checked here against the last record of the range before it (its
    sequence must follow, its link must be that record's hash), before that range's own findings.
    """
    expected, previous = 1, canonical.GENESIS_HASH
    for part in parts:
        if part.first is None:
            continue
        record_id, sequence, previous_hash = part.first
        if sequence != expected:
            report.fail(record_id, sequence, _sequence_problem(record_id, sequence, expected))
        elif previous_hash != previous:
            report.fail(record_id, sequence, _link_problem(record_id, sequence))
        found = part.report
        for text, problem_id, problem_sequence in zip(
            found.problems, found.problem_record_ids, found.problem_sequences, strict=True
        ):
            report.fail(problem_id, problem_sequence, text)
        report.problem_count += found.problem_count - len(found.problems)
        report.checked += found.checked
        report.last_id = found.last_id
        report.head_sequence, report.head_hash = found.head_sequence, found.head_hash
        expected, previous = found.head_sequence + 1, found.head_hash
        if tally is not None:
            for key, (count, first, last) in part.tally.items():
                entry = tally.get(key)
                if entry is None:
                    tally[key] = [count, first, last]
                else:
                    entry[0] += count
                    entry[1], entry[2] = min(entry[1], first), max(entry[2], last)


def _ranges(last_sequence: int, count: int) -> list[tuple[int | None, int | None]]:
    """``count`` sequence ranges [start, stop) covering the chain: the first from its start, the last to its end."""
    step = max(1, -(-last_sequence // count))
    bounds = [1 + step * index for index in range(1, count)]
    return list(zip([None, *bounds], [*bounds, None], strict=True))


class _Walkers:
    """Worker processes walking the decision chain (by range) and the case chain of a full verification.

    Forked before any other thread starts; each opens its own connection (PostgreSQL: reading the
    verifying transaction's exported snapshot).
    """

    def __init__(self, snapshot: str | None, decisions_head: int) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=WORKERS, mp_context=multiprocessing.get_context("fork"), initializer=_own_connection
        )
        # The case chain first: the decision ranges then fill in around it.
        self.futures = {CASES.head: [self.executor.submit(_walk_part, CASES.head, None, None, snapshot)]}
        self.futures[DECISIONS.head] = [
            self.executor.submit(_walk_part, DECISIONS.head, start, stop, snapshot)
            for start, stop in _ranges(decisions_head, WORKERS * RANGES_PER_WORKER)
        ]

    def parts(self, head: str, progress: Callable[[int], None] | None) -> list[_Part]:
        parts = [future.result() for future in self.futures[head]]
        if progress is not None:
            for part in parts:
                progress(part.report.checked)
        return parts

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _check_checkpoint(spec: ChainSpec, report: ChainReport, after: Checkpoint, decode: Callable) -> None:
    """The checkpoint record must still be the record, and hold the hash, that the last verification saw."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    found = list(_rows(spec, f"{quote('sequence')} = %s", (after.sequence,)))
    where = f"checkpoint record id={after.id} #{after.sequence}"
    if not found:
        report.fail(after.id, after.sequence, f"{where}: it is missing (deleted)")
        return
    row = found[0]
    if row[0] != after.id or row[3] != after.record_hash:
        report.fail(after.id, after.sequence, f"{where}: its hash or id is not the one verified before (replaced)")
        return
    if hashlib.sha256(row[4].encode("utf-8")).hexdigest() != row[3]:
        report.fail(after.id, after.sequence, f"{where}: its hash does not match its content (edited)")
        return
    try:
        document = decode(row[4])
    except (msgspec.DecodeError, ValueError):
        report.fail(after.id, after.sequence, f"{where}: its payload is not valid JSON")
        return
    wrong = "sequence" if document.sequence != after.sequence else spec.disagreement(document, row)
    if wrong:
        report.fail(after.id, after.sequence, f"{where}: column {wrong} differs from the hashed content (edited)")


def _check_head(name: str, report: ChainReport, spec: ChainSpec | None = None, **walk: Any) -> None:
    """The chain head must name the last record walked.

    A head ahead of the walk is re-read after walking the records appended meanwhile (SQLite reads
    each statement in its own snapshot while officers keep appending), a few times, before it counts
    as records deleted from the end.
    """
    for _ in range(3):
        head = ChainHead.objects.filter(name=name).values_list("sequence", "record_hash").first()
        if head is None or spec is None or head[0] <= report.head_sequence or not report.ok:
            break
        _walk(spec, report, after=Checkpoint(report.last_id, report.head_sequence, report.head_hash), **walk)
    if head is None:
        if report.checked:
            report.fail(None, None, f"the {name} chain head is missing")
        return
    if head != (report.head_sequence, report.head_hash):
        report.fail(
            None,
            None,
            f"chain head says #{head[0]} ({head[1][:12]}…) but the last record is #{report.head_sequence} "
            f"({report.head_hash[:12]}…): records were deleted from or added to the end",
        )


def _check_bindings(report: ChainReport, rows: list[tuple], what: str) -> None:
    """Each (id, sequence, decision_record_id, bound hash) must name the decision record it was bound to."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    meta = DecisionRecord._meta
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        ids = sorted({r[2] for r in chunk if r[2] is not None})
        hashes = {}
        if ids:
            # Raw SQL: the ORM's preparation of a thousand ids cost more than the query.
            condition, params = ids_condition(connection, quote(meta.pk.column), ids)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {quote(meta.pk.column)}, {quote('record_hash')} FROM {quote(meta.db_table)} WHERE {condition}",
                    params,
                )
                hashes = dict(cursor.fetchall())
        for record_id, sequence, decision_record_id, bound_hash, *_ in chunk:
            if hashes.get(decision_record_id) != bound_hash:
                report.fail(
                    record_id,
                    sequence,
                    f"record id={record_id} #{sequence}: the decision record it {what} is not the one it was bound to",
                )


@dataclass(frozen=True)
class CaseTransition:
    """What verification needs of one case record, in chain order."""

    record_id: int
    sequence: int
    action: str
    from_state: str
    to_state: str
    from_decision: str
    to_decision: str
    proposed_decision: str
    actor_id: int
    version: int
    # The decision record the transition was made on: after a counter-offer (a new scoring of the same
    # application) only the transitions on the latest one decide the case.
    decision_record_id: int


def _transition_of(row: Any) -> CaseTransition:
    """A case record read as a row with the model's field names (a namedtuple of its columns) as a step."""
    return CaseTransition(
        row.id,
        row.sequence,
        row.action,
        row.from_state,
        row.to_state,
        row.from_decision,
        row.to_decision,
        row.proposed_decision,
        row.actor_id,
        row.version,
        row.decision_record_id,
    )


def of_latest_scoring(transitions: list[CaseTransition], decision_record_id: int) -> tuple[list[CaseTransition], int]:
    """The transitions made on the latest scoring, and the version the first of them must carry."""
    current = [t for t in transitions if t.decision_record_id == decision_record_id]
    return current, len(transitions) - len(current) + 1


@dataclass(frozen=True)
class Mismatch:
    """One field where an application row disagrees with what its records say."""

    field: str
    stored: Any
    recorded: Any


def expected_outcome(
    *,
    model_decision: str,
    legacy_final: str | None,
    transitions: list[CaseTransition],
    first_version: int = 1,
) -> tuple[dict[str, Any], str | None]:
    """Replay one application's records through ``audit.lifecycle``: (expected row values, problem or None).

    Start from the state the model's decision implies, apply the last legacy override (if any),
    then every case record in chain order; each must start where the previous one ended and make a
    move the lifecycle has.
    """
    step = lifecycle.initial_step(model_decision)
    if legacy_final is not None:
        step = lifecycle.after_legacy_override(legacy_final)
    claimed_by = proposed_by = None
    for number, t in enumerate(transitions, start=first_version):
        if (t.from_state, t.from_decision) != (step.state, step.final_decision):
            return (
                {},
                f"case record #{t.sequence} starts from {t.from_state}/{t.from_decision}, not from {step.state}/{step.final_decision}",
            )
        chosen = t.to_decision if t.action == lifecycle.DECIDE else t.proposed_decision
        try:
            step = lifecycle.next_step(step, t.action, chosen)
        except lifecycle.IllegalTransition:
            return (
                {},
                f"case record #{t.sequence} makes a move the lifecycle does not have ({t.action} from {t.from_state})",
            )
        if (step.state, step.final_decision, step.proposed_decision) != (
            t.to_state,
            t.to_decision,
            t.proposed_decision,
        ):
            return {}, f"case record #{t.sequence} does not end where its action leads"
        if t.version != number:
            return {}, f"case record #{t.sequence} has version {t.version}, expected {number}"
        claimed_by = t.actor_id if step.state == lifecycle.CLAIMED else None
        proposed_by = t.actor_id if step.state == lifecycle.AWAITING_SECOND else None
    return {
        "case_state": step.state,
        "final_decision": step.final_decision,
        "proposed_decision": step.proposed_decision,
        "case_version": first_version - 1 + len(transitions),
        "claimed_by_id": claimed_by,
        "proposed_by_id": proposed_by,
    }, None


# The application row's values verification compares, beside the decision record's.
APPLICATION_COLUMNS = (
    "id",
    "probability_of_default",
    "decision",
    "final_decision",
    "model_version",
    "model_sha256",
    "case_state",
    "case_version",
    "claimed_by_id",
    "proposed_decision",
    "proposed_by_id",
    "queued_at",
)


def compare_application(
    row: Any,
    record: tuple | None,
    legacy_final: str | None,
    transitions: list[CaseTransition],
) -> tuple[str | None, list[Mismatch]]:
    """One scored application row against its records: (problem in words or None, mismatching fields).

    ``record`` is the latest decision record's (probability, decision, model version, SHA-256, id).
    """
    if record is None:
        return "is scored but has no decision record", []
    if row.probability_of_default is None or float(row.probability_of_default).hex() != float(record[0]).hex():
        return "probability of default differs from its decision record", [
            Mismatch("probability_of_default", row.probability_of_default, record[0])
        ]
    if row.decision != record[1]:
        return "decision differs from its decision record", [Mismatch("decision", row.decision, record[1])]
    if (row.model_version, row.model_sha256) != (record[2], record[3]):
        return "model version or SHA-256 differs from its decision record", [
            Mismatch("model_version", row.model_version, record[2])
        ]
    current, first_version = of_latest_scoring(transitions, record[4])
    expected, problem = expected_outcome(
        model_decision=record[1], legacy_final=legacy_final, transitions=current, first_version=first_version
    )
    if problem:
        return problem, []
    mismatches = [
        Mismatch(name, getattr(row, name), value) for name, value in expected.items() if getattr(row, name) != value
    ]
    # In the queue (a queue time) exactly when its records leave it open.
    if (row.queued_at is not None) != (expected["case_state"] in lifecycle.OPEN_STATES):
        mismatches.append(Mismatch("queued_at", row.queued_at, "a time" if row.queued_at is None else None))
    if mismatches:
        if mismatches[0].field == "final_decision":
            return "final decision differs from the last override or case record (or the model's decision)", mismatches
        return f"{mismatches[0].field.replace('_id', '').replace('_', ' ')} differs from its case records", mismatches
    return None, []


def verify_audit_trail(
    *,
    replay: bool = False,
    since: Mapping[str, Checkpoint] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationSummary:
    """Check every chain (and with ``replay`` every probability); never raises on bad data.

    Without ``since``, a full verification: every record of every chain from the first, and every
    scored application. With ``since`` (chain name -> the checkpoint a passed verification stored),
    an incremental one: each chain's checkpoint record is re-checked, then only the records after
    it are walked, and only the applications those records touch are compared. ``progress`` is
    called with the number of records walked since its last call.
    """
    # Hundreds of thousands of small tuples, none cyclic: the cyclic garbage
    # collector would rescan them over and over (docs/performance.md).
    enabled = gc.isenabled()
    gc.disable()
    connection = connections[DEFAULT_DB_ALIAS]
    # A full verification outside a caller's transaction compares the never-reviewed applications
    # (one SQL statement the database works on alone) on a second connection while this one walks
    # the chains. Inside a caller's transaction (the tests') a second connection could not see its rows.
    parallel = since is None and not connection.in_atomic_block
    try:
        if connection.vendor == "postgresql":
            # One snapshot for every query (the chains, their heads and the application rows agree
            # with each other while officers keep writing), and server-side cursors that stream
            # inside it: outside a transaction Django declares them WITH HOLD, which makes the server
            # copy the whole result before the first row.
            outermost = not connection.in_atomic_block
            with transaction.atomic():
                snapshot = None
                if outermost:
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        cursor.execute(NO_JIT)
                        if parallel:  # the second connection reads the very same snapshot
                            cursor.execute("SELECT pg_export_snapshot()")
                            snapshot = cursor.fetchone()[0]
                return _verify(replay=replay, since=since, progress=progress, parallel=parallel, snapshot=snapshot)
        with _mapped(connection):
            return _verify(replay=replay, since=since, progress=progress, parallel=parallel)
    finally:
        if enabled:
            gc.enable()


class _Bindings:
    """Checks, a thousand at a time, that records name the decision record whose hash they carry."""

    def __init__(self, report: ChainReport, what: str) -> None:
        self.report, self.what, self.rows = report, what, []

    def add(self, row: tuple, document: Any, decision_record_index: int) -> None:
        self.rows.append((row[0], row[1], row[decision_record_index], document.decision_record_hash))
        if len(self.rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        _check_bindings(self.report, self.rows, self.what)
        self.rows = []


class _JoinedBindings:
    """``_Bindings`` for rows read with ``bound_hash`` (the named decision record's hash in the row's last
    column, joined by the database): the same findings, reported at the same points of the walk (after
    each thousand records added, and at ``flush``), without a query per thousand records."""

    def __init__(self, report: ChainReport, what: str) -> None:
        self.report, self.what, self.added, self.unbound = report, what, 0, []

    def add(self, row: tuple, document: Any) -> None:
        if row[-1] != document.decision_record_hash:
            self.unbound.append((row[0], row[1]))
        self.added += 1
        if self.added >= 1000:
            self.flush()

    def flush(self) -> None:
        for record_id, sequence in self.unbound:
            self.report.fail(
                record_id,
                sequence,
                f"record id={record_id} #{sequence}: the decision record it {self.what} is not the one it was bound to",
            )
        self.added, self.unbound = 0, []


def _verify(
    *,
    replay: bool,
    since: Mapping[str, Checkpoint] | None,
    progress: Callable[[int], None] | None,
    parallel: bool = False,
    snapshot: str | None = None,
) -> VerificationSummary:
    summary = VerificationSummary(decisions=ChainReport(), overrides=ChainReport(), replay_requested=replay)
    walkers = None
    connection = connections[DEFAULT_DB_ALIAS]
    # Not in a daemonic process (a django-q worker: it may not start processes), nor on an in-memory SQLite
    # database (the tests': not there for another process to open).
    if (
        parallel
        and not replay
        and not multiprocessing.current_process().daemon
        and not (connection.vendor == "sqlite" and connection.is_in_memory_db())
    ):
        decisions_head = ChainHead.objects.filter(name=DECISIONS.head).values_list("sequence", flat=True).first()
        if (decisions_head or 0) >= PARALLEL_FROM:
            walkers = _Walkers(snapshot, decisions_head)  # forks: before the thread below starts
    try:
        return _verify_with(
            summary,
            replay=replay,
            since=since,
            progress=progress,
            parallel=parallel,
            walkers=walkers,
            snapshot=snapshot,
        )
    finally:
        if walkers is not None:
            walkers.close()


def _verify_with(
    summary: VerificationSummary,
    *,
    replay: bool,
    since: Mapping[str, Checkpoint] | None,
    progress: Callable[[int], None] | None,
    parallel: bool,
    walkers: _Walkers | None,
    snapshot: str | None,
) -> VerificationSummary:
    plain = None
    if parallel:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-applications")
        plain = executor.submit(_plain_applications_elsewhere, snapshot)
        executor.shutdown(wait=False)
    summary.incremental = since is not None
    since = since or {}
    walk = {"progress": progress}
    # Applications whose records were walked: an incremental verification compares only these.
    touched: set[int] | None = set() if summary.incremental else None

    def checked(spec: ChainSpec, report: ChainReport, **options: Any) -> None:
        if walkers is not None and spec.head in walkers.futures:
            tally = summary.decision_tally if spec is DECISIONS else None
            _merge_parts(report, walkers.parts(spec.head, progress), tally)
        else:
            _walk(spec, report, after=since.get(spec.head), **walk, **options)
        _check_head(spec.head, report, spec, **walk, **options)

    checked(GOVERNANCE, summary.governance)
    if walkers is not None:  # while the workers walk the decision and case chains
        _check_applications(summary, plain=plain)
    # Policy version -> (model version, approve_below, decline_from) as the governance chain adopted them.
    # A challenger's records are left out: it never decides, so its policy is none a decision may name.
    policies = {
        version: (model_version, approve_below, decline_from)
        for version, model_version, approve_below, decline_from in GovernanceRecord.objects.filter(
            action__in=GovernanceRecord.SERVING_ACTIONS
        )
        .order_by("sequence")
        .values_list("policy_version", "model_version", "approve_below", "decline_from")
    }

    replayer = _Replayer(summary, policies)
    at = DECISIONS.position
    application_at = at["application_id"]
    count = _decision_tallier(summary.decision_tally)

    def collect(row: tuple, document: Any) -> None:
        count(row)
        if touched is not None:
            touched.add(row[application_at])
        if replay:
            replayer.add(
                row[at["model_version"]],
                row[0],
                row[at["probability_of_default"]],
                row[at["model_sha256"]],
                document.features or {},
                (
                    document.policy_version,
                    row[at["decision"]],
                    row[at["approve_below"]],
                    row[at["decline_from"]],
                    document.experience_sha256,
                ),
            )

    decoder = DECISIONS.decoder("features", "policy_version", "experience_sha256") if replay else None
    checked(DECISIONS, summary.decisions, on_record=collect, decoder=decoder)

    for spec, report in ((OVERRIDES, summary.overrides), (OUTCOMES, summary.outcomes), (CASES, summary.cases)):
        bindings = _Bindings(report, _BINDING_WORDS[spec.head])
        index, application_index = spec.position["decision_record_id"], spec.position["application_id"]

        def bind(row: tuple, document: Any, bindings=bindings, index=index, application_index=application_index):
            bindings.add(row, document, index)
            if touched is not None:
                touched.add(row[application_index])

        checked(spec, report, on_record=bind)
        bindings.flush()

    checked(ROLE_CHANGES, summary.role_changes)

    if walkers is not None:
        pass  # compared above
    elif touched is None:
        _check_applications(summary, plain=plain)
    else:
        _check_applications(summary, sorted(touched), walked=_walked_intact(summary, since))
    if plain is not None:  # checked on the applications' thread
        _check_latest_decisions(summary, None, found=plain.result()[2])
    else:
        _check_latest_decisions(summary, None if touched is None else sorted(touched))
    if replay:
        replayer.flush_all()
    return summary


def _check_latest_decisions(
    summary: VerificationSummary, application_ids: list[int] | None, *, found: list[int] | None = None
) -> None:
    """Each application's ``LatestDecision`` row must say what its records do (``audit.latest``); ``found``:
    the applications ``mismatched_applications`` already returned."""
    for app_id in mismatched_applications(among=application_ids) if found is None else found:
        summary.application_problem(app_id, "its latest-decision index disagrees with its decision and outcome records")


def _application_model() -> Any:
    # The application table is reached through the relation the records
    # declare (Django's lazy "applications.LoanApplication" reference): the
    # audit app reads the working copy it audits but never imports the app
    # that writes it.
    return DecisionRecord._meta.get_field("application").related_model


def _compare_applications(summary: VerificationSummary, application_ids: Iterable[int]) -> None:
    """Each of these scored applications must show what its latest audit records say (``application_integrity``)."""
    applications = _application_model()
    ids = list(application_ids)
    for start in range(0, len(ids), 1000):
        chunk = applications.objects.filter(id__in=ids[start : start + 1000], status=SCORED).order_by("id")
        results = application_integrity(applications=chunk)
        for app_id in sorted(results):
            problem = results[app_id].problem
            if problem is not None:
                summary.application_problem(app_id, problem)


def _walked_intact(summary: VerificationSummary, since: Mapping[str, Checkpoint]) -> dict[str, tuple[int, int]]:
    """Chain -> (after, up to): the sequences of the records this incremental run walked and found intact.

    Only chains whose walk found no problem at all: each of their records after the checkpoint then passed
    every check ``_record_intact`` makes (its hash, its payload's sequence, its columns against the payload),
    and its link too. A chain with any problem is left out: its records are re-checked one by one, as ever.
    """
    walked = {}
    for name, report in summary.chain_reports().items():
        checkpoint = since.get(name)
        after = checkpoint.sequence if checkpoint is not None else 0
        if report.ok and report.head_sequence > after:
            walked[name] = (after, report.head_sequence)
    return walked


def _record_select(connection: Any, spec: ChainSpec, condition: str, walked: tuple[int, int] | None) -> str:
    """(id, sequence, record hash, payload, the spec's columns) of ``spec``'s records where ``condition``, in
    sequence order; the payload NULL for those of sequences ``walked`` (after, up to): found intact already."""
    quote = connection.ops.quote_name
    meta = spec.model._meta
    sequence = quote("sequence")
    payload = quote("payload")
    if walked is not None:
        payload = (
            f"CASE WHEN {sequence} > {int(walked[0])} AND {sequence} <= {int(walked[1])} THEN NULL ELSE {payload} END"
        )
    columns = ", ".join(_column_sql(connection, meta, name) for name in spec.columns)
    return (
        f"SELECT {quote('id')}, {sequence}, {quote('record_hash')}, {payload}, {columns} "
        f"FROM {quote(meta.db_table)} WHERE {condition} ORDER BY {sequence}"
    )


_RECORD_ROWS: dict[str, type] = {}


def _record_row(spec: ChainSpec) -> type:
    """A named row of ``_record_select``'s columns, for ``_record_intact``."""
    if spec.head not in _RECORD_ROWS:
        _RECORD_ROWS[spec.head] = namedtuple(
            f"{spec.head.title()}Row", ("id", "sequence", "record_hash", "payload", *spec.columns)
        )
    return _RECORD_ROWS[spec.head]


_ApplicationRow = namedtuple("_ApplicationRow", APPLICATION_COLUMNS)


def _compare_touched_applications(
    summary: VerificationSummary, application_ids: list[int], walked: Mapping[str, tuple[int, int]]
) -> None:
    """Incremental: each of these scored applications against its records, by ``application_integrity``'s
    own core (``_integrity``), read in four raw statements.

    What differs is only the reading: plain tuples instead of model instances (and on PostgreSQL the ids as
    one array), and no payload for a record this run's walk has just found intact (``walked``: chain ->
    (after, up to) sequences, ``_walked_intact``), which the core then does not check again. A touched
    application's records before the checkpoint are re-checked (hash, payload, columns), as before.
    """
    if not application_ids:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    meta = _application_model()._meta
    condition, ids = ids_condition(connection, quote(meta.pk.column), application_ids)
    columns = ", ".join(quote(meta.get_field(name).column) for name in APPLICATION_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('status').column)} = %s "
            f"AND {condition} ORDER BY {quote(meta.pk.column)}",
            [SCORED, *ids],
        )
        applications = [_ApplicationRow(*row) for row in cursor.fetchall()]
    if not applications:
        return
    scored = [row.id for row in applications]

    def records(spec: ChainSpec) -> list[Any]:
        row_type = _record_row(spec)
        among, params = ids_condition(connection, quote(spec.model._meta.get_field("application").column), scored)
        with connection.cursor() as cursor:
            cursor.execute(_record_select(connection, spec, among, walked.get(spec.head)), params)
            return [row_type(*row) for row in cursor.fetchall()]

    results = _integrity(
        {row.id: row for row in applications},
        decision_records=records(DECISIONS),
        override_records=records(OVERRIDES),
        case_records=records(CASES),
        walked=walked,
    )
    for app_id in scored:
        problem = results[app_id].problem
        if problem is not None:
            summary.application_problem(app_id, problem)


def _plain_applications_elsewhere(snapshot: str | None) -> tuple[int, list[int], list[int]]:
    """(scored applications, never-reviewed ones that differ, those whose ``LatestDecision`` row disagrees with
    their records), on this thread's own connection: the latest-decision check runs here, beside the walk,
    rather than alone after it (its findings are still listed last)."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with _in_snapshot(snapshot), _mapped(connection):
            return (*_plain_applications(connection), mismatched_applications())
    finally:
        connection.close()


def _plain_applications(connection: Any) -> tuple[int, list[int]]:
    applications = _application_model()
    count = applications.objects.using(connection.alias).filter(status=SCORED).count()
    return count, [app_id for (app_id,) in _plain_application_mismatches(connection)]


def _check_applications(
    summary: VerificationSummary,
    application_ids: list[int] | None = None,
    *,
    plain: Future | None = None,
    walked: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Every scored application (or those of ``application_ids``) must show what its latest audit records say.

    The application table is the workbench's working copy and is not append-only; this catches an
    outcome edited there (the page and the history would otherwise show a decision the model never
    made). Those never reviewed (no case or override record: nearly all) are compared in SQL, which
    returns only the rows that differ from their latest decision record and the state its decision
    puts a case in (``audit.lifecycle.initial_step``); the reviewed ones, whose records must be
    replayed through the lifecycle, by ``application_integrity``, a thousand at a time. A difference
    found in SQL is confirmed the same way, which also words it. Of an incremental run (``application_ids``),
    by ``_compare_touched_applications``: the same checks and words, without re-checking the records the
    run's walk has just found intact (``walked``, see there).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if application_ids is None:
        # The reviewed ones first, while the never-reviewed ones' statement runs elsewhere; their findings
        # are listed after those of the never-reviewed ones, as ever.
        reviewed = VerificationSummary(decisions=ChainReport(), overrides=ChainReport())
        _compare_reviewed_applications(reviewed)
        count, suspects = plain.result()[:2] if plain is not None else _plain_applications(connection)
        summary.applications_checked += count
        _compare_applications(summary, suspects)
        summary.application_mismatches += reviewed.application_mismatches
        for app_id, problem in zip(reviewed.application_mismatch_ids, reviewed.application_problems, strict=True):
            if len(summary.application_problems) < MAX_LISTED:
                summary.application_problems.append(problem)
                summary.application_mismatch_ids.append(app_id)
        summary.reviewer_tally, summary.overridden_tally = reviewed.reviewer_tally, reviewed.overridden_tally
        return
    for start in range(0, len(application_ids), TOUCHED_CHUNK):
        chunk = application_ids[start : start + TOUCHED_CHUNK]
        summary.applications_checked += _scored_count(connection, chunk)
        suspects = [app_id for (app_id,) in _plain_application_mismatches(connection, chunk)]
        _compare_touched_applications(summary, sorted({*suspects, *_reviewed_application_ids(chunk)}), walked or {})


def _scored_count(connection: Any, among: list[int]) -> int:
    """How many of the applications ``among`` are scored (raw SQL: the ORM's ``__in`` preparation of a
    thousand ids cost more than the query)."""
    quote = connection.ops.quote_name
    meta = _application_model()._meta
    with connection.cursor() as cursor:
        condition, ids = ids_condition(connection, quote(meta.pk.column), among)
        cursor.execute(
            f"SELECT COUNT(*) FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('status').column)} = %s "
            f"AND {condition}",
            [SCORED, *ids],
        )
        return cursor.fetchone()[0]


def _grouped(rows: Iterable[tuple]) -> Iterator[tuple[int, list[tuple]]]:
    """(application id, its rows) from rows sorted by their first value, the application id."""
    key, group = None, []
    for row in rows:
        if row[0] != key:
            if group:
                yield key, group
            key, group = row[0], []
        group.append(row)
    if group:
        yield key, group


class _Cursor:
    """The next (application id, rows) of a grouped stream, advanced up to an application id."""

    def __init__(self, rows: Iterable[tuple]) -> None:
        self.groups = _grouped(rows)
        self.current = next(self.groups, None)

    def take(self, app_id: int) -> list[tuple]:
        while self.current is not None and self.current[0] < app_id:
            self.current = next(self.groups, None)
        if self.current is not None and self.current[0] == app_id:
            return self.current[1]
        return []


# An application row as ``compare_application`` reads it (by name), from a raw row of APPLICATION_COLUMNS.
_ReviewedApplication = namedtuple("_ReviewedApplication", APPLICATION_COLUMNS)


def _stream(queryset: Any) -> Iterator[tuple]:
    """The rows of a ``values_list`` queryset as the driver gives them, from a chunked cursor.

    No ORM iterator: its per-row converters (SQLite's datetime parsing of ``queued_at``) cost a
    fifth of the reviewed applications' comparison; every value read here is compared as the driver
    gives it.
    """
    connection = connections[queryset.db]
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(CHUNK_SIZE)
            if not chunk:
                return
            yield from chunk


def _streamed(queryset: Any) -> _Cursor:
    return _Cursor(_stream(queryset))


def _compare_reviewed_applications(summary: VerificationSummary) -> None:
    """Every scored application with a case or legacy override record against its records, in flat memory.

    Four streams ordered by application id (the applications, their decision, override and case
    records) are merged; each application's records are replayed through the lifecycle
    (``compare_application``). The records themselves were checked by the chain walk.
    """
    applications = _application_model()
    # The reviewed applications' ids as one set (a UNION of the two record tables' application ids) that the
    # application and decision-record streams join, rather than two EXISTS probes for each of the million
    # applications and decision records (docs/performance.md).
    reviewed = (
        CaseRecord.objects.order_by()
        .values("application_id")
        .union(OverrideRecord.objects.order_by().values("application_id"))
    )
    # queued_at (APPLICATION_COLUMNS' last) only as NULL or not (1): all compare_application asks of it,
    # without loading a time per row.
    queued = Case(When(queued_at__isnull=False, then=Value(1)), output_field=IntegerField())
    rows = map(
        _ReviewedApplication._make,
        _stream(
            applications.objects.filter(id__in=reviewed, status=SCORED)
            .order_by("id")
            .values_list(*APPLICATION_COLUMNS[:-1], queued)
        ),
    )
    decisions = _streamed(
        DecisionRecord.objects.filter(application_id__in=reviewed)
        .order_by("application_id", "sequence")
        .values_list("application_id", "probability_of_default", "decision", "model_version", "model_sha256", "id")
    )
    overrides = _streamed(
        OverrideRecord.objects.order_by("application_id", "sequence").values_list(
            "application_id", "decision_record_id", "to_decision", "reviewer_id"
        )
    )
    # Who changed a decision in force (a legacy override; a case record whose decision in force differs
    # after it), counted per application here, where each application's records are together.
    reviewers: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    overridden: dict[str, int] = defaultdict(int)
    cases = _streamed(
        CaseRecord.objects.order_by("application_id", "sequence").values_list(
            "application_id",
            "id",
            "sequence",
            "action",
            "from_state",
            "to_state",
            "from_decision",
            "to_decision",
            "proposed_decision",
            "actor_id",
            "version",
            "decision_record_id",
        )
    )
    for row in rows:
        app_id = row.id
        records = decisions.take(app_id)
        record = records[-1][1:] if records else None
        legacy = None
        changed_by: set[int] = set()
        versions: set[str] = set()
        version_of = {r[5]: r[3] for r in records}
        for _, decision_record_id, to_decision, reviewer_id in overrides.take(app_id):
            if record is not None and decision_record_id == record[4]:
                legacy = to_decision
            reviewers[reviewer_id][0] += 1
            changed_by.add(reviewer_id)
            versions.add(version_of.get(decision_record_id))
        transitions = [CaseTransition(*case[1:]) for case in cases.take(app_id)]
        for t in transitions:
            if t.to_decision != t.from_decision:
                reviewers[t.actor_id][0] += 1
                changed_by.add(t.actor_id)
                versions.add(version_of.get(t.decision_record_id))
        for reviewer_id in changed_by:
            reviewers[reviewer_id][1] += 1
        for version in versions:
            overridden[version] += 1
        problem, _ = compare_application(row, record, legacy, transitions)
        if problem is not None:
            summary.application_problem(app_id, problem)
    summary.reviewer_tally, summary.overridden_tally = dict(reviewers), dict(overridden)


def _plain_application_mismatches(connection: Any, among: list[int] | None = None) -> list[tuple[int]]:
    """Ids of scored, never reviewed applications (of ``among``, else all) whose row differs from their latest decision record."""
    quote = connection.ops.quote_name
    applications = _application_model()
    app, record = applications._meta, DecisionRecord._meta

    def a(name: str) -> str:
        return f"a.{quote(app.get_field(name).column)}"

    def d(name: str) -> str:
        return f"d.{quote(record.get_field(name).column)}"

    differs = "IS NOT" if connection.vendor == "sqlite" else "IS DISTINCT FROM"
    steps = {decision: lifecycle.initial_step(decision) for decision in DECISIONS_MADE}
    state = "CASE " + " ".join(f"WHEN {d('decision')} = %s THEN %s" for _ in steps) + " END"
    open_decisions = [decision for decision, step in steps.items() if step.state in lifecycle.OPEN_STATES]
    params: list[Any] = [value for decision, step in steps.items() for value in (decision, step.state)]
    unreviewed = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {quote(model._meta.db_table)} r "
        f"WHERE r.{quote(model._meta.get_field('application').column)} = a.{quote(app.pk.column)})"
        for model in (CaseRecord, OverrideRecord)
    )
    latest = (
        f"(SELECT MAX(l.{quote(record.pk.column)}) FROM {quote(record.db_table)} l "
        f"WHERE l.{quote(record.get_field('application').column)} = a.{quote(app.pk.column)})"
    )
    if connection.vendor == "postgresql":
        # A lateral join: one index probe per application. PostgreSQL cannot use an index for a join
        # condition that is a correlated subquery (measured: not finished in 10 minutes at 1,000,000).
        latest_join = (
            f"LEFT JOIN LATERAL (SELECT * FROM {quote(record.db_table)} l "
            f"WHERE l.{quote(record.get_field('application').column)} = a.{quote(app.pk.column)} "
            f"ORDER BY l.{quote(record.pk.column)} DESC LIMIT 1) d ON TRUE"
        )
    else:
        latest_join = f"LEFT JOIN {quote(record.db_table)} d ON d.{quote(record.pk.column)} = {latest}"
    among_sql, among_ids = ids_condition(connection, f"a.{quote(app.pk.column)}", among) if among else ("1 = 1", [])
    in_queue = f"{d('decision')} IN ({', '.join(['%s'] * len(open_decisions))})" if open_decisions else "1 = 0"
    sql = (
        f"SELECT a.{quote(app.pk.column)} FROM {quote(app.db_table)} a "
        f"{latest_join} "
        f"WHERE {a('status')} = %s AND {unreviewed} AND {among_sql} AND ("
        f"d.{quote(record.pk.column)} IS NULL "
        f"OR {a('probability_of_default')} {differs} {d('probability_of_default')} "
        f"OR {a('decision')} {differs} {d('decision')} "
        f"OR {a('final_decision')} {differs} {d('decision')} "
        f"OR {a('model_version')} {differs} {d('model_version')} "
        f"OR {a('model_sha256')} {differs} {d('model_sha256')} "
        f"OR {a('case_state')} {differs} ({state}) "
        f"OR {a('case_version')} <> 0 OR {a('proposed_decision')} <> '' "
        f"OR {a('claimed_by')} IS NOT NULL OR {a('proposed_by')} IS NOT NULL "
        f"OR ({a('queued_at')} IS NOT NULL) <> ({in_queue})"
        f") ORDER BY a.{quote(app.pk.column)}"
    )
    # The latest record is the one with the highest id: records are inserted under the chain
    # lock, so ids grow with sequence numbers (an id out of order is the chain walk's finding).
    with connection.cursor() as cursor:
        cursor.execute(sql, [SCORED, *among_ids, *params, *open_decisions])
        return cursor.fetchall()


def _reviewed_application_ids(among: list[int] | None = None) -> list[int]:
    """Applications (of ``among``, else all) with a case or legacy override record, in id order."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    ids: set[int] = set()
    if among is not None and not among:
        return []
    for model in (CaseRecord, OverrideRecord):
        column = quote(model._meta.get_field("application").column)
        condition, params = ids_condition(connection, column, among) if among else ("1 = 1", [])
        with connection.cursor() as cursor:
            # Raw SQL: the ORM's preparation of a thousand foreign-key values cost more than the query.
            cursor.execute(f"SELECT DISTINCT {column} FROM {quote(model._meta.db_table)} WHERE {condition}", params)
            ids.update(app_id for (app_id,) in cursor.fetchall())
    return sorted(ids)


class _Replayer:
    """Re-scores decisions in batches per model version while the chain is walked.

    Streaming keeps memory flat however long the trail is (one batch of
    feature vectors per model version at a time); each batch is one
    vectorised ``replay_probabilities`` call. The model comes from
    ``scoring.model_cache.get_model``, which loads an artifact only after its
    SHA-256 matches the manifest; the manifest's SHA-256 must also be the one
    each decision recorded.
    """

    def __init__(self, summary: VerificationSummary, policies: dict[str, tuple[str, float, float]]) -> None:
        self.summary = summary
        self.policies = policies
        self.buffers: dict[str, tuple[list, list, list, set, list]] = defaultdict(lambda: ([], [], [], set(), []))
        self.unreplayable: dict[str, int] = {}
        self.decode = canonical.decode_features

    def add(
        self, version: str, record_id: int, probability: float, sha256: str, features: dict, decided: tuple
    ) -> None:
        """``decided``: (policy version named or None, decision, approve_below, decline_from, experience SHA-256 or None)
        as recorded."""
        ids, probabilities, vectors, shas, decisions = self.buffers[version]
        decisions.append(decided)
        ids.append(record_id)
        probabilities.append(probability)
        vectors.append(self.decode(features))
        shas.add(sha256)
        if len(ids) >= REPLAY_BATCH:
            self.flush(version)

    def flush_all(self) -> None:
        for version in list(self.buffers):
            self.flush(version)
        for version, count in self.unreplayable.items():
            self.summary.model_errors[version] = (
                f"{count} decisions could not be replayed: {self.summary.model_errors[version]}"
            )

    def flush(self, version: str) -> None:
        ids, probabilities, vectors, shas, decisions = self.buffers.pop(version)
        if not ids:
            return
        if version in self.unreplayable:
            self.unreplayable[version] += len(ids)
            return
        error = self._replay(version, ids, probabilities, vectors, shas, decisions)
        if error:
            self.summary.model_errors[version] = error
            self.unreplayable[version] = len(ids)

    def _replay(
        self, version: str, ids: list, probabilities: list, vectors: list, shas: set, decisions: list
    ) -> str | None:
        try:
            model = get_model(version)
            foreign = shas - {model.sha256}
            if foreign:
                return (
                    f"the store's artifact (SHA-256 {model.sha256[:16]}…) is not the one the decisions recorded "
                    f"({', '.join(sorted(s[:16] + '…' for s in foreign))})"
                )
            replayed = replay_probabilities(model_version=version, feature_rows=vectors)
        except ModelUnavailable as error:
            return str(error)
        except Exception as error:  # noqa: BLE001 - a stored vector the model cannot take is a finding, not a crash
            return f"replay failed ({type(error).__name__}: {error}); a stored feature vector is not one the model can score"
        replayed = np.ascontiguousarray(replayed, dtype=np.float64)
        stored = np.asarray(probabilities, dtype=np.float64)
        differ = np.flatnonzero(replayed.view(np.uint64) != stored.view(np.uint64))
        summary = self.summary
        summary.replayed += len(replayed)
        summary.mismatches += int(differ.size)
        for index in differ[: max(0, MAX_LISTED - len(summary.mismatch_ids))]:
            summary.mismatch_ids.append(ids[int(index)])
        return self._replay_decisions(model, ids, replayed, vectors, decisions)

    def _replay_decisions(
        self, model: Any, ids: list, replayed: np.ndarray, vectors: list, decisions: list
    ) -> str | None:
        """Each decision again from the replayed probability: the training-range guard first, then the policy.

        Records made before the guard (no ``experience_sha256``) were decided
        by the cut-offs alone and are replayed that way; guarded ones must
        name this model's very training ranges.
        """
        guarded_shas = {decided[4] for decided in decisions if decided[4] is not None}
        foreign = guarded_shas - {model.experience.sha256}
        if foreign:
            return (
                f"its training ranges (SHA-256 {model.experience.sha256[:16]}…) are not the ones the decisions "
                f"recorded ({', '.join(sorted(s[:16] + '…' for s in foreign))})"
            )
        outside = replay_outside_experience(
            model_version=model.version,
            feature_rows=vectors,
            guarded=np.array([decided[4] is not None for decided in decisions], dtype=bool),
        )
        self._check_policies(model, ids, replayed, decisions, outside)
        return None

    def _check_policies(
        self, model: Any, ids: list, replayed: np.ndarray, decisions: list, outside: np.ndarray
    ) -> None:
        """Each replayed decision must be what its recorded policy gives for the replayed probability.

        REVIEW where ``outside`` (a guarded record outside its training
        ranges: ``score_application`` never decides those automatically),
        else the policy's cut-offs.

        A record names its policy (``policy_version``); one without a name
        predates versioned policies and was made under its model manifest's
        cut-offs. A policy version must be the manifest's of this very model
        or one the governance chain adopted for this model; the record's
        cut-offs must be that policy's, bit for bit.
        """
        summary = self.summary
        manifest_version = f"{MANIFEST_POLICY_PREFIX}{model.version}"
        for record_id, probability, is_outside, (named, decision, approve_below, decline_from, _) in zip(
            ids, replayed.tolist(), outside.tolist(), decisions, strict=True
        ):
            policy_version = named or manifest_version
            if policy_version == manifest_version:
                cutoffs = (model.approve_below, model.decline_from)
            else:
                adopted = self.policies.get(policy_version)
                cutoffs = adopted[1:] if adopted is not None and adopted[0] == model.version else None
            if cutoffs is None:
                problem = (
                    f"names policy {policy_version!r}, which the governance chain never adopted for {model.version}"
                )
            elif (float(approve_below).hex(), float(decline_from).hex()) != tuple(float(c).hex() for c in cutoffs):
                problem = f"its cut-offs are not those of policy {policy_version!r}"
            elif is_outside and decision != REVIEW:
                problem = f"its decision {decision} is not REVIEW, though its inputs are outside the model's experience"
            elif not is_outside and decide(probability, approve_below=cutoffs[0], decline_from=cutoffs[1]) != decision:
                problem = f"its decision {decision} is not what policy {policy_version!r} gives"
            else:
                continue
            summary.policy_mismatches += 1
            if len(summary.policy_problems) < MAX_LISTED:
                summary.policy_problems.append(f"decision record id={record_id}: {problem}")
                summary.policy_problem_ids.append(record_id)


def summary_json(summary: VerificationSummary) -> str:
    return json.dumps(summary.as_dict(), sort_keys=False)


@dataclass(frozen=True)
class ApplicationIntegrity:
    """Whether one scored application row matches its records, for the pages (issue 14, point 7).

    ``recorded_decision`` is the decision in force its records say (the model's, after overrides and
    case records); ``stored_decision`` is the row's. ``problem`` says what differs, in words.
    """

    ok: bool
    problem: str | None
    stored_decision: str
    recorded_decision: str | None
    mismatches: tuple[Mismatch, ...] = ()
    # The cut-offs recorded with the decision (for the decision band shown beside it).
    approve_below: float | None = None
    decline_from: float | None = None


def application_integrity(*, applications: Iterable[Any]) -> dict[int, ApplicationIntegrity]:
    """Check scored ``applications`` (model instances) against their own records; pending ones are left out.

    Per application, not the whole chain: each of its decision, override and case records must hash to
    its stored hash and agree with its columns, and the row's outcome and case state must be what those
    records replay to (``compare_application``, as ``verify_audit_trail`` does for every row). Links
    between records are the full verification's job (``/audit/``, ``manage.py verify_decisions``).
    Three indexed queries whatever the number of applications (a history page's 25).
    """
    scored = {app.pk: app for app in applications if app.status == SCORED}
    if not scored:
        return {}
    ids = list(scored)

    def read(model: type, spec: ChainSpec) -> Any:
        return (
            model.objects.filter(application_id__in=ids)
            .order_by("sequence")
            .values_list("id", "sequence", "record_hash", "payload", *spec.columns, named=True)
        )

    return _integrity(
        scored,
        decision_records=read(DecisionRecord, DECISIONS),
        override_records=read(OverrideRecord, OVERRIDES),
        case_records=read(CaseRecord, CASES),
    )


def application_integrity_of(
    *, application: Any, decision_records: Iterable[Any], override_records: Iterable[Any], case_records: Iterable[Any]
) -> ApplicationIntegrity | None:
    """``application_integrity`` of one application from its records already read (model instances with every
    column the chains' checks name, in sequence order: an application's page shows them all); None unless scored.
    """
    if application.status != SCORED:
        return None
    return _integrity(
        {application.pk: application},
        decision_records=decision_records,
        override_records=override_records,
        case_records=case_records,
    ).get(application.pk)


def _integrity(
    scored: dict[int, Any],
    *,
    decision_records: Iterable[Any],
    override_records: Iterable[Any],
    case_records: Iterable[Any],
    walked: Mapping[str, tuple[int, int]] | None = None,
) -> dict[int, ApplicationIntegrity]:
    """The records (each with the named columns of its chain's spec, in sequence order) against the applications.

    ``walked`` (chain -> (after, up to) sequences, ``_walked_intact``): records an incremental verification's
    walk has just found intact, read without their payload (``_record_select``), so not checked again here.
    """
    walked = walked or {}

    def intact(row: Any, spec: ChainSpec) -> bool:
        after, up_to = walked.get(spec.head, (0, 0))
        return after < row.sequence <= up_to or _record_intact(row, spec)

    edited: dict[int, str] = {}
    latest: dict[int, tuple] = {}
    cutoffs: dict[int, tuple[float, float]] = {}
    for row in decision_records:
        if not intact(row, DECISIONS):
            edited.setdefault(row.application_id, f"its decision record #{row.sequence} was changed")
        latest[row.application_id] = (
            row.probability_of_default,
            row.decision,
            row.model_version,
            row.model_sha256,
            row.id,
        )
        cutoffs[row.application_id] = (row.approve_below, row.decline_from)
    legacy: dict[int, str] = {}
    for row in override_records:
        if not intact(row, OVERRIDES):
            edited.setdefault(row.application_id, f"its override record #{row.sequence} was changed")
        if row.decision_record_id == latest.get(row.application_id, (None,) * 5)[4]:
            legacy[row.application_id] = row.to_decision
    transitions: dict[int, list[CaseTransition]] = defaultdict(list)
    for row in case_records:
        if not intact(row, CASES):
            edited.setdefault(row.application_id, f"its case record #{row.sequence} was changed")
        transitions[row.application_id].append(_transition_of(row))
    results = {}
    for app_id, app in scored.items():
        record = latest.get(app_id)
        recorded = None
        if record is not None:
            current, first_version = of_latest_scoring(transitions.get(app_id, []), record[4])
            expected, _ = expected_outcome(
                model_decision=record[1],
                legacy_final=legacy.get(app_id),
                transitions=current,
                first_version=first_version,
            )
            recorded = expected.get("final_decision", record[1])
        problem, mismatches = compare_application(app, record, legacy.get(app_id), transitions.get(app_id, []))
        problem = edited.get(app_id) or problem
        results[app_id] = ApplicationIntegrity(
            ok=problem is None,
            problem=problem,
            stored_decision=app.final_decision,
            recorded_decision=recorded,
            mismatches=tuple(mismatches),
            approve_below=cutoffs.get(app_id, (None, None))[0],
            decline_from=cutoffs.get(app_id, (None, None))[1],
        )
    return results


def _record_intact(row: Any, spec: ChainSpec) -> bool:
    """The record's hash matches its payload and its columns say what the payload says."""
    if hashlib.sha256(row.payload.encode("utf-8")).hexdigest() != row.record_hash:
        return False
    try:
        document = spec.plain_decoder.decode(row.payload)
    except (msgspec.DecodeError, ValueError):
        return False
    return document.sequence == row.sequence and spec.disagreement(document, spec.row_from(row)) is None
