"""Read side of the audit trail: what the auditor's pages, exports and panels show."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import Count, F, Max, Min, QuerySet

from audit.models import AccessEvent, CaseRecord, ChainHead, DecisionRecord, OverrideRecord, VerificationRun
from infrastructure.id_lists import ids_condition
from infrastructure.pagination import distinct_values
from scoring.results import DECISIONS


def overrides_for_application(*, application_id: int) -> QuerySet[OverrideRecord]:
    return OverrideRecord.objects.filter(application_id=application_id).select_related("reviewer").order_by("sequence")


@dataclass(frozen=True)
class FinalDecisionChange:
    """Who last changed an application's decision in force, when, and why (a legacy override or a case record)."""

    username: str
    created_at: dt.datetime
    reason: str
    to_decision: str


def latest_final_decision_changes(*, application_ids: Iterable[int]) -> dict[int, FinalDecisionChange]:
    """The latest change of the decision in force for each of ``application_ids`` that has one; two queries.

    Legacy overrides (before issue 14) come first, then case records that changed the decision in
    force (a decision, a confirmed approval, a referral of a model decision), in chain order.
    """
    ids = list(application_ids)
    latest: dict[int, FinalDecisionChange] = {}
    for record in (
        OverrideRecord.objects.filter(application_id__in=ids)
        .select_related("reviewer")
        .only("application_id", "sequence", "created_at", "reason", "to_decision", "reviewer__username")
        .order_by("sequence")
    ):
        latest[record.application_id] = FinalDecisionChange(
            record.reviewer.get_username(), record.created_at, record.reason, record.to_decision
        )
    for record in (
        CaseRecord.objects.filter(application_id__in=ids)
        .exclude(to_decision=F("from_decision"))
        .select_related("actor")
        .only(
            "application_id",
            "sequence",
            "created_at",
            "reason_code",
            "reason_label",
            "explanation",
            "to_decision",
            "actor__username",
        )
        .order_by("sequence")
    ):
        latest[record.application_id] = FinalDecisionChange(
            record.actor.get_username(),
            record.created_at,
            f"{record.reason_code}: {record.reason_label}. {record.explanation}",
            record.to_decision,
        )
    return latest


def latest_decision_record_ids(*, application_ids: Iterable[int]) -> dict[int, int]:
    """The id of each application's latest decision record (those that have one); one query."""
    latest: dict[int, int] = {}
    for application_id, record_id in (
        DecisionRecord.objects.filter(application_id__in=list(application_ids))
        .order_by("sequence")
        .values_list("application_id", "id")
    ):
        latest[application_id] = record_id
    return latest


def case_records_for_application(*, application_id: int) -> QuerySet[CaseRecord]:
    """The case's transitions in chain order, with who made each."""
    return CaseRecord.objects.filter(application_id=application_id).select_related("actor").order_by("sequence")


def decision_records_for_application(*, application_id: int) -> QuerySet[DecisionRecord]:
    """In chain order, with every column the decision chain's checks compare (the page checks them against the
    payload, ``audit.verification.application_integrity_of``)."""
    return (
        DecisionRecord.objects.filter(application_id=application_id)
        .order_by("sequence")
        .only(
            "id",
            "sequence",
            "previous_hash",
            "record_hash",
            "created_at",
            "model_version",
            "model_sha256",
            "decision",
            "probability_of_default",
            "approve_below",
            "decline_from",
            "application_id",
            "officer_id",
            "outside_experience",
            "payload",
        )
    )


def decision_model_versions() -> list[str]:
    """Every model version with a decision record, in order (index seeks on ``decision_version_sequence``)."""
    return distinct_values(DecisionRecord.objects.all(), "model_version")


def chain_heads() -> dict[str, ChainHead]:
    return {head.name: head for head in ChainHead.objects.all()}


