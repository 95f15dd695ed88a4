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
from django.db.models import Count, Q, QuerySet, Sum
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


# The tallies each policy's figures come from, over a set of applications with their latest probability.
_TALLIES = ("approved", "declined", "approved_pd", "approved_with_outcome", "approved_defaulted")


def _conditions(current: DecisionPolicy, proposed: DecisionPolicy) -> dict[str, Q]:
    """Each tally as a condition on the latest record's probability and the latest outcome."""
    conditions = {}
    for name, policy in (("now", current), ("then", proposed)):
        approved = Q(probability_of_default__lt=policy.approve_below)
        conditions[f"{name}_approved"] = approved
        conditions[f"{name}_declined"] = Q(probability_of_default__gte=policy.decline_from)
        conditions[f"{name}_approved_with_outcome"] = approved & ~Q(outcome="")
        conditions[f"{name}_approved_defaulted"] = approved & Q(outcome=OutcomeRecord.DEFAULTED)
    conditions["swap_in"] = Q(probability_of_default__lt=proposed.approve_below) & Q(
        probability_of_default__gte=current.approve_below
    )
    conditions["swap_out"] = Q(probability_of_default__lt=current.approve_below) & Q(
        probability_of_default__gte=proposed.approve_below
    )
    conditions["newly_declined"] = Q(probability_of_default__gte=proposed.decline_from) & Q(
        probability_of_default__lt=current.decline_from
    )
    conditions["no_longer_declined"] = Q(probability_of_default__gte=current.decline_from) & Q(
        probability_of_default__lt=proposed.decline_from
    )
    return conditions


def _tallies_in_sql(latest: QuerySet, current: DecisionPolicy, proposed: DecisionPolicy) -> dict[str, float]:
    """Every tally over ``latest`` (``LatestDecision`` rows) in one aggregate statement."""
    conditions = _conditions(current, proposed)
    aggregates = {"applications": Count("pk")}
    for name, condition in conditions.items():
        aggregates[name] = Count("pk", filter=condition)
    for name, policy in (("now", current), ("then", proposed)):
        aggregates[f"{name}_approved_pd"] = Sum(
            "probability_of_default", filter=Q(probability_of_default__lt=policy.approve_below)
        )
    return {name: value or 0 for name, value in latest.aggregate(**aggregates).items()}


def _tallies_in_python(
    probability: np.ndarray, outcome: np.ndarray, current: DecisionPolicy, proposed: DecisionPolicy
) -> dict[str, float]:
    """The same tallies over arrays (the few applications whose latest record in the period is not their latest)."""
    tallies: dict[str, float] = {"applications": len(probability)}
    known, defaulted = outcome != "", outcome == OutcomeRecord.DEFAULTED
    approved = {}
    for name, policy in (("now", current), ("then", proposed)):
        approved[name] = probability < policy.approve_below
        tallies[f"{name}_approved"] = int(approved[name].sum())
        tallies[f"{name}_declined"] = int((probability >= policy.decline_from).sum())
        tallies[f"{name}_approved_pd"] = float(probability[approved[name]].sum())
        tallies[f"{name}_approved_with_outcome"] = int((approved[name] & known).sum())
        tallies[f"{name}_approved_defaulted"] = int((approved[name] & defaulted).sum())
    tallies["swap_in"] = int((approved["then"] & ~approved["now"]).sum())
    tallies["swap_out"] = int((approved["now"] & ~approved["then"]).sum())
    declined_now, declined_then = probability >= current.decline_from, probability >= proposed.decline_from
    tallies["newly_declined"] = int((declined_then & ~declined_now).sum())
    tallies["no_longer_declined"] = int((declined_now & ~declined_then).sum())
    return tallies


def _figures(tallies: dict[str, float], name: str, policy: DecisionPolicy) -> PolicyFigures:
    n = tallies["applications"]
    approved, declined = tallies[f"{name}_approved"], tallies[f"{name}_declined"]
    known = tallies[f"{name}_approved_with_outcome"]
    return PolicyFigures(
        approve_below=policy.approve_below,
        decline_from=policy.decline_from,
        approved=approved,
        referred=n - approved - declined,
        declined=declined,
        approval_rate=approved / n if n else None,
        expected_bad_rate=tallies[f"{name}_approved_pd"] / approved if approved else None,
        approved_with_outcome=known,
        realised_bad_rate=tallies[f"{name}_approved_defaulted"] / known if known else None,
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


def _listed(latest: QuerySet, extra: list[int], condition: Q) -> list[int]:
    """The first LISTED application ids meeting ``condition``: the index's, and the few read apart."""
    ids = list(latest.filter(condition).order_by("application_id").values_list("application_id", flat=True)[:LISTED])
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

    The applications whose latest decision record is by ``model_version`` in the period are tallied by
    the database over ``LatestDecision`` (one aggregate, two short lists); the few whose latest record
    in the period is an earlier one are read and tallied here, and the two are added up.
    """
    bounds = _bounds(start, end)
    latest = LatestDecision.objects.filter(model_version=model_version, **bounds)
    tallies = _tallies_in_sql(latest, current, proposed)
    ids, probability, outcome = _earlier_latest(model_version, bounds)
    if len(ids):
        for name, value in _tallies_in_python(probability, outcome, current, proposed).items():
            tallies[name] += value
    conditions = _conditions(current, proposed)
    approved_now, approved_then = probability < current.approve_below, probability < proposed.approve_below
    swaps = {"swap_in": approved_then & ~approved_now, "swap_out": approved_now & ~approved_then}
    listed = {
        name: _listed(latest, ids[chosen][:LISTED].tolist(), conditions[name]) if tallies[name] else []
        for name, chosen in swaps.items()
    }
    return Simulation(
        model_version=model_version,
        start=start,
        end=end,
        applications=tallies["applications"],
        current=_figures(tallies, "now", current),
        proposed=_figures(tallies, "then", proposed),
        swap_in=listed["swap_in"],
        swap_out=listed["swap_out"],
        swap_in_count=tallies["swap_in"],
        swap_out_count=tallies["swap_out"],
        newly_declined_count=tallies["newly_declined"],
        no_longer_declined_count=tallies["no_longer_declined"],
    )
