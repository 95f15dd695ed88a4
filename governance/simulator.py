"""The cut-off simulator: what other approve and decline cut-offs would have done to the stored applications.

Reads the audit trail (the latest decision record of each application scored
by the chosen model in the period, and the latest recorded outcome of each),
never the application table, so the figures are those of the hashed records.
Probabilities are the model's, as recorded; only the cut-offs change. The
records are reached through ``audit.models.LatestDecision``, the index of each
application's latest record and outcome kept by the services that append them
and checked against the chains by ``verify_decisions``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from audit.models import DecisionRecord, LatestDecision, OutcomeRecord
from scoring.services import DecisionPolicy

LISTED = 100
# Application ids per query of their records: under SQLite's oldest parameter limit (32,766).
RECORD_SLICE = 30_000


@dataclass(frozen=True)
class PolicyFigures:
    approve_below: float
    decline_from: float
    approved: int
    referred: int
    declined: int
    approval_rate: float | None
    # Mean predicted probability of default of the approved.
    expected_bad_rate: float | None
    # Approved applications with a recorded outcome, and the share of them that defaulted.
    approved_with_outcome: int
    realised_bad_rate: float | None


@dataclass(frozen=True)
class Simulation:
    model_version: str
    start: dt.date | None
    end: dt.date | None
    applications: int
    current: PolicyFigures
    proposed: PolicyFigures
    # Application ids approved under the proposed cut-offs but not under the current ones, and the reverse.
    swap_in: list[int]
    swap_out: list[int]
    swap_in_count: int
    swap_out_count: int
    # Declined under the proposed cut-offs but not now, and the reverse.
    newly_declined_count: int
    no_longer_declined_count: int


def _bounds(start: dt.date | None, end: dt.date | None) -> dict:
    """Record-time filters for the period [start, end], both days included, in the bank's time zone."""
    zone = timezone.get_current_timezone()
    filters = {}
    if start is not None:
        filters["created_at__gte"] = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
    if end is not None:
        filters["created_at__lt"] = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return filters


# Every outcome the latest-decision index can hold ("" while none): named, so each is a range of its index.
_OUTCOMES = ("", OutcomeRecord.DEFAULTED, OutcomeRecord.REPAID)


class Bands:
    """Applications counted by probability band (between consecutive cut-offs) and latest outcome.

    Every figure of both policies is a sum over whole bands, since each cut-off is a band edge:
    band ``k`` holds the probabilities ``edges[k-1] <= p < edges[k]``.
    """

    def __init__(self, edges: list[float]) -> None:
        self.edges = edges
        # (band, outcome) -> [applications, sum of their probabilities]
        self.tally: dict[tuple[int, str], list] = {}

    def add(self, band: int, outcome: str, count: int, probability_sum: float) -> None:
        entry = self.tally.setdefault((band, outcome), [0, 0.0])
        entry[0] += count
        entry[1] += probability_sum

    def count(self, low: float = -np.inf, high: float = np.inf, outcome: str | None = None, known: bool = False) -> int:
        """Applications with ``low <= p < high`` (both edges or infinite), of ``outcome`` or with any when ``known``."""
        return sum(
            count
            for (band, kind), (count, _) in self.tally.items()
            if self._within(band, low, high) and (outcome is None or kind == outcome) and (not known or kind)
        )

    def probability_sum(self, high: float) -> float:
        return sum(total for (band, _), (_, total) in self.tally.items() if self._within(band, -np.inf, high))

    def _within(self, band: int, low: float, high: float) -> bool:
        lower = self.edges[band - 1] if band else -np.inf
        upper = self.edges[band] if band < len(self.edges) else np.inf
        return lower >= low and upper <= high


