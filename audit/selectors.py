"""Read side of the audit trail: what the auditor's pages, exports and panels show."""

from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Max, Min, QuerySet

from audit.models import AccessEvent, CaseRecord, ChainHead, DecisionRecord, OverrideRecord
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
    return (
        DecisionRecord.objects.filter(application_id=application_id)
        .order_by("sequence")
        .only(
            "id",
            "sequence",
            "record_hash",
            "created_at",
            "model_version",
            "decision",
            "application_id",
            "outside_experience",
            "payload",
        )
    )


def decision_model_versions() -> list[str]:
    """Every model version with a decision record, in order (index seeks on ``decision_version_sequence``)."""
    return distinct_values(DecisionRecord.objects.all(), "model_version")


def chain_heads() -> dict[str, ChainHead]:
    return {head.name: head for head in ChainHead.objects.all()}


def model_versions_in_use() -> list[dict[str, Any]]:
    """Each recorded (model version, artifact SHA-256) with its decision count and time span."""
    return list(
        DecisionRecord.objects.values("model_version", "model_sha256")
        .annotate(decisions=Count("id"), first=Min("created_at"), last=Max("created_at"))
        .order_by("model_version", "model_sha256")
    )


def decision_mix_by_version() -> list[dict[str, Any]]:
    """Per model version: how many APPROVE / REVIEW / DECLINE, counts and shares, and how many REVIEWs the training-range guard made."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DECISIONS, 0))
    outside: dict[str, int] = defaultdict(int)
    rows = DecisionRecord.objects.values("model_version", "decision", "outside_experience").annotate(n=Count("id"))
    for row in rows.order_by():
        version_counts = counts[row["model_version"]]
        version_counts[row["decision"]] = version_counts.get(row["decision"], 0) + row["n"]
        if row["outside_experience"]:
            outside[row["model_version"]] += row["n"]
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


def override_rates() -> dict[str, list[dict[str, Any]]]:
    """Override counts and rates per reviewer and per model version.

    An override is a change of the decision in force by a reviewer: a legacy
    ``OverrideRecord``, or a ``CaseRecord`` whose decision in force differs
    after it (a decision, a confirmed approval, a referral of a model
    decision; claims and proposals change nothing in force). The rate is
    overrides per decision recorded: for a model version, of its decisions;
    for a reviewer, of all decisions (a reviewer may act on any application
    but their own).
    """
    total_decisions = DecisionRecord.objects.count()
    by_version_decisions = dict(DecisionRecord.objects.values_list("model_version").annotate(n=Count("id")).order_by())
    changes = CaseRecord.objects.exclude(to_decision=F("from_decision"))
    counts: dict[str, list] = defaultdict(lambda: [0, set()])
    for username, application_id in (
        *OverrideRecord.objects.values_list("reviewer__username", "application_id").order_by(),
        *changes.values_list("actor__username", "application_id").order_by(),
    ):
        counts[username][0] += 1
        counts[username][1].add(application_id)
    per_reviewer = [
        {
            "reviewer": username,
            "overrides": n,
            "applications": len(applications),
            "rate": n / total_decisions if total_decisions else 0.0,
        }
        for username, (n, applications) in sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
    ]
    overridden: dict[str, set[int]] = defaultdict(set)
    for version, application_id in (
        *OverrideRecord.objects.values_list("decision_record__model_version", "application_id").order_by(),
        *changes.values_list("decision_record__model_version", "application_id").order_by(),
    ):
        overridden[version].add(application_id)
    per_version = []
    for version, decisions in sorted(by_version_decisions.items()):
        n = len(overridden.get(version, ()))
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

    yield DECISION_CSV_HEADER
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
            json.dumps(document.get("inputs"), sort_keys=True),
            json.dumps(document.get("features"), sort_keys=True),
            json.dumps(document.get("reasons"), sort_keys=True),
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
