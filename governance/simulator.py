"""The cut-off simulator: what other approve and decline cut-offs would have done to the stored applications.

Reads the audit trail (the latest decision record of each application scored
by the chosen model in the period, and the latest recorded outcome of each),
never the application table, so the figures are those of the hashed records.
Probabilities are the model's, as recorded; only the cut-offs change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.utils import timezone

from audit.models import DecisionRecord, OutcomeRecord
from scoring.services import DecisionPolicy

LISTED = 100
# Application ids per outcome query: under SQLite's oldest parameter limit (32,766).
OUTCOME_SLICE = 30_000
# SQLite: up to this many applications their ids are passed (in slices); over it, a subquery (docs/performance.md).
SLICED_UP_TO = 100_000


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


def _figures(probability: np.ndarray, defaulted: np.ndarray, known: np.ndarray, policy: DecisionPolicy) -> tuple:
    approved = probability < policy.approve_below
    declined = probability >= policy.decline_from
    n = len(probability)
    approved_known = approved & known
    figures = PolicyFigures(
        approve_below=policy.approve_below,
        decline_from=policy.decline_from,
        approved=int(approved.sum()),
        referred=int(n - approved.sum() - declined.sum()),
        declined=int(declined.sum()),
        approval_rate=float(approved.mean()) if n else None,
        expected_bad_rate=float(probability[approved].mean()) if approved.any() else None,
        approved_with_outcome=int(approved_known.sum()),
        realised_bad_rate=float(defaulted[approved_known].mean()) if approved_known.any() else None,
    )
    return figures, approved, declined


def simulate(
    *,
    model_version: str,
    current: DecisionPolicy,
    proposed: DecisionPolicy,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Simulation:
    """Both policies' figures on the applications ``model_version`` scored in the period, and who swaps."""
    latest: dict[int, float] = {}
    rows = (
        DecisionRecord.objects.filter(model_version=model_version, **_bounds(start, end))
        .order_by("sequence")
        .values_list("application_id", "probability_of_default")
        .iterator(chunk_size=10000)
    )
    for application_id, probability in rows:
        latest[application_id] = probability  # a later record of the same application wins
    ids = np.fromiter(latest.keys(), dtype=np.int64, count=len(latest))
    probability = np.fromiter(latest.values(), dtype=np.float64, count=len(latest))
    outcomes: dict[int, str] = {}
    in_period = DecisionRecord.objects.filter(model_version=model_version, **_bounds(start, end))
    if connection.vendor == "postgresql" or len(ids) > SLICED_UP_TO:
        # A semi-join of the period's records to the outcomes: on PostgreSQL the fastest at any size (x4-6 at
        # 1M); on SQLite, which probes the subquery per outcome, the fastest only for long periods.
        selections = [in_period.values("application_id")]
    else:
        # The ids as parameters, in slices under SQLite's limit. Each application is in one slice, so its
        # outcomes still come in sequence order and the latest wins.
        selections = [ids[first : first + OUTCOME_SLICE].tolist() for first in range(0, len(ids), OUTCOME_SLICE)]
    for selection in selections if len(ids) else []:
        for application_id, outcome in (
            OutcomeRecord.objects.filter(application_id__in=selection)
            .order_by("sequence")
            .values_list("application_id", "outcome")
            .iterator(chunk_size=10000)
        ):
            outcomes[application_id] = outcome  # the latest outcome counts
    known = np.fromiter((i in outcomes for i in latest), dtype=bool, count=len(latest))
    defaulted = np.fromiter((outcomes.get(i) == OutcomeRecord.DEFAULTED for i in latest), dtype=bool, count=len(latest))
    now, approved_now, declined_now = _figures(probability, defaulted, known, current)
    then, approved_then, declined_then = _figures(probability, defaulted, known, proposed)
    swap_in = np.sort(ids[approved_then & ~approved_now])
    swap_out = np.sort(ids[approved_now & ~approved_then])
    return Simulation(
        model_version=model_version,
        start=start,
        end=end,
        applications=len(ids),
        current=now,
        proposed=then,
        swap_in=swap_in[:LISTED].tolist(),
        swap_out=swap_out[:LISTED].tolist(),
        swap_in_count=int(swap_in.size),
        swap_out_count=int(swap_out.size),
        newly_declined_count=int((declined_then & ~declined_now).sum()),
        no_longer_declined_count=int((declined_now & ~declined_then).sum()),
    )
