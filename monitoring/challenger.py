"""Champion against challenger: what the shadow scores say beside the real decisions (``/governance/challenger/``).

The challenger is set and its shadow scores are written by ``governance``
(``governance.shadow``); comparing them, and back-testing both against
outcomes with ``monitoring.services.backtest``, is monitoring's, which is
why the page is built here although it lives under ``/governance/``.

Every figure is read live from ``governance.ChallengerScore`` (one
grouped count for the agreement table, two aggregates, two bounded lists
for the swap sets) and, for the back-test, from the outcomes of the
applications the challenger scored; a challenger only has rows from the
day it was set, so these stay small beside the portfolio aggregates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Avg, Count, Q

from audit.models import OutcomeRecord
from governance.models import ChallengerScore
from governance.selectors import challenger_version
from monitoring import charts
from monitoring.services import backtest
from scoring.results import APPROVE, DECISIONS, DECLINE

SWAP_LIST_LIMIT = 100
BACKTEST_METRICS = (("roc_auc", "ROC AUC"), ("brier", "Brier score"), ("ks", "KS"), ("ece", "ECE"))


def compared_versions() -> list[str]:
    """Every version that has shadow scores, the current challenger first."""
    current = challenger_version()
    found = sorted(set(ChallengerScore.objects.values_list("model_version", flat=True).distinct()))
    if current:
        found = [current] + [version for version in found if version != current]
    return found


def chosen_challenger(requested: str | None) -> str | None:
    versions = compared_versions()
    if requested in versions:
        return requested
    return versions[0] if versions else None


def agreement(version: str) -> dict[str, Any]:
    """The champion's decision against the challenger's, over every application the challenger scored.

    ``matrix[champion][challenger]`` counts applications; ``rate`` is the
    share on the diagonal (both gave the same decision), ``None`` before any
    shadow score.
    """
    rows = ChallengerScore.objects.filter(model_version=version)
    matrix = {champion: dict.fromkeys(DECISIONS, 0) for champion in DECISIONS}
    failed = 0
    for champion, challenger, status, n in rows.values_list("champion_decision", "decision", "status").annotate(
        n=Count("id")
    ):
        if status == ChallengerScore.Status.FAILED:
            failed += n
        elif champion in matrix and challenger in matrix[champion]:
            matrix[champion][challenger] += n
    scored = sum(sum(row.values()) for row in matrix.values())
    same = sum(matrix[decision][decision] for decision in DECISIONS)
    means = rows.filter(status=ChallengerScore.Status.SCORED).aggregate(
        champion=Avg("champion_probability"), challenger=Avg("probability_of_default")
    )
    champions = sorted(set(rows.values_list("champion_version", flat=True).distinct()))
    return {
        "matrix": matrix,
        "scored": scored,
        "failed": failed,
        "agreed": same,
        "rate": same / scored if scored else None,
        "mean_champion": means["champion"],
        "mean_challenger": means["challenger"],
        "champion_versions": champions,
    }


def swap_sets(version: str, *, limit: int = SWAP_LIST_LIMIT) -> dict[str, Any]:
    """Applications the challenger would approve that the champion declined ("in"), and the reverse ("out").

    Each set's full count and its latest ``limit`` applications.
    """
    base = ChallengerScore.objects.filter(model_version=version, status=ChallengerScore.Status.SCORED)
    sets = {}
    for name, champion, challenger in (("in", DECLINE, APPROVE), ("out", APPROVE, DECLINE)):
        chosen = base.filter(champion_decision=champion, decision=challenger)
        sets[name] = {
            "count": chosen.count(),
            "rows": list(
                chosen.order_by("-application_id").values(
                    "application_id", "champion_probability", "probability_of_default", "scored_at"
                )[:limit]
            ),
        }
    return sets


def _outcomes_for(version: str) -> list[tuple[int, float, str, float, str]]:
    """(defaulted, champion probability, champion decision, challenger probability, challenger decision) per
    application the challenger scored that has an outcome (its latest one counts)."""
    scored = {
        application_id: (champion_p, champion_d, challenger_p, challenger_d)
        for application_id, champion_p, champion_d, challenger_p, challenger_d in ChallengerScore.objects.filter(
            Q(model_version=version, status=ChallengerScore.Status.SCORED)
            & Q(application__outcome_records__isnull=False)
        )
        .order_by("id")
        .values_list(
            "application_id", "champion_probability", "champion_decision", "probability_of_default", "decision"
        )
    }
    if not scored:
        return []
    latest: dict[int, str] = {}
    for application_id, outcome in (
        OutcomeRecord.objects.filter(application_id__in=list(scored))
        .order_by("sequence")
        .values_list("application_id", "outcome")
    ):
        latest[application_id] = outcome
    return [(int(latest[pk] == OutcomeRecord.DEFAULTED), *scored[pk]) for pk in sorted(latest) if pk in scored]


def backtests(version: str) -> dict[str, Any]:
    """Both models' back-test (``monitoring.services.backtest``) on the same applications: those with an outcome."""
    rows = _outcomes_for(version)
    if not rows:
        return {"outcomes": 0, "champion": None, "challenger": None}
    table = np.array([(row[0], row[1], row[3]) for row in rows], dtype=np.float64)
    champion_decisions = np.array([row[2] for row in rows], dtype=object)
    challenger_decisions = np.array([row[4] for row in rows], dtype=object)
    outcomes = table[:, 0].astype(np.int64)
    return {
        "outcomes": len(rows),
        "champion": backtest(outcomes, table[:, 1], champion_decisions),
        "challenger": backtest(outcomes, table[:, 2], challenger_decisions),
    }


def comparison(version: str | None) -> dict[str, Any] | None:
    """Everything the comparison page shows for challenger ``version`` (``None``: no shadow score yet)."""
    if version is None:
        return None
    figures = agreement(version)
    tests = backtests(version)
    champion_mix = [sum(figures["matrix"][d].values()) for d in DECISIONS]
    challenger_mix = [sum(figures["matrix"][c][d] for c in DECISIONS) for d in DECISIONS]
    chart = None
    if figures["scored"]:
        chart = charts.bar_chart(
            slug="challenger-mix",
            title=f"Decisions of the champion and of challenger {version} on the same applications",
            description="Bars: for each decision, how many applications the champion gave it (first bar) and how "
            "many the challenger would have given it (second bar). The table below has the same numbers.",
            labels=list(DECISIONS),
            series=[
                charts.Series("Champion (decided)", champion_mix, "chart-s1"),
                charts.Series(f"Challenger {version} (shadow)", challenger_mix, "chart-s2"),
            ],
        )
    metrics = []
    deciles = []
    if tests["champion"] and tests["champion"]["enough"]:
        for key, label in BACKTEST_METRICS:
            metrics.append((label, tests["champion"]["metrics"][key], tests["challenger"]["metrics"][key]))
        for champion, challenger in zip(tests["champion"]["deciles"], tests["challenger"]["deciles"], strict=True):
            deciles.append((champion, challenger))
    return {
        "version": version,
        "agreement": figures,
        "mix": list(zip(DECISIONS, champion_mix, challenger_mix, strict=True)),
        "swaps": swap_sets(version),
        "backtest": tests,
        "metrics": metrics,
        "deciles": deciles,
        "chart": chart,
    }
