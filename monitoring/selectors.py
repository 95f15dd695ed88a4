"""Read side of monitoring: the figures each page and CSV shows, from the aggregate tables only.

Every function reads a few hundred aggregate rows at most (days, weeks,
months times bins), never the application or record tables, so a page costs
the same at a thousand applications as at a million. The two live counts
(pending applications, records not yet aggregated) are single indexed
lookups.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Sum

from applications.models import LoanApplication
from audit.models import ChainHead
from monitoring.models import DailyDecisions, MonthlyBinCount, MonthlyGroupStats, OutcomeSnapshot, RefreshState
from monitoring.services import AGE_BAND, AGE_BANDS, GROUP_ATTRIBUTES, HISTOGRAM, HOME_OWNERSHIP, STATE
from scoring import drift, schema
from scoring.exceptions import ModelUnavailable, ReferenceUnavailable
from scoring.store import active_version, read_monitoring_reference

DAYS_SHOWN = 90
WEEKS_SHOWN = 26
# A month with fewer decisions gives a PSI that is mostly noise: shown, but no banner.
MIN_ROWS_FOR_ALERT = 100
# The four-fifths rule: a group approved at under 80% of the most-approved group's rate is flagged.
ADVERSE_IMPACT_FLAG = 0.8
ATTRIBUTE_LABELS = {AGE_BAND: "Age band", HOME_OWNERSHIP: "Home ownership"}
FEATURE_LABELS = {**{f.name: f.label for f in schema.INPUT_FIELDS}, drift.PROBABILITY: "Probability of default"}


def freshness() -> dict[str, Any]:
    """When the aggregates were refreshed and how many decisions were recorded since."""
    state = RefreshState.objects.filter(name=STATE).first()
    head = ChainHead.objects.filter(name=ChainHead.DECISIONS).values_list("sequence", flat=True).first() or 0
    counted = state.decision_sequence if state else 0
    return {"refreshed_at": state.refreshed_at if state else None, "counted": counted, "behind": max(0, head - counted)}


def pending_count() -> int:
    """Applications waiting for the model (the partial index on PENDING makes this cheap)."""
    return LoanApplication.objects.filter(status=LoanApplication.Status.PENDING).count()


def outside_experience_count() -> int:
    """Decisions counted so far that were REVIEW because an input was outside the model's training ranges."""
    return DailyDecisions.objects.aggregate(n=Sum("outside_experience"))["n"] or 0


def versions_in_use() -> list[str]:
    return list(DailyDecisions.objects.order_by("model_version").values_list("model_version", flat=True).distinct())


def chosen_version(requested: str | None) -> str | None:
    """``requested`` if decisions of it were counted, else the serving model if it has any, else the busiest."""
    versions = versions_in_use()
    if requested in versions:
        return requested
    try:
        serving = settings.SCORING_MODEL_VERSION or active_version(settings.MODELS_STORE_DIR)
    except ModelUnavailable:
        serving = None
    if serving in versions:
        return serving
    busiest = (
        DailyDecisions.objects.values("model_version").annotate(n=Sum("decisions")).order_by("-n").first() or {}
    ).get("model_version")
    return busiest


_SUMMED = ("decisions", "approve", "review", "decline", "overridden", "outside_experience")


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    n = row["decisions"]
    for name in ("approve", "review", "decline", "overridden"):
        row[f"{name}_share"] = row[name] / n if n else None
    return row


def daily_series(*, days: int | None = DAYS_SHOWN) -> list[dict[str, Any]]:
    """Per day (all model versions): decisions, the mix and overrides; days without any shown as zero.

    The last ``days`` days up to the latest day with decisions (``None``: every day).
    """
    sums = {
        row["day"]: row
        for row in DailyDecisions.objects.values("day").annotate(**{name: Sum(name) for name in _SUMMED}).order_by()
    }
    if not sums:
        return []
    last = max(sums)
    first = min(sums) if days is None else max(min(sums), last - dt.timedelta(days=days - 1))
    series = []
    day = first
    while day <= last:
        row = sums.get(day) or {"day": day, **dict.fromkeys(_SUMMED, 0)}
        series.append(_with_rates(dict(row)))
        day += dt.timedelta(days=1)
    return series


def weekly_series(*, weeks: int | None = WEEKS_SHOWN) -> list[dict[str, Any]]:
    """Per week (Monday to Sunday): decisions, the decision mix and the override rate."""
    by_week: dict[dt.date, dict[str, Any]] = {}
    for row in daily_series(days=None):
        monday = row["day"] - dt.timedelta(days=row["day"].weekday())
        week = by_week.setdefault(monday, {"week": monday, **dict.fromkeys(_SUMMED, 0)})
        for name in _SUMMED:
            week[name] += row[name]
    series = [_with_rates(by_week[monday]) for monday in sorted(by_week)]
    return series if weeks is None else series[-weeks:]


def _reference(version: str | None) -> tuple[dict | None, str]:
    if version is None:
        return None, "No decisions have been counted yet."
    try:
        return read_monitoring_reference(settings.MODELS_STORE_DIR, version), ""
    except ReferenceUnavailable as error:
        return None, str(error)


def probability_distribution(version: str | None) -> dict[str, Any]:
    """The model's probabilities of default in fixed 5-point bins, beside the training rows' shares."""
    counts = dict(
        MonthlyBinCount.objects.filter(model_version=version, feature=HISTOGRAM)
        .values_list("bin")
        .annotate(n=Sum("count"))
        .order_by()
    )
    reference, problem = _reference(version)
    edges = list(drift.HISTOGRAM_EDGES)
    total = sum(counts.values())
    training = reference["probability_histogram"]["shares"] if reference else [None] * (len(edges) + 1)
    bounds = [0.0, *edges, 1.0]
    rows = []
    for index in range(len(edges) + 1):
        n = counts.get(index, 0)
        rows.append(
            {
                "label": f"{bounds[index] * 100:.0f}–{bounds[index + 1] * 100:.0f}%",
                "count": n,
                "share": n / total if total else None,
                "training_share": training[index],
            }
        )
    return {"version": version, "rows": rows, "total": total, "problem": problem}


