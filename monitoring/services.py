"""Bring the monitoring aggregates up to date from the append-only chains (the periodic task).

``refresh_aggregates`` reads the decision, case and (legacy) override
records appended since the last refresh, in sequence order, and adds them to the daily,
monthly-bin and group tables; the watermark moves in the same transaction
as the sums, so a record is counted exactly once even when two refreshes
race or one is killed. Sequences are handed out under the chain-head lock
and committed in order, so "everything after #n" never skips a record that
commits late. Outcomes are few and change the figures as a whole (AUC,
deciles), so the back-test is recomputed from every outcome whenever the
outcome chain has grown.

The task queue runs it every 5 minutes (``monitoring.tasks``, scheduled by
migration 0003); ``manage.py refresh_monitoring`` runs it by hand. The pages
are as stale as the last run, and say so. Derived data only: ``rebuild_aggregates`` recomputes it all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import CaseRecord, DecisionRecord, OutcomeRecord, OverrideRecord
from governance.models import ChallengerScore
from monitoring.models import (
    ChallengerTally,
    DailyDecisions,
    MonthlyBinCount,
    MonthlyGroupStats,
    OutcomeSnapshot,
    RefreshState,
)
from scoring import drift, schema
from scoring.exceptions import ReferenceUnavailable
from scoring.metrics import quality_metrics
from scoring.results import APPROVE, DECISIONS, DECLINE, REVIEW
from scoring.store import read_monitoring_reference

logger = logging.getLogger(__name__)

STATE = "monitoring"
BATCH_SIZE = 50_000
HISTOGRAM = "probability_histogram"
# Age bands of issue 18 (inclusive bounds); age is never a model input but outcomes may still differ.
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-61", 55, 61),
    ("62+", 62, 200),
)
AGE_BAND = "age_band"
HOME_OWNERSHIP = "person_home_ownership"
GROUP_ATTRIBUTES: tuple[str, ...] = (AGE_BAND, HOME_OWNERSHIP)
# A back-test needs outcomes of both kinds: at least this many outcomes, and this many of each.
MIN_OUTCOMES = 100
MIN_EACH_OUTCOME = 10
DECILES = 10


def age_bands(ages: Any) -> np.ndarray:
    """The band label of each age (``"18-24"`` ... ``"62+"``)."""
    ages = np.asarray(ages, dtype=np.float64)
    uppers = np.array([upper for _, _, upper in AGE_BANDS], dtype=np.float64)
    labels = np.array([label for label, _, _ in AGE_BANDS], dtype=object)
    return labels[np.clip(np.searchsorted(uppers, ages, side="left"), 0, len(AGE_BANDS) - 1)]


@lru_cache(maxsize=32)
def _reference(version: str) -> dict | None:
    try:
        return read_monitoring_reference(settings.MODELS_STORE_DIR, version)
    except ReferenceUnavailable as error:
        logger.warning("drift not measured for model %s: %s", version, error)
        return None


def forget_references() -> None:
    _reference.cache_clear()


@dataclass
class RefreshSummary:
    decisions: int = 0
    # Changes of the decision in force read: case records and legacy overrides.
    overrides: int = 0
    outcomes_recomputed: bool = False
    outcomes: int = 0
    # Challenger shadow scores counted (monitoring.challenger reads their tallies).
    challenger_scores: int = 0


def _state(*, lock: bool = False) -> RefreshState:
    RefreshState.objects.get_or_create(name=STATE)
    queryset = RefreshState.objects.select_for_update() if lock else RefreshState.objects
    return queryset.get(name=STATE)


def _local_days(created: Iterable[Any]) -> tuple[list, list]:
    """Each time's day and month (first day) in the bank's time zone."""
    local = pd.to_datetime(pd.Series(list(created)), utc=True).dt.tz_convert(settings.TIME_ZONE)
    days = local.dt.date.tolist()
    return days, [day.replace(day=1) for day in days]


def _numbers(values: Iterable[Any]) -> np.ndarray:
    return np.array([np.nan if value is None else float(value) for value in values], dtype=np.float64)


def _add(model: type, keys: tuple[str, ...], rows: Mapping[tuple, Mapping[str, float]]) -> None:
    """Add ``rows`` ({key values: {field: amount}}) to ``model``'s rows, creating missing ones."""
    if not rows:
        return
    narrowing = {f"{key}__in": {values[i] for values in rows} for i, key in enumerate(keys)}
    existing = {tuple(getattr(row, key) for key in keys): row for row in model.objects.filter(**narrowing)}
    changed, created, fields = [], [], set()
    for key_values, amounts in rows.items():
        row = existing.get(key_values)
        if row is None:
            created.append(model(**dict(zip(keys, key_values)), **amounts))
            continue
        for field, amount in amounts.items():
            setattr(row, field, getattr(row, field) + amount)
            fields.add(field)
        changed.append(row)
    if changed:
        model.objects.bulk_update(changed, sorted(fields), batch_size=500)
    if created:
        model.objects.bulk_create(created, batch_size=500)


