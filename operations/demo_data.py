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

Speed: a forked producer process makes the rows (``_Seeder.batches``: draws,
scoring in a pool of processes, case moves, payloads and hashes in chain
order; no database access) while this process writes them, in chunks, each
one transaction, in multi-row form (COPY on PostgreSQL); the load runs with
``synchronous=OFF`` on SQLite, ``synchronous_commit=off`` on PostgreSQL
(``infrastructure.bulk.relaxed_durability``; restored afterwards). Into empty
tables the non-unique indexes (and PostgreSQL's foreign keys) are built once
after the load instead of maintained row by row
(``infrastructure.bulk.indexes_built_after_load``; ``defer_indexes=False``
keeps them).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import multiprocessing
import os
import random
import signal
import sys
import time
import traceback
from bisect import bisect_right
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from accounts import roles
from applications.bulk import COLUMNS as APPLICATION_COLUMNS
from applications.bulk import ApplicationTemplate, first_free_id, scored_template
from applications.forms import clean_application_data
from applications.models import LoanApplication
from audit import lifecycle
from audit.bulk import (
    BulkCaseRecord,
    ChainEnd,
    DecisionTemplate,
    LinkedDecision,
    chain_end,
    json_text,
    link_case_records,
    link_decision_records,
    write_case_records,
    write_decision_records,
)
from audit.models import CaseRecord, ChainHead, DecisionRecord
from audit.services import prepare_decision_record
from governance.selectors import current_serving, scoring_arguments
from infrastructure.bulk import (
    datetime_adapter,
    indexes_built_after_load,
    insert_many,
    relaxed_durability,
    sync_primary_key_sequence,
)
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
    def __init__(self, *, data: Path, seed: int, using: str, defer_indexes: bool = True, workers: int = 0) -> None:
        self.workers = workers
        self.defer_indexes = defer_indexes
        self.adapt = datetime_adapter(using=using)
        self.rows = _read_rows(data)
        self.random = random.Random(seed)
        self.using = using
        self.scorings: dict[tuple[int, int], _Scoring] = {}  # by (row, position in self.versions)
        self.cleaned: dict[int, tuple[dict[str, Any], dict[str, list[str]]]] = {}
        self.versions = _model_versions()
        self.officers = _users("seed-officer-", OFFICERS, roles.OFFICER)
        self.reviewers = _users("seed-reviewer-", REVIEWERS, roles.REVIEWER)
        self.officer_json = {u.pk: json_text(u.get_username()) for u in self.officers}
        self.codes = _reason_codes()
        self.report = SeedReport()  # what was written (the producer's counts arrive with each batch)
        self.overridden = 0  # produced so far
        self.distinct_scorings = 0
        # Case moves not yet chained, kept until the chunk whose decisions are as late (chain in time order).
        self.pending_moves: list[tuple[dt.datetime, int, BulkCaseRecord]] = []
        self.move_counter = 0
        # The decision record each application with pending case moves rests on.
        self.links: dict[int, LinkedDecision] = {}

    def valid(self, index: int) -> bool:
        """Whether row ``index`` passes the application form's validation (cached)."""
        if index not in self.cleaned:
            self.cleaned[index] = clean_application_data(self.rows[index])
        return not self.cleaned[index][1]

    def score(self, version: int, cleaned: dict[str, Any]) -> _Scoring:
        """A valid row's ``cleaned`` inputs scored by ``self.versions[version]``: one ``_Scoring``, picklable."""
        _, arguments = self.versions[version]
        template, result = scored_template(cleaned_data=cleaned, **arguments)
        template.with_times_as(self.adapt)
        prepared = prepare_decision_record(application=template.application, result=result, officer=self.officers[0])
        template.application = None  # done with; not carried across processes
        return _Scoring(template, DecisionTemplate(prepared), result.decision, result.model_version)

    def _score_missing(self, keys: list[tuple[int, int]], pool: Any) -> None:
        """Score the pairs not scored yet, in the pool's processes when there is one (same values either way)."""
        missing = list(dict.fromkeys(key for key in keys if key not in self.scorings))
        work = [(version, self.cleaned[index][0]) for index, version in missing]
        if pool is None:
            scored = [self.score(*item) for item in work]
        else:
            scored = pool.map(_score_in_worker, work, chunksize=max(1, min(256, len(work) // (4 * self.workers))))
        self.scorings.update(zip(missing, scored, strict=True))
        self.distinct_scorings += len(missing)

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
            self.overridden += 1
        return row, moves

    def run(
        self, *, count: int, chunk_size: int, progress: Callable[[str], None], pipeline: bool, started: float
    ) -> SeedReport:
        population = len(self.rows)
        loaded = (LoanApplication, DecisionRecord, CaseRecord)
        with (
            relaxed_durability(using=self.using),
            indexes_built_after_load(loaded, using=self.using, progress=progress)
            if self.defer_indexes
            else contextlib.nullcontext(),
        ):
            start = _Start(
                application_id=first_free_id(using=self.using),
                decisions=chain_end(ChainHead.DECISIONS, DecisionRecord, using=self.using),
                cases=chain_end(ChainHead.CASES, CaseRecord, using=self.using),
                adapt=self.adapt,
            )
            batches = self.batches(count=count, chunk_size=chunk_size, start=start)
            with _produced_elsewhere(batches) if pipeline else contextlib.nullcontext(batches) as produced:
                done = 0
                for batch in produced:
                    self._write(batch)
                    done += batch.applications
                    self.report.seconds = time.perf_counter() - started
                    progress(
                        f"{done:,} of {count:,} applications ({self.report.per_second:,.0f}/s, "
                        f"{self.report.distinct_scorings:,} distinct scorings of {population:,} sampled rows)"
                    )
        # Fresh planner statistics (and the visibility map): ``_vacuum`` analyses the whole database.
        self._vacuum(progress)
        # Everything from reading the training file to the vacuum: the time a fresh database takes to fill.
        self.report.seconds = time.perf_counter() - started
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

    def _write(self, batch: _Batch) -> None:
        """One chunk in one transaction: its applications, then their decision records, then the due case moves."""
        using = self.using
        with transaction.atomic(using=using):
            # The application rows before their decision records: on SQLite a row inserted while
            # foreign-key references to it are outstanding makes it search every referencing table.
            insert_many(LoanApplication, APPLICATION_COLUMNS, batch.application_rows, using=using, prepared=True)
            sync_primary_key_sequence(LoanApplication, using=using)
            write_decision_records(
                rows=batch.decision_rows,
                after=batch.decisions_after,
                until=batch.decisions_until,
                using=using,
                prepared=True,
            )
            write_case_records(
                rows=batch.case_rows, after=batch.cases_after, until=batch.cases_until, using=using, prepared=True
            )
        report = self.report
        report.applications += batch.applications
        report.decision_records += len(batch.decision_rows)
        report.case_records += len(batch.case_rows)
        report.overridden += batch.overridden
        report.distinct_scorings = batch.distinct_scorings
        for version, number in batch.by_model.items():
            report.by_model[version] = report.by_model.get(version, 0) + number

    def batches(self, *, count: int, chunk_size: int, start: _Start) -> Iterator[_Batch]:
        """Every chunk's rows, linked and hashed in chain order from ``start``; no database access.

        The same random draws in the same order as ever (the same seed gives the same data), so it
        may run in another process than the one writing (``_produced_elsewhere``).
        """
        rng = self.random
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        begin = now - SPAN
        # Creation times over two years, in order (ids and the chain follow them).
        offsets = sorted(rng.random() * SPAN.total_seconds() for _ in range(count))
        # The timeline split evenly between the model versions, oldest first.
        boundaries = [offsets[len(offsets) * k // len(self.versions)] for k in range(1, len(self.versions))]
        position = start
        done = 0
        pool = None
        if self.workers:
            global _POOL_SEEDER  # what the forked workers score with (``_score_in_worker``)
            _POOL_SEEDER = self
            pool = multiprocessing.get_context("fork").Pool(self.workers, initializer=_pool_worker_signals)
        try:
            if pool is not None and count >= len(self.rows):
                # Most rows will be drawn: validate them all at once, in the pool (same answers as one by one).
                checked = pool.map(_clean_in_worker, range(len(self.rows)), chunksize=512)
                self.cleaned.update(enumerate(checked))
            while done < count:
                size = min(chunk_size, count - done)
                batch = self._batch(
                    offsets[done : done + size],
                    begin=begin,
                    now=now,
                    boundaries=boundaries,
                    last=done + size == count,
                    position=position,
                    pool=pool,
                )
                position = _Start(
                    application_id=position.application_id + size,
                    decisions=batch.decisions_until,
                    cases=batch.cases_until,
                    adapt=position.adapt,
                )
                done += size
                yield batch
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()

    def _batch(
        self, offsets: list[float], *, begin, now, boundaries: list[float], last: bool, position: _Start, pool: Any
    ) -> _Batch:
        rng = self.random
        adapt = position.adapt
        population = len(self.rows)
        overridden_before = self.overridden
        application_id = position.application_id
        drawn: list[tuple[tuple[int, int], int, Any, dt.datetime, str]] = []
        for offset in offsets:
            version = bisect_right(boundaries, offset)
            # Rows that fail validation are drawn again (they have no scoring).
            index = rng.randrange(population)
            while not self.valid(index):
                index = rng.randrange(population)
            created_at = begin + dt.timedelta(seconds=offset)
            officer = self.officers[rng.randrange(len(self.officers))]
            reference = f"SCR-{created_at:%Y%m}-{application_id:07d}" if rng.random() < 0.9 else ""
            drawn.append(((index, version), application_id, officer, created_at, reference))
            application_id += 1
        self._score_missing([entry[0] for entry in drawn], pool)
        scorings = self.scorings
        planned = [(scorings[key], *rest) for key, *rest in drawn]
        by_model: dict[str, int] = {}
        with_moves: set[int] = set()
        application_rows: list[tuple] = []
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
            created = adapt(created_at)
            queued_at = values["queued_at"]
            claim_expires_at = values["claim_expires_at"]
            application_rows.append(
                scoring.application.fill(
                    (
                        app_id,
                        reference,
                        officer.pk,
                        created,
                        created,
                        values["final_decision"],
                        values["case_state"],
                        values["case_version"],
                        values["claimed_by_id"],
                        None if claim_expires_at is None else adapt(claim_expires_at),
                        None if queued_at is None else adapt(queued_at),
                        values["proposed_decision"],
                        values["proposed_by_id"],
                    )
                )
            )
        officer_json = self.officer_json
        decision_rows, linked, decisions_until = link_decision_records(
            items=[
                (
                    scoring.decision,
                    app_id,
                    officer.pk,
                    officer_json[officer.pk],
                    f'"{reference}"',  # SCR-YYYYMM-NNNNNNN: nothing to escape
                    created_at,
                )
                for scoring, app_id, officer, created_at, reference in planned
            ],
            end=position.decisions,
            adapt=adapt,
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
        case_rows, cases_until = link_case_records(items=due, end=position.cases, adapt=adapt)
        return _Batch(
            applications=len(planned),
            application_rows=application_rows,
            decision_rows=decision_rows,
            decisions_after=position.decisions,
            decisions_until=decisions_until,
            case_rows=case_rows,
            cases_after=position.cases,
            cases_until=cases_until,
            overridden=self.overridden - overridden_before,
            distinct_scorings=self.distinct_scorings,
            by_model=by_model,
        )


@dataclass(frozen=True)
class _Start:
    """Where a chunk's rows begin: the next application key and the two chains' ends."""

    application_id: int
    decisions: ChainEnd
    cases: ChainEnd
    adapt: Callable[[dt.datetime], Any]  # a datetime as the database stores it


@dataclass(frozen=True)
class _Batch:
    """One chunk's rows, ready to insert (times already in the database's form), and its figures."""

    applications: int
    application_rows: list[tuple]
    decision_rows: list[tuple]
    decisions_after: ChainEnd
    decisions_until: ChainEnd
    case_rows: list[tuple]
    cases_after: ChainEnd
    cases_until: ChainEnd
    overridden: int
    distinct_scorings: int
    by_model: dict[str, int]


_DONE = "done"
_POOL_SEEDER: _Seeder | None = None


def _pool_worker_signals() -> None:
    # Stopped by the producer (SIGTERM: die at once, not through its exit handler); Ctrl-C is the producer's.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _score_in_worker(item: tuple[int, dict[str, Any]]) -> _Scoring:
    return _POOL_SEEDER.score(*item)


def _clean_in_worker(index: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return clean_application_data(_POOL_SEEDER.rows[index])


def _produce(batches: Generator[_Batch], queue: Any) -> None:
    """The producer process: every batch into ``queue``, then ``_DONE`` (or the error's text)."""
    # The writer stops it with SIGTERM: leave through the generator's clean-up (its scoring pool).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        for batch in batches:
            queue.put(batch)
        queue.put(_DONE)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C reaches the whole process group; the writer handles it
        pass
    except BaseException:  # noqa: BLE001 - reported to the writer, which raises it
        queue.put(traceback.format_exc())
    finally:
        batches.close()


@contextlib.contextmanager
def _produced_elsewhere(batches: Iterator[_Batch]) -> Iterator[Iterator[_Batch]]:
    """``batches`` computed in a forked process while this one writes: scoring, payloads and hashes on one
    core, the inserts (and on PostgreSQL the server) on the other.

    The child never touches the database connection it inherits (it needs none: ``_Seeder.batches``)
    and leaves through ``os._exit`` (multiprocessing's), so no driver clean-up runs on that socket or
    file. A few batches are buffered; an error in either process stops both.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=3)
    # Not a daemon: it has its own scoring pool's processes (stopped in ``_produce``).
    process = context.Process(target=_produce, args=(batches, queue), name="seed_demo producer")
    process.start()

    def received() -> Iterator[_Batch]:
        while True:
            try:
                item = queue.get(timeout=5)
            except Empty:
                if not process.is_alive():
                    raise RuntimeError(f"the seed_demo producer died (exit code {process.exitcode})") from None
                continue
            if item == _DONE:
                return
            if isinstance(item, str):
                raise RuntimeError(f"the seed_demo producer failed:\n{item}")
            yield item

    try:
        yield received()
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
        queue.close()
        queue.cancel_join_thread()


def seed_demo(
    *,
    applications: int,
    data: Path = DEFAULT_DATA,
    seed: int = 20261130,
    chunk_size: int = 20_000,
    using: str = "default",
    defer_indexes: bool = True,
    pipeline: bool | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> SeedReport:
    """Add ``applications`` scored, chained applications (see the module docstring); raises ``MissingData``.

    For a demo or benchmark database nobody else is writing to: keys are
    taken from the tables' largest ones, each chunk in one transaction.
    ``pipeline``: the rows made in a forked producer process while this one
    writes (default: unless inside a caller's transaction); ``workers``:
    processes scoring the distinct (row, model) pairs and validating the rows
    for it (default: one per CPU with the pipeline, none without).
    """
    if applications < 1:
        raise ValueError("applications must be at least 1")
    started = time.perf_counter()
    if pipeline is None:
        # Inside a caller's transaction (a test's): one process, as small loads are best made.
        pipeline = not connections[using].in_atomic_block
    if workers is None:
        workers = (os.cpu_count() or 1) if pipeline else 0
    seeder = _Seeder(data=data, seed=seed, using=using, defer_indexes=defer_indexes, workers=workers)
    return seeder.run(count=applications, chunk_size=chunk_size, progress=progress, pipeline=pipeline, started=started)