def _band_ranges(edges: list[float]) -> list[tuple[float | None, float | None]]:
    bounds = [None, *edges, None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _bands_in_sql(latest: QuerySet, bands: Bands, summed_below: float) -> None:
    """Count each band of ``latest`` (``LatestDecision`` rows) by outcome: one index range per band and outcome."""
    for band, (low, high) in enumerate(_band_ranges(bands.edges)):
        rows = latest.filter(outcome__in=_OUTCOMES)
        if low is not None:
            rows = rows.filter(probability_of_default__gte=low)
        if high is not None:
            rows = rows.filter(probability_of_default__lt=high)
        # Probabilities are summed only where a policy approves (the expected bad rate).
        summed = high is not None and high <= summed_below
        tallies = {"count": Count("*"), **({"total": Sum("probability_of_default")} if summed else {})}
        for row in rows.values("outcome").annotate(**tallies).order_by("outcome"):
            bands.add(band, row["outcome"], row["count"], row.get("total") or 0.0)


def _bands_in_python(bands: Bands, probability: np.ndarray, outcome: np.ndarray) -> None:
    """The same counts over arrays (the few applications whose latest record in the period is not their latest)."""
    band_of = np.searchsorted(np.array(bands.edges), probability, side="right")
    for band, kind, p in zip(band_of.tolist(), outcome.tolist(), probability.tolist(), strict=True):
        bands.add(band, kind, 1, p)


def _figures(bands: Bands, applications: int, policy: DecisionPolicy) -> PolicyFigures:
    approved = bands.count(high=policy.approve_below)
    declined = bands.count(low=policy.decline_from)
    known = bands.count(high=policy.approve_below, known=True)
    defaulted = bands.count(high=policy.approve_below, outcome=OutcomeRecord.DEFAULTED)
    return PolicyFigures(
        approve_below=policy.approve_below,
        decline_from=policy.decline_from,
        approved=approved,
        referred=applications - approved - declined,
        declined=declined,
        approval_rate=approved / applications if applications else None,
        expected_bad_rate=bands.probability_sum(policy.approve_below) / approved if approved else None,
        approved_with_outcome=known,
        realised_bad_rate=defaulted / known if known else None,
    )


def _in_period(moment: dt.datetime, bounds: dict) -> bool:
    return moment >= bounds.get("created_at__gte", moment) and (
        "created_at__lt" not in bounds or moment < bounds["created_at__lt"]
    )


def _earlier_latest(model_version: str, bounds: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, probability, outcome) of the applications whose latest record in the period is not their latest.

    Only applications with several decision records can be such, and only those whose latest record is
    outside the period or by another model: their records are read (few: re-scored, counter-offered).
    """
    several = dict(
        LatestDecision.objects.filter(decision_records__gt=1)
        .exclude(model_version=model_version, **bounds)
        .values_list("application_id", "outcome")
    )
    latest_in_period: dict[int, float] = {}
    ids = sorted(several)
    for first in range(0, len(ids), RECORD_SLICE):
        for application_id, version, created_at, probability in (
            DecisionRecord.objects.filter(application_id__in=ids[first : first + RECORD_SLICE])
            .order_by("sequence")
            .values_list("application_id", "model_version", "created_at", "probability_of_default")
        ):
            if version == model_version and _in_period(created_at, bounds):
                latest_in_period[application_id] = probability  # a later record of the same application wins
    found = sorted(latest_in_period)
    return (
        np.array(found, dtype=np.int64),
        np.array([latest_in_period[i] for i in found], dtype=np.float64),
        np.array([several[i] for i in found], dtype=object),
    )


def _listed(latest: QuerySet, extra: list[int], low: float, high: float) -> list[int]:
    """The first LISTED application ids with ``low <= p < high``: the index's, and the few read apart."""
    # Ordered by an expression, not the column: PostgreSQL would otherwise walk the primary key hoping to meet
    # 100 of the band early, and a model's applications are a late stretch of ids (0.6 s at 1M, not 20 ms).
    ids = list(
        latest.filter(outcome__in=_OUTCOMES, probability_of_default__gte=low, probability_of_default__lt=high)
        .order_by(F("application_id") + 0)
        .values_list("application_id", flat=True)[:LISTED]
    )
    return sorted(ids + extra)[:LISTED]


def simulate(
    *,
    model_version: str,
    current: DecisionPolicy,
    proposed: DecisionPolicy,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Simulation:
    """Both policies' figures on the applications ``model_version`` scored in the period, and who swaps.

    The applications whose latest decision record is by ``model_version`` in the period are counted by
    the database over ``LatestDecision``, by probability band between the four cut-offs and by outcome
    (index ranges), and the swaps are listed from the band between the two approve cut-offs; the few
    whose latest record in the period is an earlier one are read and counted here, and added.
    """
    bounds = _bounds(start, end)
    latest = LatestDecision.objects.filter(model_version=model_version, **bounds)
    edges = sorted({current.approve_below, current.decline_from, proposed.approve_below, proposed.decline_from})
    bands = Bands(edges)
    _bands_in_sql(latest, bands, summed_below=max(current.approve_below, proposed.approve_below))
    ids, probability, outcome = _earlier_latest(model_version, bounds)
    _bands_in_python(bands, probability, outcome)
    applications = bands.count()
    listed = {}
    for name, (low, high) in {
        "swap_in": (current.approve_below, proposed.approve_below),
        "swap_out": (proposed.approve_below, current.approve_below),
    }.items():
        count = bands.count(low=low, high=high) if low < high else 0
        extra = ids[(probability >= low) & (probability < high)][:LISTED].tolist()
        listed[name] = (_listed(latest, extra, low, high) if count else [], count)
    newly_declined = (
        bands.count(proposed.decline_from, current.decline_from) if proposed.decline_from < current.decline_from else 0
    )
    no_longer = (
        bands.count(current.decline_from, proposed.decline_from) if current.decline_from < proposed.decline_from else 0
    )
    return Simulation(
        model_version=model_version,
        start=start,
        end=end,
        applications=applications,
        current=_figures(bands, applications, current),
        proposed=_figures(bands, applications, proposed),
        swap_in=listed["swap_in"][0],
        swap_out=listed["swap_out"][0],
        swap_in_count=listed["swap_in"][1],
        swap_out_count=listed["swap_out"][1],
        newly_declined_count=newly_declined,
        no_longer_declined_count=no_longer,
    )