def _decision_batch(start: int, batch_size: int) -> list[tuple]:
    return list(
        DecisionRecord.objects.filter(sequence__gt=start)
        .order_by("sequence")
        .values_list(
            "sequence",
            "decision",
            "probability_of_default",
            "model_version",
            "application__created_at",
            *(f"application__{name}" for name in schema.INPUT_NAMES),
            "outside_experience",
        )[:batch_size]
    )


def _decision_sums(rows: list[tuple]) -> tuple[dict, dict, dict]:
    """The daily, bin and group sums of a batch of decision records."""
    columns = ["sequence", "decision", "probability", "version", "created", *schema.INPUT_NAMES, "outside_experience"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["day"], frame["month"] = _local_days(frame["created"])
    frame["approve"] = (frame["decision"] == APPROVE).astype(np.int64)
    frame["review"] = (frame["decision"] == REVIEW).astype(np.int64)
    frame["decline"] = (frame["decision"] == DECLINE).astype(np.int64)

    daily: dict[tuple, dict] = {}
    for (day, version), group in frame.groupby(["day", "version"], sort=False):
        daily[(day, version)] = {
            "decisions": len(group),
            "approve": int(group["approve"].sum()),
            "review": int(group["review"].sum()),
            "decline": int(group["decline"].sum()),
            "outside_experience": int(group["outside_experience"].astype(bool).sum()),
            "probability_sum": float(group["probability"].sum()),
        }

    bins: dict[tuple, dict] = {}
    probability = frame["probability"].to_numpy(np.float64)
    versions = frame["version"].to_numpy(object)
    months = frame["month"].to_numpy(object)

    def count(version_mask: np.ndarray, version: str, feature: str, index: np.ndarray) -> None:
        pairs = pd.DataFrame({"month": months[version_mask], "bin": index})
        for (month, bin_index), n in pairs.value_counts(sort=False).items():
            key = (month, version, feature, int(bin_index))
            bins[key] = {"count": bins.get(key, {"count": 0})["count"] + int(n)}

    for version in sorted(set(versions)):
        mask = versions == version
        count(mask, version, HISTOGRAM, np.searchsorted(drift.HISTOGRAM_EDGES, probability[mask], side="right"))
        reference = _reference(version)
        if reference is None:
            continue
        for feature, spec in reference["features"].items():
            if feature == drift.PROBABILITY:
                values = probability[mask]
            elif feature in schema.CATEGORICAL_INPUTS:
                values = frame[feature].to_numpy(object)[mask]
            else:
                values = _numbers(frame[feature].to_numpy(object)[mask])
            count(mask, version, feature, drift.bin_values(spec, values))

    groups: dict[tuple, dict] = {}
    frame[AGE_BAND] = age_bands(_numbers(frame["person_age"]))
    for attribute in GROUP_ATTRIBUTES:
        for (month, version, group_name), group in frame.groupby(["month", "version", attribute], sort=False):
            approved = int(group["approve"].sum())
            groups[(month, version, attribute, group_name)] = {
                "decisions": len(group),
                "approved": approved,
                "approved_final": approved,
                "probability_sum": float(group["probability"].sum()),
            }
    return daily, bins, groups


def _refresh_decisions(batch_size: int) -> int:
    start = _state().decision_sequence
    rows = _decision_batch(start, batch_size)
    if not rows:
        return 0
    daily, bins, groups = _decision_sums(rows)
    with transaction.atomic():
        state = _state(lock=True)
        if state.decision_sequence != start:  # another refresh counted them first
            return 0
        _add(DailyDecisions, ("day", "model_version"), daily)
        _add(MonthlyBinCount, ("month", "model_version", "feature", "bin"), bins)
        _add(MonthlyGroupStats, ("month", "model_version", "attribute", "group"), groups)
        state.decision_sequence = rows[-1][0]
        state.save(update_fields=["decision_sequence"])
    return len(rows)


def _refresh_changes(batch_size: int, *, model: type, watermark: str) -> int:
    """Each change of a decision in force moves its application's day in or out of "overridden", and its group's final approvals.

    ``model`` is ``CaseRecord`` (the review workflow: claims, decisions, referrals, second approvals) or
    ``OverrideRecord`` (overrides recorded before it); both carry the decision in force before and after.
    An application counts as overridden while its decision in force differs from the model's (the
    definition ``/audit/`` uses); a move that leaves the decision as it was (a claim) changes nothing.
    """
    start = getattr(_state(), watermark)
    rows = list(
        model.objects.filter(sequence__gt=start)
        .order_by("sequence")
        .values_list(
            "sequence",
            "from_decision",
            "to_decision",
            "decision_record__decision",
            "decision_record__model_version",
            "application__created_at",
            "application__person_age",
            "application__person_home_ownership",
        )[:batch_size]
    )
    if not rows:
        return 0
    days, months = _local_days(row[5] for row in rows)
    bands = age_bands(_numbers(row[6] for row in rows))
    daily: dict[tuple, dict] = {}
    groups: dict[tuple, dict] = {}
    for row, day, month, band in zip(rows, days, months, bands):
        _, before, after, model_decision, version = row[:5]
        moved = int(after != model_decision) - int(before != model_decision)
        approvals = int(after == APPROVE) - int(before == APPROVE)
        if not moved and not approvals:
            continue
        entry = daily.setdefault((day, version), {"overridden": 0})
        entry["overridden"] += moved
        for attribute, group_name in ((AGE_BAND, band), (HOME_OWNERSHIP, row[7])):
            groups.setdefault((month, version, attribute, group_name), {"approved_final": 0})
            groups[(month, version, attribute, group_name)]["approved_final"] += approvals
    with transaction.atomic():
        state = _state(lock=True)
        if getattr(state, watermark) != start:
            return 0
        _add(DailyDecisions, ("day", "model_version"), daily)
        _add(MonthlyGroupStats, ("month", "model_version", "attribute", "group"), groups)
        setattr(state, watermark, rows[-1][0])
        state.save(update_fields=[watermark])
    return len(rows)


def backtest(outcomes: np.ndarray, probabilities: np.ndarray, decisions: np.ndarray) -> dict[str, Any]:
    """Predicted against realised for one model version's outcomes (1 = defaulted).

    Per decision band and per probability decile (of these outcomes'
    predictions): count, mean predicted probability, realised default rate;
    and ROC AUC, Brier score, KS and the rest of ``scoring.metrics``.
    ``enough`` is False (and no metrics) below ``MIN_OUTCOMES`` outcomes or
    ``MIN_EACH_OUTCOME`` of either kind.
    """
    outcomes = np.asarray(outcomes, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    decisions = np.asarray(decisions, dtype=object)
    defaults = int(outcomes.sum())
    result: dict[str, Any] = {
        "outcomes": len(outcomes),
        "defaults": defaults,
        "enough": len(outcomes) >= MIN_OUTCOMES and min(defaults, len(outcomes) - defaults) >= MIN_EACH_OUTCOME,
        "bands": [],
        "deciles": [],
        "metrics": None,
    }
    for decision in DECISIONS:
        mask = decisions == decision
        result["bands"].append(_cell(decision, outcomes[mask], probabilities[mask]))
    if not result["enough"]:
        return result
    # Deciles by rank (ties split by the stable sort): ten groups of near-equal size even when many
    # predictions are equal, which quantile edges would lump together.
    order = np.argsort(probabilities, kind="stable")
    for number, part in enumerate(np.array_split(order, min(DECILES, len(order))), start=1):
        cell = _cell(str(number), outcomes[part], probabilities[part])
        cell["from"], cell["to"] = float(probabilities[part].min()), float(probabilities[part].max())
        result["deciles"].append(cell)
    result["metrics"] = quality_metrics(outcomes, probabilities)
    return result


def _cell(label: str, outcomes: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    n = len(outcomes)
    return {
        "label": label,
        "n": n,
        "defaults": int(outcomes.sum()),
        "predicted": float(probabilities.mean()) if n else None,
        "realised": float(outcomes.mean()) if n else None,
    }


def _realised_by_group(frame: pd.DataFrame) -> dict[str, dict[str, dict]]:
    return {
        attribute: {
            str(name): {"outcomes": len(group), "defaults": int(group["defaulted"].sum())}
            for name, group in frame.groupby(attribute)
        }
        for attribute in GROUP_ATTRIBUTES
    }


def _refresh_challenger(batch_size: int) -> int:
    """Add the shadow scores stored since the last refresh to the challenger tallies (one batch)."""
    start = _state().challenger_score_id
    rows = list(
        ChallengerScore.objects.filter(pk__gt=start)
        .order_by("pk")
        .values_list(
            "pk",
            "model_version",
            "champion_version",
            "status",
            "champion_decision",
            "decision",
            "champion_probability",
            "probability_of_default",
        )[:batch_size]
    )
    if not rows:
        return 0
    tallies: dict[tuple, dict[str, float]] = {}
    for _, version, champion_version, status, champion, decision, champion_p, challenger_p in rows:
        entry = tallies.setdefault(
            (version, champion_version, status, champion, decision),
            {"scores": 0, "champion_probability_sum": 0.0, "challenger_probability_sum": 0.0},
        )
        entry["scores"] += 1
        entry["champion_probability_sum"] += champion_p or 0.0
        entry["challenger_probability_sum"] += challenger_p or 0.0
    with transaction.atomic():
        state = _state(lock=True)
        if state.challenger_score_id != start:
            return 0
        _add(ChallengerTally, ("model_version", "champion_version", "status", "champion_decision", "decision"), tallies)
        state.challenger_score_id = rows[-1][0]
        state.save(update_fields=["challenger_score_id"])
    return len(rows)


def _refresh_outcomes(*, force: bool = False) -> int | None:
    """Recompute the back-test and realised default rates from the latest outcome of every application."""
    head = OutcomeRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    state = _state()
    if head == state.outcome_sequence and not force and OutcomeSnapshot.objects.filter(name=STATE).exists():
        return None
    latest: dict[int, tuple] = {}
    for row in (
        OutcomeRecord.objects.filter(sequence__lte=head)
        .order_by("sequence")
        .values_list(
            "application_id",
            "outcome",
            "decision_record__probability_of_default",
            "decision_record__decision",
            "decision_record__model_version",
            "application__person_age",
            "application__person_home_ownership",
        )
        .iterator(chunk_size=10_000)
    ):
        latest[row[0]] = row[1:]
    frame = pd.DataFrame(
        list(latest.values()), columns=["outcome", "probability", "decision", "version", "age", HOME_OWNERSHIP]
    )
    frame["defaulted"] = (frame["outcome"] == OutcomeRecord.DEFAULTED).astype(np.int64)
    frame[AGE_BAND] = age_bands(_numbers(frame["age"]))
    versions = {}
    for version, group in frame.groupby("version"):
        versions[version] = backtest(group["defaulted"], group["probability"], group["decision"])
    document = {
        "versions": versions,
        "realised_by_group": _realised_by_group(frame),
        "realised_by_group_version": {
            version: _realised_by_group(group) for version, group in frame.groupby("version")
        },
    }
    with transaction.atomic():
        locked = _state(lock=True)
        OutcomeSnapshot.objects.update_or_create(
            name=STATE, defaults={"computed_at": timezone.now(), "outcomes": len(frame), "document": document}
        )
        locked.outcome_sequence = head
        locked.save(update_fields=["outcome_sequence"])
    return len(frame)


def refresh_aggregates(*, batch_size: int = BATCH_SIZE) -> RefreshSummary:
    """Count every decision and override recorded since the last refresh; recompute the back-test if outcomes came."""
    summary = RefreshSummary()
    while (counted := _refresh_decisions(batch_size)) > 0:
        summary.decisions += counted
    for model, watermark in ((OverrideRecord, "override_sequence"), (CaseRecord, "case_sequence")):
        while (counted := _refresh_changes(batch_size, model=model, watermark=watermark)) > 0:
            summary.overrides += counted
    while (counted := _refresh_challenger(batch_size)) > 0:
        summary.challenger_scores += counted
    outcomes = _refresh_outcomes()
    if outcomes is not None:
        summary.outcomes_recomputed, summary.outcomes = True, outcomes
    RefreshState.objects.filter(name=STATE).update(refreshed_at=timezone.now())
    return summary


def rebuild_aggregates(*, batch_size: int = BATCH_SIZE) -> RefreshSummary:
    """Empty every aggregate and count the chains again from the start (e.g. after drift bins were attached)."""
    forget_references()
    with transaction.atomic():
        _state(lock=True)
        for model in (DailyDecisions, MonthlyBinCount, MonthlyGroupStats, OutcomeSnapshot, ChallengerTally):
            model.objects.all().delete()
        RefreshState.objects.filter(name=STATE).update(
            decision_sequence=0,
            override_sequence=0,
            case_sequence=0,
            outcome_sequence=0,
            challenger_score_id=0,
            refreshed_at=None,
        )
    return refresh_aggregates(batch_size=batch_size)
