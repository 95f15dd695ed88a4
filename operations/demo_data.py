"""Demo and benchmark data: ``manage.py seed_demo --applications N``.

Fills a database with N realistic applications, each scored, stored and
chained as a submission would be, over the last two years:

* inputs sampled (with replacement, seeded) from the shared training file,
  validated by the application form's own fields (``clean_application_data``);
* scored by ``scoring.services.score_application`` itself, once per distinct
  (inputs, model) pair and reused for every application that drew them: the
  same probability, decision, reasons and derived features, bit for bit;
* two model versions when the store has two: the older half of the timeline by
  the model that does not serve now (manifest cut-offs), the newer half by
  the model and policy in force (``governance.selectors.scoring_arguments``),
  as a new submission would be;
* each with its decision record in the decision chain (``audit.bulk``), officers
  and references spread over the applications;
* REVIEW cases worked in the review queue (claimed, decided with a reason code,
  some approvals confirmed by a second reviewer), the recent ones still open,
  and about 1.5% of model decisions overridden; every case move made by
  ``audit.lifecycle`` and chained as a case record, the application row left
  where its records lead.

``manage.py verify_decisions --replay`` finds it clean. Users are created
with unusable passwords (nobody can sign in as them) and their roles granted
through ``staff.services``.

Speed: rows are written in chunks, each one transaction, in multi-row form
(COPY on PostgreSQL); on SQLite the load runs with ``synchronous=OFF``
(``infrastructure.bulk.relaxed_durability``; restored afterwards). Into empty
tables the non-unique indexes are built once after the load instead of
maintained row by row (``infrastructure.bulk.indexes_built_after_load``;
``defer_indexes=False`` keeps them).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import random
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from accounts import roles
from applications.bulk import ApplicationTemplate, first_free_id, scored_template, store_applications_in_bulk
from applications.forms import clean_application_data
from applications.models import LoanApplication
from audit import lifecycle
from audit.bulk import (
    BulkCaseRecord,
    BulkDecision,
    DecisionTemplate,
    LinkedDecision,
    append_case_records_in_bulk,
    append_decision_records_in_bulk,
    json_text,
)
from audit.models import CaseRecord, DecisionRecord
from audit.services import prepare_decision_record
from governance.selectors import current_serving, scoring_arguments
from infrastructure.bulk import indexes_built_after_load, relaxed_durability
from infrastructure.planner import refresh_planner_statistics
from reviews.reason_codes import SEED_REASON_CODES
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.results import APPROVE, DECLINE, REVIEW
from scoring.store import MANIFEST_NAME
from staff.services import grant_role

DEFAULT_DATA = Path(settings.BASE_DIR).parent / "shared" / "data" / "credit_risk_train.csv"
OFFICERS = 24
REVIEWERS = 8
SPAN = dt.timedelta(days=730)
# A REVIEW case younger than this may still be open; older ones were mostly worked.
RECENT = dt.timedelta(days=10)
MODEL_DECISION_OVERRIDDEN = 0.015


class MissingData(Exception):
    """The shared training file is not there (the message says where it was looked for)."""


@dataclass
class SeedReport:
    applications: int = 0
    decision_records: int = 0
    case_records: int = 0
    overridden: int = 0
    distinct_scorings: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.applications / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _Scoring:
    application: ApplicationTemplate
    decision: DecisionTemplate
    model_decision: str
    model_version: str


def _reason_codes() -> dict[str, list[tuple[str, str]]]:
    by_action: dict[str, list[tuple[str, str]]] = {}
    for code, action, label in SEED_REASON_CODES:
        by_action.setdefault(action, []).append((code, label))
    return by_action


def _users(prefix: str, count: int, role: str) -> list[Any]:
    """``count`` accounts holding ``role`` (made once, reused by later runs), unusable passwords."""
    user_model = get_user_model()
    users = []
    for number in range(1, count + 1):
        username = f"{prefix}{number:02d}"
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, password=None)
            grant_role(user=user, role=role)
        users.append(user)
    return users


def _model_versions() -> list[tuple[str, dict[str, Any]]]:
    """(version, scoring arguments) oldest use first: the non-serving model (if any), then what serves."""
    serving = current_serving().model_version
    store = Path(settings.MODELS_STORE_DIR)
    others = sorted(path.name for path in store.iterdir() if (path / MANIFEST_NAME).is_file() and path.name != serving)
    versions: list[tuple[str, dict[str, Any]]] = []
    for version in others[-1:]:
        try:
            get_model(version)
        except ModelUnavailable:
            continue
        versions.append((version, {"model_version": version, "policy": None}))
    arguments = scoring_arguments() or {"model_version": serving, "policy": None}
    versions.append((serving, {"model_version": serving, "policy": None, **arguments}))
    return versions


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise MissingData(
            f"The shared training data is not at {path}: seed_demo samples its applications from it. "
            "Pass --data FILE (the credit-risk CSV)."
        )
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class _Seeder:
    def __init__(self, *, data: Path, seed: int, using: str, defer_indexes: bool = True) -> None:
        self.defer_indexes = defer_indexes
        self.rows = _read_rows(data)
        self.random = random.Random(seed)
        self.using = using
        self.scorings: dict[tuple[int, str], _Scoring | None] = {}
        self.cleaned: dict[int, tuple[dict[str, Any], dict[str, list[str]]]] = {}
        self.versions = _model_versions()
        self.officers = _users("seed-officer-", OFFICERS, roles.OFFICER)
        self.reviewers = _users("seed-reviewer-", REVIEWERS, roles.REVIEWER)
        self.officer_json = {u.pk: json_text(u.get_username()) for u in self.officers}
        self.codes = _reason_codes()
        self.report = SeedReport()
        # Case moves not yet chained, kept until the chunk whose decisions are as late (chain in time order).
        self.pending_moves: list[tuple[dt.datetime, int, BulkCaseRecord]] = []
        self.move_counter = 0
        # The decision record each application with pending case moves rests on.
        self.links: dict[int, LinkedDecision] = {}

    def scoring(self, index: int, version_arguments: tuple[str, dict[str, Any]]) -> _Scoring | None:
        version, arguments = version_arguments
        key = (index, version)
        if key not in self.scorings:
            if index not in self.cleaned:
                self.cleaned[index] = clean_application_data(self.rows[index])
            cleaned, errors = self.cleaned[index]
            scoring = None
            if not errors:
                template, result = scored_template(cleaned_data=cleaned, **arguments)
                prepared = prepare_decision_record(
                    application=template.application, result=result, officer=self.officers[0]
                )
                scoring = _Scoring(template, DecisionTemplate(prepared), result.decision, result.model_version)
                self.report.distinct_scorings += 1
            self.scorings[key] = scoring
        return self.scorings[key]

    def case_moves(
        self, *, application_id: int, model_decision: str, decided_at: dt.datetime, now: dt.datetime
    ) -> tuple[dict[str, Any], list[BulkCaseRecord]]:
        """The case's moves after scoring (through ``audit.lifecycle``) and the row values they leave."""
        rng = self.random
        step = lifecycle.initial_step(model_decision)
        age = now - decided_at
        plan: list[tuple[str, str]] = []  # (action, chosen decision)
        if model_decision == REVIEW:
            # Every older case was worked; of the last days' cases, some still wait in the queue.
            worked = age > RECENT or rng.random() < 0.3
            if worked:
                chosen = APPROVE if rng.random() < 0.55 else DECLINE
                if chosen == APPROVE and rng.random() < 0.15:
                    plan = [(lifecycle.CLAIM, ""), (lifecycle.PROPOSE, APPROVE), (lifecycle.CONFIRM, "")]
                else:
                    plan = [(lifecycle.CLAIM, ""), (lifecycle.DECIDE, chosen)]
            elif rng.random() < 0.25:
                plan = [(lifecycle.CLAIM, "")]
        elif rng.random() < MODEL_DECISION_OVERRIDDEN:
            if model_decision == DECLINE:
                plan = [(lifecycle.PROPOSE, APPROVE), (lifecycle.CONFIRM, "")]
            else:
                plan = [(lifecycle.DECIDE, DECLINE)]
        moves: list[BulkCaseRecord] = []
        moment = decided_at
        first, second = rng.sample(self.reviewers, 2)
        claimed_by = proposed_by = None
        claim_expires_at = None
        latest = now - dt.timedelta(minutes=1)
        for version, (action, chosen) in enumerate(plan, start=1):
            moment = min(moment + dt.timedelta(minutes=rng.uniform(20, 2 * 24 * 60)), latest)
            before = step
            step = lifecycle.next_step(before, action, chosen)
            actor = second if action in (lifecycle.CONFIRM, lifecycle.REJECT) else first
            code, label, explanation = "", "", ""
            expires = None
            if action == lifecycle.CLAIM:
                expires = moment + dt.timedelta(hours=4)
            elif action in (lifecycle.DECIDE, lifecycle.PROPOSE, lifecycle.CONFIRM):
                kind = action if action == lifecycle.CONFIRM else (chosen or step.final_decision)
                code, label = rng.choice(self.codes[kind])
                explanation = f"{label}. Seeded demo case."
            moves.append(
                BulkCaseRecord(
                    application_id=application_id,
                    decision=None,  # linked once its decision record is (``_chunk``)
                    actor_id=actor.pk,
                    actor_username=actor.get_username(),
                    created_at=moment,
                    action=action,
                    from_state=before.state,
                    to_state=step.state,
                    from_decision=before.final_decision,
                    to_decision=step.final_decision,
                    proposed_decision=step.proposed_decision,
                    reason_code=code,
                    reason_label=label,
                    explanation=explanation,
                    version=version,
                    claim_expires_at=expires,
                )
            )
            claimed_by = actor.pk if step.state == lifecycle.CLAIMED else None
            claim_expires_at = expires if step.state == lifecycle.CLAIMED else None
            proposed_by = actor.pk if step.state == lifecycle.AWAITING_SECOND else None
        row = {
            "final_decision": step.final_decision,
            "case_state": step.state,
            "case_version": len(plan),
            "claimed_by_id": claimed_by,
            "claim_expires_at": claim_expires_at,
            "queued_at": decided_at if step.state in lifecycle.OPEN_STATES else None,
            "proposed_decision": step.proposed_decision,
            "proposed_by_id": proposed_by,
        }
        if step.final_decision != model_decision:
            self.report.overridden += 1
        return row, moves

    def run(self, *, count: int, chunk_size: int, progress: Callable[[str], None]) -> SeedReport:
        started = time.perf_counter()
        rng = self.random
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = now - SPAN
        # Creation times over two years, in order (ids and the chain follow them).
        offsets = sorted(rng.random() * SPAN.total_seconds() for _ in range(count))
        # The timeline split evenly between the model versions, oldest first.
        boundaries = [offsets[len(offsets) * k // len(self.versions)] for k in range(1, len(self.versions))]
        population = len(self.rows)
        loaded = (LoanApplication, DecisionRecord, CaseRecord)
        with (
            relaxed_durability(using=self.using),
            indexes_built_after_load(loaded, using=self.using, progress=progress)
            if self.defer_indexes
            else contextlib.nullcontext(),
        ):
            done = 0
            while done < count:
                size = min(chunk_size, count - done)
                self._chunk(
                    offsets[done : done + size], start=start, now=now, boundaries=boundaries, last=done + size == count
                )
                done += size
                self.report.seconds = time.perf_counter() - started
                progress(
                    f"{done:,} of {count:,} applications ({self.report.per_second:,.0f}/s, "
                    f"{self.report.distinct_scorings:,} distinct scorings of {population:,} sampled rows)"
                )
        # Fresh planner statistics: after a bulk load PostgreSQL still believes the tables are small until
        # autovacuum gets round to them, and picks plans for small tables (seconds per page at a million rows).
        refresh_planner_statistics((LoanApplication, DecisionRecord, CaseRecord), using=self.using)
        self.report.seconds = time.perf_counter() - started
        self._vacuum(progress)
        return self.report

    def _vacuum(self, progress: Callable[[str], None]) -> None:
        """PostgreSQL: VACUUM (ANALYZE) the freshly filled database, as autovacuum would in time.

        Without statistics the planner takes the million new rows for a few hundred (a per-row backward
        primary-key scan in verification's lateral join: not finished in 10 minutes at 200,000); without the
        vacuum the first reader sets every page's hint bits (writing the tables out again) and index-only
        scans visit the heap for every row (no visibility map).
        """
        connection = connections[self.using]
        if connection.vendor != "postgresql":
            return
        # Inside a caller's transaction (the tests') VACUUM cannot run; ANALYZE can.
        statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        progress(f"{statement} …")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(statement)
        progress(f"{statement} in {time.perf_counter() - started:.1f} s")

    def _chunk(self, offsets: list[float], *, start, now, boundaries: list[float], last: bool) -> None:
        rng = self.random
        using = self.using
        population = len(self.rows)
        with transaction.atomic(using=using):
            application_id = first_free_id(using=using)
            rows: list[list[Any]] = []
            planned: list[tuple[_Scoring, int, Any, dt.datetime, str]] = []
            for offset in offsets:
                version = self.versions[bisect_right(boundaries, offset)]
                scoring = None
                while scoring is None:
                    scoring = self.scoring(rng.randrange(population), version)
                created_at = start + dt.timedelta(seconds=offset)
                officer = self.officers[rng.randrange(len(self.officers))]
                reference = f"SCR-{created_at:%Y%m}-{application_id:07d}" if rng.random() < 0.9 else ""
                planned.append((scoring, application_id, officer, created_at, reference))
                application_id += 1
            by_model = self.report.by_model
            with_moves: set[int] = set()
            for scoring, app_id, officer, created_at, reference in planned:
                values, moves = self.case_moves(
                    application_id=app_id, model_decision=scoring.model_decision, decided_at=created_at, now=now
                )
                if moves:
                    with_moves.add(app_id)
                for move in moves:
                    self.move_counter += 1
                    self.pending_moves.append((move.created_at, self.move_counter, move))
                by_model[scoring.model_version] = by_model.get(scoring.model_version, 0) + 1
                rows.append(
                    scoring.application.row(
                        id=app_id,
                        applicant_reference=reference,
                        officer_id=officer.pk,
                        created_at=created_at,
                        scored_at=created_at,
                        **values,
                    )
                )
            # The application rows before their decision records: on SQLite a row inserted while
            # foreign-key references to it are outstanding makes it search every referencing table.
            store_applications_in_bulk(rows=rows, using=using)
            linked = append_decision_records_in_bulk(
                items=[
                    BulkDecision(
                        template=scoring.decision,
                        application_id=app_id,
                        officer_id=officer.pk,
                        officer_username_json=self.officer_json[officer.pk],
                        applicant_reference_json=f'"{reference}"',  # SCR-YYYYMM-NNNNNNN: nothing to escape
                        created_at=created_at,
                    )
                    for scoring, app_id, officer, created_at, reference in planned
                ],
                using=using,
            )
            for (_, app_id, *_), decision in zip(planned, linked, strict=True):
                if app_id in with_moves:
                    self.links[app_id] = decision
            # Moves up to this chunk's last decision time are chained now, in time order; later ones wait.
            self.pending_moves.sort(key=lambda entry: (entry[0], entry[1]))
            horizon = planned[-1][3]
            cut = len(self.pending_moves) if last else bisect_right([m[0] for m in self.pending_moves], horizon)
            due = [move for _, _, move in self.pending_moves[:cut]]
            for move in due:
                move.decision = self.links[move.application_id]
            del self.pending_moves[:cut]
            self.report.case_records += append_case_records_in_bulk(items=due, using=using)
            self.report.applications += len(rows)
            self.report.decision_records += len(linked)


def seed_demo(
    *,
    applications: int,
    data: Path = DEFAULT_DATA,
    seed: int = 20261130,
    chunk_size: int = 20_000,
    using: str = "default",
    defer_indexes: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> SeedReport:
    """Add ``applications`` scored, chained applications (see the module docstring); raises ``MissingData``.

    For a demo or benchmark database nobody else is writing to: keys are
    taken from the tables' largest ones, each chunk in one transaction.
    """
    if applications < 1:
        raise ValueError("applications must be at least 1")
    seeder = _Seeder(data=data, seed=seed, using=using, defer_indexes=defer_indexes)
    return seeder.run(count=applications, chunk_size=chunk_size, progress=progress)