def trail_figures(*, previous: dict[str, Any] | None = None, after: dict[str, int] | None = None) -> dict[str, Any]:
    """The aggregates the audit page shows, computed once per verification run, never per page view.

    ``decisions``: [model version, SHA-256, decision, outside the model's experience, count, first, last]
    (times as ISO text). ``reviewers``: [username, overrides, applications]. ``overridden``: model version ->
    applications overridden. ``decision_total``. With ``previous`` (the figures of the run whose checkpoints
    an incremental run started from) and ``after`` (chain name -> checkpoint sequence), only the decision
    records after the checkpoint are counted and added; the override figures (case and override records:
    a small table) are counted again only if those chains grew.
    """
    decisions = DecisionRecord.objects.all()
    if previous is not None and after is not None:
        decisions = decisions.filter(sequence__gt=after.get(ChainHead.DECISIONS, 0))
    tally: dict[tuple, list] = {}
    for row in (previous or {}).get("decisions", []) if previous is not None and after is not None else []:
        tally[tuple(row[:4])] = list(row[4:])
    for version, sha256, decision, outside, count, first, last in (
        decisions.order_by()
        .values_list("model_version", "model_sha256", "decision", "outside_experience")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
    ):
        key = (version, sha256, decision, bool(outside))
        first, last = first.isoformat(timespec="microseconds"), last.isoformat(timespec="microseconds")
        if key in tally:
            old = tally[key]
            tally[key] = [old[0] + count, min(old[1], first), max(old[2], last)]
        else:
            tally[key] = [count, first, last]
    grew = previous is None or after is None
    if not grew:
        heads = dict(ChainHead.objects.values_list("name", "sequence"))
        grew = any(heads.get(name, 0) > after.get(name, 0) for name in (ChainHead.CASES, ChainHead.OVERRIDES))
    if grew:
        reviewers, overridden = override_figures()
    else:
        reviewers, overridden = previous.get("reviewers", []), previous.get("overridden", {})
    return {
        "decisions": [[*key, *value] for key, value in sorted(tally.items())],
        "decision_total": sum(value[0] for value in tally.values()),
        "reviewers": sorted(reviewers),
        "overridden": overridden,
    }


def override_figures() -> tuple[list[list], dict[str, int]]:
    """Overrides per reviewer (count, applications) and applications overridden per model version.

    An override is a change of the decision in force by a reviewer: a legacy ``OverrideRecord``, or a
    ``CaseRecord`` whose decision in force differs after it (a decision, a confirmed approval, a referral
    of a model decision; claims and proposals change nothing in force).
    """
    changes = CaseRecord.objects.exclude(to_decision=F("from_decision"))
    counts: dict[str, list] = defaultdict(lambda: [0, set()])
    for username, application_id in (
        *OverrideRecord.objects.values_list("reviewer__username", "application_id")
        .order_by()
        .iterator(chunk_size=5000),
        *changes.values_list("actor__username", "application_id").order_by().iterator(chunk_size=5000),
    ):
        counts[username][0] += 1
        counts[username][1].add(application_id)
    reviewers = [[username, n, len(applications)] for username, (n, applications) in counts.items()]
    overridden: dict[str, set[int]] = defaultdict(set)
    for version, application_id in itertools.chain(
        OverrideRecord.objects.values_list("decision_record__model_version", "application_id")
        .order_by()
        .iterator(chunk_size=5000),
        changes.values_list("decision_record__model_version", "application_id").order_by().iterator(chunk_size=5000),
    ):
        overridden[version].add(application_id)
    return reviewers, {version: len(ids) for version, ids in overridden.items()}


