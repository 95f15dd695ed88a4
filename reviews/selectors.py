"""Read side of the review workflow: the queue, its count, the reason-code lists.

The queue reads only open cases (``IN_QUEUE``, ``CLAIMED``, ``AWAITING_2ND``: those with a
``queued_at``) through the partial index ``loanapp_queue`` (queued_at, id, officer), longest waiting
first, so its cost follows the queue's length, not the number of applications ever entered
(``tests/reviews/test_queue_index.py`` asks both databases for the plan). Nobody sees the
applications they entered in their queue: they may not act on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from applications.models import OPEN_CASE, LoanApplication
from audit import lifecycle
from reviews.models import ReasonCode


def _open_cases_for(user: Any) -> QuerySet[LoanApplication]:
    return LoanApplication.objects.filter(OPEN_CASE).exclude(officer_id=user.pk)


def review_queue(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[LoanApplication]:
    """The cases ``user`` may act on, longest waiting first; ``filters`` from ``QueueFilterForm.filters()``.

    ``show``: ``waiting`` (nobody holds it: in the queue, or its claim expired), ``mine`` (my live
    claims), ``claimed`` (anyone's live claims), ``second`` (awaiting a second approval);
    ``amount_min``/``amount_max`` (loan amount, inclusive); ``q`` (reference contains).
    """
    filters = filters or {}
    now = timezone.now()
    queryset = _open_cases_for(user).select_related("officer", "claimed_by", "proposed_by")
    live_claim = Q(case_state=lifecycle.CLAIMED, claim_expires_at__gt=now)
    show = filters.get("show")
    if show == "waiting":
        queryset = queryset.filter(
            Q(case_state=lifecycle.IN_QUEUE) | Q(case_state=lifecycle.CLAIMED, claim_expires_at__lte=now)
        )
    elif show == "mine":
        queryset = queryset.filter(live_claim, claimed_by_id=user.pk)
    elif show == "claimed":
        queryset = queryset.filter(live_claim)
    elif show == "second":
        queryset = queryset.filter(case_state=lifecycle.AWAITING_SECOND)
    if (low := filters.get("amount_min")) is not None:
        queryset = queryset.filter(loan_amnt__gte=low)
    if (high := filters.get("amount_max")) is not None:
        queryset = queryset.filter(loan_amnt__lte=high)
    if q := filters.get("q"):
        queryset = queryset.filter(applicant_reference__icontains=q)
    return queryset.order_by("queued_at", "id")


# The navigation shows "99+" past this: every page pays for the count, so it reads at most this many
# (plus one) entries of the open-cases index however long the queue grows.
NAV_COUNT_LIMIT = 99


def open_case_count(*, user: Any, limit: int = NAV_COUNT_LIMIT) -> int:
    """How many cases ``user`` may act on, counted up to ``limit + 1`` (the navigation's count).

    One index-only count of the queue, bounded: a result above ``limit`` means "more than ``limit``".
    In the queue's order, which its partial index serves: with the model's default order the subquery
    walked the created_at index over every application instead.
    """
    return _open_cases_for(user).order_by("queued_at", "id")[: limit + 1].count()


def reason_code_choices(*, actions: tuple[str, ...]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Active reason codes grouped by action, for a select's option groups: ``[(group label, [(code, text)])]``."""
    labels = dict(ReasonCode.Action.choices)
    groups: dict[str, list[tuple[str, str]]] = {action: [] for action in actions}
    for code in ReasonCode.objects.filter(active=True, action__in=actions).order_by("position", "code"):
        groups[code.action].append((code.code, f"{code.code} — {code.label}"))
    return [(labels[action], choices) for action, choices in groups.items() if choices]
