"""Champion against challenger: what the shadow scores say beside the real decisions (``/governance/challenger/``).

The challenger is set and its shadow scores are written by ``governance``
(``governance.shadow``); comparing them, and back-testing both against
outcomes with ``monitoring.services.backtest``, is monitoring's, which is
why the page is built here although it lives under ``/governance/``.

The agreement table and the mean probabilities come from
``monitoring.ChallengerTally``, counted by the periodic refresh (every 5
minutes, ``refresh_monitoring``) like the other monitoring figures and as
stale as its last run (the page says how many shadow scores came since).
The swap sets are read from ``governance.ChallengerScore`` up to the same
watermark (an index range each: ``challenger_compare_idx``), and the
back-test from the outcomes recorded, looked up by application: both
follow small sets, not the challenger's whole history.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Sum

from audit.models import OutcomeRecord
from governance.models import ChallengerScore
from governance.selectors import challenger_version
from monitoring import charts
from monitoring.models import ChallengerTally, RefreshState
from monitoring.services import STATE, backtest
from scoring.results import APPROVE, DECISIONS, DECLINE

SWAP_LIST_LIMIT = 100
# Application ids per IN (...) lookup: below SQLite's 999-parameter floor.
OUTCOME_LOOKUP_CHUNK = 900
BACKTEST_METRICS = (("roc_auc", "ROC AUC"), ("brier", "Brier score"), ("ks", "KS"), ("ece", "ECE"))


def compared_versions() -> list[str]:
    """Every version with counted shadow scores, the current challenger first."""
    current = challenger_version()
    found = sorted(ChallengerTally.objects.order_by().values_list("model_version", flat=True).distinct())
    if current:
        found = [current] + [version for version in found if version != current]
    return found


def chosen_challenger(requested: str | None) -> str | None:
    versions = compared_versions()
    if requested in versions:
        return requested
    return versions[0] if versions else None


def freshness() -> dict[str, Any]:
    """Up to which shadow score the tallies count, when they were refreshed, and how many were stored since."""
    state = RefreshState.objects.filter(name=STATE).first()
    counted = state.challenger_score_id if state else 0
    return {
        "refreshed_at": state.refreshed_at if state else None,
        "counted_to": counted,
        "behind": ChallengerScore.objects.filter(pk__gt=counted).count(),
    }


def agreement(version: str) -> dict[str, Any]:
    """The champion's decision against the challenger's, over every counted application the challenger scored.

    ``matrix[champion][challenger]`` counts applications; ``rate`` is the
    share on the diagonal (both gave the same decision), ``None`` before any
    shadow score. From the refreshed tallies (``ChallengerTally``).
    """
    matrix = {champion: dict.fromkeys(DECISIONS, 0) for champion in DECISIONS}
    failed = 0
    sums = [0.0, 0.0]
    champions = set()
    for tally in ChallengerTally.objects.filter(model_version=version):
        champions.add(tally.champion_version)
        if tally.status == ChallengerScore.Status.FAILED:
            failed += tally.scores
        elif tally.champion_decision in matrix and tally.decision in matrix[tally.champion_decision]:
            matrix[tally.champion_decision][tally.decision] += tally.scores
            sums[0] += tally.champion_probability_sum
            sums[1] += tally.challenger_probability_sum
    scored = sum(sum(row.values()) for row in matrix.values())
    same = sum(matrix[decision][decision] for decision in DECISIONS)
    return {
        "matrix": matrix,
        "scored": scored,
        "failed": failed,
        "agreed": same,
        "rate": same / scored if scored else None,
        "mean_champion": sums[0] / scored if scored else None,
        "mean_challenger": sums[1] / scored if scored else None,
        "champion_versions": sorted(champions),
    }


def swap_sets(version: str, *, limit: int = SWAP_LIST_LIMIT, counted_to: int | None = None) -> dict[str, Any]:
    """Applications the challenger would approve that the champion declined ("in"), and the reverse ("out").

    Each set's count and its latest ``limit`` applications, among the shadow
    scores the tallies count (up to ``counted_to``), so the lists and the
    agreement table describe the same applications.
    """
    if counted_to is None:
        counted_to = freshness()["counted_to"]
    base = ChallengerScore.objects.filter(
        model_version=version, status=ChallengerScore.Status.SCORED, pk__lte=counted_to
    )
    sets = {}
    for name, champion, challenger in (("in", DECLINE, APPROVE), ("out", APPROVE, DECLINE)):
        chosen = base.filter(champion_decision=champion, decision=challenger)
        # The count from the tallies (the same scores, up to the same watermark): counting the
        # index range would visit every row of a large set.
        count = ChallengerTally.objects.filter(
            model_version=version,
            status=ChallengerScore.Status.SCORED,
            champion_decision=champion,
            decision=challenger,
        ).aggregate(n=Sum("scores"))["n"]
        sets[name] = {
            "count": count or 0,
            "rows": list(
                chosen.order_by("-application_id").values(
                    "application_id", "champion_probability", "probability_of_default", "scored_at"
                )[:limit]
            ),
        }
    return sets


def _outcomes_for(version: str) -> list[tuple[int, float, str, float, str]]:
    """(defaulted, champion probability, champion decision, challenger probability, challenger decision) per
    application the challenger scored that has an outcome (its latest one counts).

    Starts from the outcomes (recorded by hand or import: far fewer than
    applications) and looks their shadow scores up by application, so the
    cost follows the outcomes, not the challenger's whole history.
    """
    latest: dict[int, str] = {}
    for application_id, outcome in OutcomeRecord.objects.order_by("sequence").values_list("application_id", "outcome"):
        latest[application_id] = outcome
    if not latest:
        return []
    scored: dict[int, tuple] = {}
    ids = sorted(latest)
    for start in range(0, len(ids), OUTCOME_LOOKUP_CHUNK):
        for application_id, *answers in (
            ChallengerScore.objects.filter(
                model_version=version,
                status=ChallengerScore.Status.SCORED,
                application_id__in=ids[start : start + OUTCOME_LOOKUP_CHUNK],
            )
            .order_by("id")
            .values_list(
                "application_id", "champion_probability", "champion_decision", "probability_of_default", "decision"
            )
        ):
            scored[application_id] = tuple(answers)
    return [(int(latest[pk] == OutcomeRecord.DEFAULTED), *scored[pk]) for pk in ids if pk in scored]


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
    fresh = freshness()
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
        "swaps": swap_sets(version, counted_to=fresh["counted_to"]),
        "freshness": fresh,
        "backtest": tests,
        "metrics": metrics,
        "deciles": deciles,
        "chart": chart,
    }