class _ChangeQuery:
    """Changes of a decision in force recorded in ``model``'s table (a legacy override; a case record whose
    decision in force differs after it), with who made each (``user``) and the model version decided on.

    Raw SQL with the application ids as ``infrastructure.id_lists`` gives them (one array on PostgreSQL) and
    without the ORM's preparation of each id;
    the rows and joins of ``OverrideRecord/CaseRecord.objects.values_list("<user>__username",
    "application_id", "decision_record__model_version", "sequence")`` (tested against them).
    """

    def __init__(self, connection: Any, model: type, user: str) -> None:
        quote = connection.ops.quote_name
        meta = model._meta
        user_meta = meta.get_field(user).related_model._meta
        self.connection = connection
        self.application = f"r.{quote(meta.get_field('application').column)}"
        changed = "1 = 1"
        if model is CaseRecord:
            changed = f"r.{quote('to_decision')} <> r.{quote('from_decision')}"
        self.tables = (
            f"FROM {quote(meta.db_table)} r "
            f"JOIN {quote(user_meta.db_table)} u ON u.{quote(user_meta.pk.column)} = r.{quote(meta.get_field(user).column)} "
            f"JOIN {quote(DecisionRecord._meta.db_table)} d "
            f"ON d.{quote(DecisionRecord._meta.pk.column)} = r.{quote(meta.get_field('decision_record').column)} "
            f"WHERE {changed}"
        )
        self.columns = (
            f"u.{quote(user_meta.get_field('username').column)}, {self.application}, "
            f"d.{quote(DecisionRecord._meta.get_field('model_version').column)}, r.{quote('sequence')}"
        )
        self.sequence = f"r.{quote('sequence')}"

    def application_ids(self, *, after: int) -> list[int]:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {self.application} {self.tables} AND {self.sequence} > %s", [after])
            return [application_id for (application_id,) in cursor.fetchall()]

    def of_applications(self, ids: list[int]) -> list[tuple[str, int, str, int]]:
        if not ids:
            return []
        among, params = ids_condition(self.connection, self.application, ids)
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {self.columns} {self.tables} AND {among}", params)
            return cursor.fetchall()


def override_figures_since(
    *, reviewers: list[list], overridden: dict[str, int], case_after: int, override_after: int
) -> tuple[list[list], dict[str, int]]:
    """``override_figures`` carried forward from ``reviewers`` and ``overridden`` (the figures at the checkpoints).

    Reads only the changes after the checkpoints (case records after sequence ``case_after``, override
    records after ``override_after``) and the earlier changes of the same applications, so an
    application a reviewer (or a model version) already counted is not counted twice: an incremental
    verification's cost follows what was added, not the whole case table.
    """
    connection = connections[DecisionRecord.objects.db]
    changes = (_ChangeQuery(connection, OverrideRecord, "reviewer"), _ChangeQuery(connection, CaseRecord, "actor"))
    application_ids = sorted(
        {
            *changes[0].application_ids(after=override_after),
            *changes[1].application_ids(after=case_after),
        }
    )
    counts = {username: [n, applications] for username, n, applications in reviewers}
    totals = dict(overridden)
    # Every change of those applications, read by application (the sequence bound is applied here, not in
    # the statement: a bound on sequence lets the planner walk the sequence index over the whole table).
    earlier: list[tuple[str, int, str]] = []
    new: list[tuple[int, int, str, int, str]] = []
    for start in range(0, len(application_ids), 10_000):
        chunk = application_ids[start : start + 10_000]
        for kind, after in ((0, override_after), (1, case_after)):
            for username, application_id, version, sequence in changes[kind].of_applications(chunk):
                if sequence > after:
                    new.append((kind, sequence, username, application_id, version))
                else:
                    earlier.append((username, application_id, version))
    reviewed = {(username, application_id) for username, application_id, _ in earlier}
    by_version = {(version, application_id) for _, application_id, version in earlier}
    # In the order ``override_figures`` would meet them: override records, then case records, each by sequence.
    new.sort()
    for _, _, username, application_id, version in new:
        entry = counts.setdefault(username, [0, 0])
        entry[0] += 1
        if (username, application_id) not in reviewed:
            reviewed.add((username, application_id))
            entry[1] += 1
        if (version, application_id) not in by_version:
            by_version.add((version, application_id))
            totals[version] = totals.get(version, 0) + 1
    return [[username, n, applications] for username, (n, applications) in counts.items()], totals


