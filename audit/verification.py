"""Verify the audit trail: the hash chains, and (optionally) replay every decision.

One plain function, ``verify_audit_trail``, shared by ``manage.py
verify_decisions`` and the auditor's page. It streams the records in
sequence order and checks, for each one: that its sequence follows its
predecessor's, that it links to its predecessor's hash, that its hash is the
SHA-256 of its payload, and that the queryable columns still say what the
payload says. The chain head must match the last record (a truncated tail),
and every scored application must show the outcome its latest records say.
With ``replay`` it re-scores every stored feature vector with the recorded
model version — loaded by ``scoring`` only after its SHA-256 check — and
compares the probability bit for bit.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit import canonical, lifecycle
from audit.models import (
    CaseRecord,
    ChainHead,
    DecisionRecord,
    GovernanceRecord,
    OutcomeRecord,
    OverrideRecord,
    RoleChangeRecord,
)
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.results import REVIEW
from scoring.services import MANIFEST_POLICY_PREFIX, decide, replay_outside_experience, replay_probabilities

CHUNK_SIZE = 5000
# LoanApplication.Status.SCORED, as stored: the only applications with a decision to compare.
SCORED = "SCORED"
REPLAY_BATCH = 20000
MAX_LISTED = 20


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

    def fail(self, record_id: int | None, sequence: int | None, message: str) -> None:
        if self.ok:
            self.first_bad_id, self.first_bad_sequence = record_id, sequence
        self.ok = False
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(message)


@dataclass
class VerificationSummary:
    decisions: ChainReport
    overrides: ChainReport
    outcomes: ChainReport = field(default_factory=ChainReport)
    cases: ChainReport = field(default_factory=ChainReport)
    role_changes: ChainReport = field(default_factory=ChainReport)
    governance: ChainReport = field(default_factory=ChainReport)
    replay_requested: bool = False
    replayed: int = 0
    mismatches: int = 0
    mismatch_ids: list[int] = field(default_factory=list)
    # Replayed decisions (the training-range guard, then the cut-offs of the policy they name) or cut-offs
    # that differ from the recorded ones.
    policy_mismatches: int = 0
    policy_problems: list[str] = field(default_factory=list)
    model_errors: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    # Scored applications whose shown outcome disagrees with their audit records.
    applications_checked: int = 0
    application_mismatches: int = 0
    application_problems: list[str] = field(default_factory=list)
    # The first MAX_LISTED mismatching application ids, for the auditor's links.
    application_mismatch_ids: list[int] = field(default_factory=list)

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


def _float_hex(value: Any) -> str | None:
    return None if value is None else float(value).hex()


def _walk(
    queryset,
    columns: tuple[str, ...],
    report: ChainReport,
    check_columns: Callable[[dict, Any], str | None],
    on_record: Callable[[Any, dict], None] | None = None,
) -> None:
    """Stream records in sequence order and check sequence, link, hash and columns.

    Rows are named tuples (``values_list(named=True)``): every column is read
    by its name, so a column added to the model cannot shift what is read.
    """
    sha256 = hashlib.sha256
    loads = json.loads
    expected_sequence = 1
    previous = canonical.GENESIS_HASH
    rows = (
        queryset.order_by("sequence")
        .values_list(
            "id",
            "sequence",
            "previous_hash",
            "record_hash",
            "payload",
            *columns,
            named=True,
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for row in rows:
        record_id, sequence, previous_hash, record_hash, payload = (
            row.id,
            row.sequence,
            row.previous_hash,
            row.record_hash,
            row.payload,
        )
        report.checked += 1
        if sequence != expected_sequence:
            if sequence > expected_sequence:
                what = f"records #{expected_sequence}..#{sequence - 1} are missing (deleted)"
            else:
                what = "its sequence number repeats or goes backwards (inserted)"
            report.fail(record_id, sequence, f"record id={record_id} #{sequence}: {what}")
        elif previous_hash != previous:
            report.fail(
                record_id,
                sequence,
                f"record id={record_id} #{sequence}: does not link to the previous record's hash (a record before it was deleted, inserted or edited)",
            )
        if sha256(payload.encode("utf-8")).hexdigest() != record_hash:
            report.fail(
                record_id, sequence, f"record id={record_id} #{sequence}: its hash does not match its content (edited)"
            )
            document = None
        else:
            try:
                document = loads(payload)
            except ValueError:
                document = None
                report.fail(record_id, sequence, f"record id={record_id} #{sequence}: its payload is not valid JSON")
        if document is not None:
            if document.get("sequence") != sequence or document.get("previous_hash") != previous_hash:
                report.fail(
                    record_id,
                    sequence,
                    f"record id={record_id} #{sequence}: sequence or link columns differ from the hashed content (edited)",
                )
            else:
                wrong = check_columns(document, row)
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
    report.head_sequence, report.head_hash = expected_sequence - 1, previous


def _check_head(name: str, report: ChainReport) -> None:
    head = ChainHead.objects.filter(name=name).values_list("sequence", "record_hash").first()
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


DECISION_COLUMNS = (
    "probability_of_default",
    "decision",
    "approve_below",
    "decline_from",
    "model_version",
    "model_sha256",
    "outside_experience",
    "application_id",
    "officer_id",
    "created_at",
)


def _check_decision_columns(document: dict, row: Any) -> str | None:
    if document.get("probability_of_default") != _float_hex(row.probability_of_default):
        return "probability_of_default"
    if document.get("decision") != row.decision:
        return "decision"
    if document.get("approve_below") != _float_hex(row.approve_below) or document.get("decline_from") != _float_hex(
        row.decline_from
    ):
        return "thresholds"
    if document.get("model_version") != row.model_version or document.get("model_sha256") != row.model_sha256:
        return "model"
    if bool(document.get("outside_experience")) != row.outside_experience:
        return "outside_experience"
    if document.get("application_id") != row.application_id:
        return "application"
    if document.get("officer_id") != row.officer_id:
        return "officer"
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


OVERRIDE_COLUMNS = (
    "application_id",
    "decision_record_id",
    "reviewer_id",
    "from_decision",
    "to_decision",
    "reason",
    "created_at",
)


def _check_override_columns(document: dict, row: Any) -> str | None:
    if document.get("application_id") != row.application_id:
        return "application"
    if document.get("reviewer_id") != row.reviewer_id:
        return "reviewer"
    if document.get("from_decision") != row.from_decision or document.get("to_decision") != row.to_decision:
        return "decision"
    if document.get("reason") != row.reason:
        return "reason"
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


OUTCOME_COLUMNS = (
    "application_id",
    "decision_record_id",
    "recorded_by_id",
    "outcome",
    "outcome_date",
    "source",
    "created_at",
)


CASE_COLUMNS = (
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
    "created_at",
)


def _check_outcome_columns(document: dict, row: Any) -> str | None:
    if document.get("application_id") != row.application_id:
        return "application"
    if document.get("recorded_by_id") != row.recorded_by_id:
        return "recorded_by"
    if document.get("outcome") != row.outcome:
        return "outcome"
    if document.get("outcome_date") != row.outcome_date.isoformat():
        return "outcome_date"
    if document.get("source") != row.source:
        return "source"
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


def _check_case_columns(document: dict, row: Any) -> str | None:
    if document.get("application_id") != row.application_id:
        return "application"
    if document.get("actor_id") != row.actor_id:
        return "actor"
    for name in ("action", "from_state", "to_state", "from_decision", "to_decision", "proposed_decision", "version"):
        if document.get(name) != getattr(row, name):
            return name
    for name in ("reason_code", "reason_label", "explanation"):
        if document.get(name) != getattr(row, name):
            return name
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


ROLE_CHANGE_COLUMNS = ("user_id", "action", "role", "actor_id", "actor_name", "channel", "created_at")


def _check_role_change_columns(document: dict, row: Any) -> str | None:
    if document.get("user_id") != row.user_id:
        return "user"
    if document.get("action") != row.action or document.get("role") != row.role:
        return "role"
    if (
        document.get("actor_id") != row.actor_id
        or document.get("actor_name") != row.actor_name
        or document.get("channel") != row.channel
    ):
        return "actor"
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


GOVERNANCE_COLUMNS = (
    "action",
    "model_version",
    "model_sha256",
    "policy_version",
    "approve_below",
    "decline_from",
    "proposed_by_id",
    "approved_by_id",
    "created_at",
)


def _check_governance_columns(document: dict, row: Any) -> str | None:
    if document.get("action") != row.action:
        return "action"
    if document.get("model_version") != row.model_version or document.get("model_sha256") != row.model_sha256:
        return "model"
    if document.get("policy_version") != row.policy_version:
        return "policy_version"
    if document.get("approve_below") != _float_hex(row.approve_below) or document.get("decline_from") != _float_hex(
        row.decline_from
    ):
        return "thresholds"
    if document.get("proposed_by_id") != row.proposed_by_id or document.get("approved_by_id") != row.approved_by_id:
        return "people"
    same_person = document.get("proposed_by_id") == document.get("approved_by_id")
    if document.get("action") == GovernanceRecord.WITHDRAW:
        if not same_person:
            return "approved_by (a proposal withdrawn by someone other than its proposer)"
    elif same_person:
        return "approved_by (the proposer approved or rejected their own proposal)"
    if document.get("created_at") != canonical.utc_iso(row.created_at):
        return "created_at"
    return None


def _check_bindings(report: ChainReport, rows: list[tuple], what: str) -> None:
    """Each (id, sequence, decision_record_id, bound hash) must name the decision record it was bound to."""
    if not rows:
        return
    hashes = dict(DecisionRecord.objects.filter(id__in={r[2] for r in rows}).values_list("id", "record_hash"))
    for record_id, sequence, decision_record_id, bound_hash, *_ in rows:
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


def verify_audit_trail(*, replay: bool = False) -> VerificationSummary:
    """Check every chain (and with ``replay`` every probability); never raises on bad data."""
    # Hundreds of thousands of small dicts and tuples, none cyclic: the cyclic
    # garbage collector would rescan them over and over (docs/performance.md).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _verify(replay=replay)
    finally:
        if enabled:
            gc.enable()


def _verify(*, replay: bool) -> VerificationSummary:
    summary = VerificationSummary(decisions=ChainReport(), overrides=ChainReport(), replay_requested=replay)

    # Policy version -> (model version, approve_below, decline_from) as hashed in the governance chain.
    policies: dict[str, tuple[str, float, float]] = {}

    def remember_policy(row: Any, document: dict) -> None:
        if row.action not in GovernanceRecord.SERVING_ACTIONS:
            return  # a challenger's records: it never decides, so its policy is none a decision may name
        policies[row.policy_version] = (row.model_version, row.approve_below, row.decline_from)

    _walk(
        GovernanceRecord.objects.all(),
        GOVERNANCE_COLUMNS,
        summary.governance,
        _check_governance_columns,
        remember_policy,
    )
    _check_head(ChainHead.GOVERNANCE, summary.governance)

    replayer = _Replayer(summary, policies)

    # Latest decision record per application: (probability, decision, model version, sha256, record id).
    latest: dict[int, tuple] = {}

    def count(row: Any, document: dict) -> None:
        summary.versions[row.model_version] = summary.versions.get(row.model_version, 0) + 1
        latest[row.application_id] = (
            row.probability_of_default,
            row.decision,
            row.model_version,
            row.model_sha256,
            row.id,
        )

    def collect(row: Any, document: dict) -> None:
        count(row, document)
        replayer.add(
            row.model_version,
            row.id,
            row.probability_of_default,
            row.model_sha256,
            document.get("features") or {},
            (
                document.get("policy_version"),
                row.decision,
                row.approve_below,
                row.decline_from,
                document.get("experience_sha256"),
            ),
        )

    _walk(
        DecisionRecord.objects.all(),
        DECISION_COLUMNS,
        summary.decisions,
        _check_decision_columns,
        collect if replay else count,
    )
    _check_head(ChainHead.DECISIONS, summary.decisions)

    override_rows: list[tuple] = []

    def remember(row: Any, document: dict) -> None:
        # (id, sequence, decision_record_id, bound hash, application_id, to_decision), in sequence order.
        override_rows.append(
            (
                row.id,
                row.sequence,
                row.decision_record_id,
                document.get("decision_record_hash"),
                row.application_id,
                row.to_decision,
            )
        )

    _walk(OverrideRecord.objects.all(), OVERRIDE_COLUMNS, summary.overrides, _check_override_columns, remember)
    _check_head(ChainHead.OVERRIDES, summary.overrides)
    _check_bindings(summary.overrides, override_rows, "overrides")

    outcome_rows: list[tuple] = []

    def remember_outcome(row: Any, document: dict) -> None:
        outcome_rows.append((row.id, row.sequence, row.decision_record_id, document.get("decision_record_hash")))

    _walk(OutcomeRecord.objects.all(), OUTCOME_COLUMNS, summary.outcomes, _check_outcome_columns, remember_outcome)
    _check_head(ChainHead.OUTCOMES, summary.outcomes)
    _check_bindings(summary.outcomes, outcome_rows, "records the outcome of")

    _walk(RoleChangeRecord.objects.all(), ROLE_CHANGE_COLUMNS, summary.role_changes, _check_role_change_columns)
    _check_head(ChainHead.ROLE_CHANGES, summary.role_changes)

    decision_hashes: dict[int, str] = {}
    transitions = _walk_cases(summary, decision_hashes)
    # Only overrides of the latest scoring decide the final decision: a counter-offer (a new scoring of the
    # same application) starts from its own decision.
    final_by_application = {r[4]: r[5] for r in override_rows if r[4] in latest and latest[r[4]][4] == r[2]}
    _check_applications(summary, latest, final_by_application, transitions)
    if replay:
        replayer.flush_all()
    return summary


def _walk_cases(summary: VerificationSummary, decision_hashes: dict[int, str]) -> dict[int, list[CaseTransition]]:
    """Check the case chain; return each application's transitions in chain order."""
    by_application: dict[int, list[CaseTransition]] = defaultdict(list)
    bindings: list[tuple[int, int, int, str | None]] = []

    def remember(row: Any, document: dict) -> None:
        bindings.append((row.id, row.sequence, row.decision_record_id, document.get("decision_record_hash")))
        by_application[row.application_id].append(
            CaseTransition(
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
        )

    _walk(CaseRecord.objects.all(), CASE_COLUMNS, summary.cases, _check_case_columns, remember)
    _check_head(ChainHead.CASES, summary.cases)
    missing = {b[2] for b in bindings} - decision_hashes.keys()
    if missing:
        decision_hashes.update(DecisionRecord.objects.filter(id__in=missing).values_list("id", "record_hash"))
    for record_id, sequence, decision_record_id, bound_hash in bindings:
        if decision_hashes.get(decision_record_id) != bound_hash:
            summary.cases.fail(
                record_id,
                sequence,
                f"record id={record_id} #{sequence}: the decision record it rests on is not the one it was bound to",
            )
    return by_application


def _check_applications(
    summary: VerificationSummary,
    latest: dict[int, tuple],
    final_by_application: dict[int, str],
    transitions: dict[int, list[CaseTransition]],
) -> None:
    """Each scored application must show what its latest audit records say.

    The application table is the workbench's working copy and is not
    append-only; this catches an outcome edited there (the page and the
    history would otherwise show a decision the model never made).
    """
    # The application table is reached through the relation the records
    # declare (Django's lazy "applications.LoanApplication" reference): the
    # audit app reads the working copy it audits but never imports the app
    # that writes it.
    applications = DecisionRecord._meta.get_field("application").related_model
    rows = (
        applications.objects.filter(status=SCORED)
        .order_by("id")
        .values_list(*APPLICATION_COLUMNS, named=True)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    no_transitions: list[CaseTransition] = []
    for row in rows:
        app_id = row.id
        summary.applications_checked += 1
        problem, _ = compare_application(
            row, latest.get(app_id), final_by_application.get(app_id), transitions.get(app_id, no_transitions)
        )
        if problem is None:
            continue
        summary.application_mismatches += 1
        if len(summary.application_problems) < MAX_LISTED:
            summary.application_problems.append(f"application id={app_id}: {problem}")
            summary.application_mismatch_ids.append(app_id)


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
    edited: dict[int, str] = {}
    latest: dict[int, tuple] = {}
    cutoffs: dict[int, tuple[float, float]] = {}
    for row in (
        DecisionRecord.objects.filter(application_id__in=ids)
        .order_by("sequence")
        .values_list("id", "sequence", "record_hash", "payload", *DECISION_COLUMNS, named=True)
    ):
        if not _record_intact(row, _check_decision_columns):
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
    for row in (
        OverrideRecord.objects.filter(application_id__in=ids)
        .order_by("sequence")
        .values_list("id", "sequence", "record_hash", "payload", *OVERRIDE_COLUMNS, named=True)
    ):
        if not _record_intact(row, _check_override_columns):
            edited.setdefault(row.application_id, f"its override record #{row.sequence} was changed")
        if row.decision_record_id == latest.get(row.application_id, (None,) * 5)[4]:
            legacy[row.application_id] = row.to_decision
    transitions: dict[int, list[CaseTransition]] = defaultdict(list)
    for row in (
        CaseRecord.objects.filter(application_id__in=ids)
        .order_by("sequence")
        .values_list("id", "sequence", "record_hash", "payload", *CASE_COLUMNS, named=True)
    ):
        if not _record_intact(row, _check_case_columns):
            edited.setdefault(row.application_id, f"its case record #{row.sequence} was changed")
        transitions[row.application_id].append(
            CaseTransition(
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
        )
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


def _record_intact(row: Any, check_columns: Callable[[dict, Any], str | None]) -> bool:
    """The record's hash matches its payload and its columns say what the payload says."""
    if hashlib.sha256(row.payload.encode("utf-8")).hexdigest() != row.record_hash:
        return False
    try:
        document = json.loads(row.payload)
    except ValueError:
        return False
    return document.get("sequence") == row.sequence and check_columns(document, row) is None