def drift_table(version: str | None) -> dict[str, Any]:
    """PSI of every input and of the probability, per month, against ``version``'s training bins."""
    reference, problem = _reference(version)
    if reference is None:
        return {"version": version, "months": [], "features": [], "problem": problem}
    counts: dict[tuple[str, dt.date], dict[int, int]] = defaultdict(dict)
    for feature, month, bin_index, n in MonthlyBinCount.objects.filter(model_version=version).values_list(
        "feature", "month", "bin", "count"
    ):
        counts[(feature, month)][bin_index] = n
    months = sorted({month for feature, month in counts if feature == drift.PROBABILITY})
    features = []
    for feature, spec in reference["features"].items():
        cells = []
        for month in months:
            by_bin = counts.get((feature, month), {})
            actual = [by_bin.get(index, 0) for index in range(drift.bin_count(spec))]
            value = drift.psi(spec["shares"], actual)
            cells.append({"month": month, "n": sum(actual), "psi": value, "band": drift.psi_band(value)})
        features.append({"feature": feature, "label": FEATURE_LABELS.get(feature, feature), "cells": cells})
    return {"version": version, "months": months, "features": features, "problem": ""}


def drift_alerts() -> list[dict[str, Any]]:
    """Every feature whose PSI in its version's latest month is in the watch or act band (enough rows only)."""
    alerts = []
    for version in versions_in_use():
        table = drift_table(version)
        for feature in table["features"]:
            latest = feature["cells"][-1] if feature["cells"] else None
            if latest and latest["n"] >= MIN_ROWS_FOR_ALERT and latest["band"] in (drift.WATCH, drift.ACT):
                alerts.append({"version": version, "label": feature["label"], **latest})
    alerts.sort(key=lambda alert: -alert["psi"])
    return alerts


def _group_order(attribute: str) -> list[str]:
    if attribute == AGE_BAND:
        return [label for label, _, _ in AGE_BANDS]
    return list(schema.FIELDS_BY_NAME[attribute].values)


def fairness(version: str | None = None) -> list[dict[str, Any]]:
    """Per attribute and group: approval rates, mean probability, realised default rate, adverse impact ratio.

    All model versions together unless ``version`` is given. The adverse
    impact ratio is each group's approval rate (the model's decision) over
    the highest group's, flagged below 0.8 (the four-fifths rule).
    """
    queryset = MonthlyGroupStats.objects.all()
    if version:
        queryset = queryset.filter(model_version=version)
    sums = {
        (row["attribute"], row["group"]): row
        for row in queryset.values("attribute", "group")
        .annotate(
            decisions=Sum("decisions"),
            approved=Sum("approved"),
            approved_final=Sum("approved_final"),
            probability_sum=Sum("probability_sum"),
        )
        .order_by()
    }
    snapshot = OutcomeSnapshot.objects.filter(name=STATE).first()
    realised = (snapshot.document.get("realised_by_group", {}) if snapshot else {}) if not version else {}
    if version and snapshot:
        realised = snapshot.document.get("realised_by_group_version", {}).get(version, {})
    tables = []
    for attribute in GROUP_ATTRIBUTES:
        rows = []
        for group in _group_order(attribute):
            row = sums.get((attribute, group))
            n = row["decisions"] if row else 0
            outcome = realised.get(attribute, {}).get(group, {"outcomes": 0, "defaults": 0})
            rows.append(
                {
                    "group": group,
                    "decisions": n,
                    "approval_rate": row["approved"] / n if n else None,
                    "final_approval_rate": row["approved_final"] / n if n else None,
                    "mean_probability": row["probability_sum"] / n if n else None,
                    "outcomes": outcome["outcomes"],
                    "realised_default_rate": outcome["defaults"] / outcome["outcomes"] if outcome["outcomes"] else None,
                }
            )
        _adverse_impact(rows, "approval_rate", "air")
        _adverse_impact(rows, "final_approval_rate", "final_air")
        tables.append({"attribute": attribute, "label": ATTRIBUTE_LABELS[attribute], "rows": rows})
    return tables


def _adverse_impact(rows: list[dict[str, Any]], rate: str, ratio: str) -> None:
    """Each row's ``rate`` over the highest one; ``<ratio>_flag`` below ``ADVERSE_IMPACT_FLAG``."""
    rates = [row[rate] for row in rows if row[rate] is not None]
    best = max(rates) if rates else None
    for row in rows:
        value = row[rate] / best if best and row[rate] is not None else None
        row[ratio] = value
        row[f"{ratio}_flag"] = value is not None and value < ADVERSE_IMPACT_FLAG


def backtest(version: str | None) -> dict[str, Any]:
    """The back-test of ``version`` from the last outcome snapshot (``None`` if no outcome was recorded for it)."""
    snapshot = OutcomeSnapshot.objects.filter(name=STATE).first()
    if snapshot is None or version is None:
        return {"computed_at": None, "result": None}
    return {"computed_at": snapshot.computed_at, "result": snapshot.document.get("versions", {}).get(version)}


def backtest_versions() -> list[str]:
    snapshot = OutcomeSnapshot.objects.filter(name=STATE).first()
    return sorted(snapshot.document.get("versions", {})) if snapshot else []