def model_versions_in_use(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each recorded (model version, artifact SHA-256) with its decision count and time span."""
    versions: dict[tuple[str, str], dict[str, Any]] = {}
    for version, sha256, _, _, count, first, last in figures.get("decisions", []):
        entry = versions.setdefault(
            (version, sha256),
            {"model_version": version, "model_sha256": sha256, "decisions": 0, "first": first, "last": last},
        )
        entry["decisions"] += count
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
    return [
        {**entry, "first": dt.datetime.fromisoformat(entry["first"]), "last": dt.datetime.fromisoformat(entry["last"])}
        for _, entry in sorted(versions.items())
    ]


def decision_mix_by_version(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model version: how many APPROVE / REVIEW / DECLINE, counts and shares, and how many REVIEWs the training-range guard made."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DECISIONS, 0))
    outside: dict[str, int] = defaultdict(int)
    for version, _, decision, is_outside, n, _, _ in figures.get("decisions", []):
        version_counts = counts[version]
        version_counts[decision] = version_counts.get(decision, 0) + n
        if is_outside:
            outside[version] += n
    mix = []
    for version in sorted(counts):
        total = sum(counts[version].values())
        mix.append(
            {
                "model_version": version,
                "total": total,
                "decisions": [(d, counts[version][d], counts[version][d] / total if total else 0.0) for d in DECISIONS],
                # REVIEW because an input was outside the model's training ranges (scoring.experience).
                "outside_experience": outside[version],
            }
        )
    return mix


def override_rates(figures: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Override counts and rates per reviewer and per model version (``override_figures`` says what counts).

    The rate is overrides per decision recorded: for a model version, of its decisions; for a reviewer,
    of all decisions (a reviewer may act on any application but their own).
    """
    total_decisions = figures.get("decision_total", 0)
    by_version_decisions: dict[str, int] = defaultdict(int)
    for version, _, _, _, n, _, _ in figures.get("decisions", []):
        by_version_decisions[version] += n
    per_reviewer = [
        {
            "reviewer": username,
            "overrides": n,
            "applications": applications,
            "rate": n / total_decisions if total_decisions else 0.0,
        }
        for username, n, applications in sorted(figures.get("reviewers", []), key=lambda item: (-item[1], item[0]))
    ]
    overridden = figures.get("overridden", {})
    per_version = []
    for version, decisions in sorted(by_version_decisions.items()):
        n = overridden.get(version, 0)
        per_version.append(
            {
                "model_version": version,
                "decisions": decisions,
                "overridden": n,
                "rate": n / decisions if decisions else 0.0,
            }
        )
    return {"per_reviewer": per_reviewer, "per_version": per_version}


DECISION_CSV_HEADER = (
    "record_id",
    "sequence",
    "created_at_utc",
    "application_id",
    "applicant_reference",
    "officer_id",
    "officer",
    "decision",
    "probability_of_default",
    "probability_of_default_hex",
    "approve_below",
    "decline_from",
    "model_version",
    "model_sha256",
    "inputs_json",
    "features_json",
    "reasons_json",
    "previous_hash",
    "record_hash",
    "payload",
    "payload_base64",
)


def decision_csv_rows() -> Iterator[tuple]:
    """Every decision record with every audit field, in chain order (streamed).

    Values as stored (floats at full precision, and their ``float.hex()``);
    ``infrastructure.csv_export`` writes them. ``payload_base64`` carries the
    payload's exact bytes, so ``record_hash`` can be checked from the file.
    """
    import json

    # json.dumps(value, sort_keys=True), without building an encoder per call.
    as_json = json.JSONEncoder(sort_keys=True).encode
    yield DECISION_CSV_HEADER
    # One transaction: PostgreSQL's server-side cursor then streams (outside one, Django declares it WITH HOLD
    # and the server builds the whole result before the first row, while no heartbeat is beaten).
    with transaction.atomic():
        rows = (
            DecisionRecord.objects.order_by("sequence")
            .values_list(
                "id",
                "sequence",
                "created_at",
                "application_id",
                "officer_id",
                "officer__username",
                "decision",
                "probability_of_default",
                "approve_below",
                "decline_from",
                "model_version",
                "model_sha256",
                "previous_hash",
                "record_hash",
                "payload",
            )
            .iterator(chunk_size=2000)
        )
        for (
            rid,
            seq,
            created,
            app_id,
            officer_id,
            officer,
            decision,
            pd,
            approve_below,
            decline_from,
            version,
            sha,
            previous,
            digest,
            payload,
        ) in rows:
            document = json.loads(payload)
            yield (
                rid,
                seq,
                created.isoformat(),
                app_id,
                document.get("applicant_reference", ""),
                officer_id,
                officer,
                decision,
                pd,  # written with repr(): every digit of the stored float
                pd.hex(),
                approve_below,
                decline_from,
                version,
                sha,
                as_json(document.get("inputs")),
                as_json(document.get("features")),
                as_json(document.get("reasons")),
                previous,
                digest,
                payload,
                # The exact bytes the hash covers: the payload column is neutralised
                # for spreadsheets like every text cell, which can change it.
                base64.b64encode(payload.encode("ascii")).decode("ascii"),
            )


def access_events(*, action: str = "", username: str = "") -> QuerySet[AccessEvent]:
    queryset = AccessEvent.objects.all()
    if action:
        queryset = queryset.filter(action=action)
    if username:
        queryset = queryset.filter(username__iexact=username)
    return queryset


def access_actions() -> list[str]:
    return list(AccessEvent.objects.order_by().values_list("action", flat=True).distinct())


# --- Verification runs (issue 16): what /audit/ shows instead of verifying inline ------------------

CHAIN_LABELS = {
    "decisions": "Decision records",
    "cases": "Case records",
    "overrides": "Override records (before issue 14)",
    "outcomes": "Outcome records",
    "role_changes": "Role changes",
    "governance": "Governance records",
}


def latest_verification() -> VerificationRun | None:
    """The latest run that finished with a verdict (passed or failed); one indexed read."""
    return (
        VerificationRun.objects.filter(status__in=(VerificationRun.PASSED, VerificationRun.FAILED))
        .order_by("-finished_at", "-id")
        .first()
    )


def latest_full_verification() -> VerificationRun | None:
    """The latest full run with a verdict: what an incremental run's checkpoint rests on."""
    return (
        VerificationRun.objects.filter(
            kind=VerificationRun.FULL, status__in=(VerificationRun.PASSED, VerificationRun.FAILED)
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def verification_in_progress(*, within_hours: int = 2) -> VerificationRun | None:
    """A run queued or running (younger than ``within_hours``: older ones were lost with their worker)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=within_hours)
    return (
        VerificationRun.objects.filter(
            status__in=(VerificationRun.QUEUED, VerificationRun.RUNNING), created_at__gte=since
        )
        .order_by("-created_at", "-id")
        .first()
    )


def latest_broken_verification(*, after: VerificationRun | None) -> VerificationRun | None:
    """A run that broke (error) after the latest verdict, if any: the auditor should know it did not finish."""
    runs = VerificationRun.objects.filter(status=VerificationRun.ERROR)
    if after is not None and after.finished_at is not None:
        runs = runs.filter(finished_at__gt=after.finished_at)
    return runs.order_by("-finished_at", "-id").first()


@dataclass(frozen=True)
class ChainRow:
    """One row of the verification table: a chain, what the run checked of it, and its checkpoint."""

    name: str
    label: str
    checked: int
    from_sequence: int
    last_sequence: int
    last_hash: str
    problems: int


def verification_chain_rows(run: VerificationRun) -> list[ChainRow]:
    rows = []
    for name, label in CHAIN_LABELS.items():
        chain = run.chains.get(name)
        if chain is None:
            continue
        rows.append(
            ChainRow(
                name=name,
                label=label,
                checked=chain.get("checked", 0),
                from_sequence=chain.get("from_sequence", 0),
                last_sequence=chain.get("last_sequence", 0),
                last_hash=chain.get("last_hash", ""),
                problems=chain.get("problems", 0),
            )
        )
    return rows
