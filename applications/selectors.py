"""Read side of the workbench: who may see which applications, and how.

Every page and export reads through these functions, so the rule "officers
see only their own" is applied in one place and cannot be forgotten by a
new view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts import roles
from applications.formatting import day_start
from applications.forms import HistoryFilterForm
from applications.models import OVERRIDDEN, LoanApplication
from audit import selectors as audit_selectors
from infrastructure.pagination import distinct_values, equal_as_range
from infrastructure.prefix_search import prefix_range, search_key
from scoring import schema
from scoring.explain import MAX_REASONS


def visible_applications(*, user: Any) -> QuerySet[LoanApplication]:
    """Applications ``user`` may read: all of them, their own, or none."""
    queryset = LoanApplication.objects.select_related("officer")
    if not roles.can_view_any(user):
        return queryset.none()
    if roles.can_view_all(user):
        return queryset
    return queryset.filter(officer_id=user.pk)


def application_get(*, user: Any, pk: int) -> LoanApplication:
    """One application ``user`` may read; 404 otherwise, whether or not it exists."""
    try:
        return visible_applications(user=user).get(pk=pk)
    except LoanApplication.DoesNotExist:
        raise Http404("No such application.") from None


def application_exists(*, pk: int) -> bool:
    return LoanApplication.objects.filter(pk=pk).exists()


def application_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[LoanApplication]:
    """The decision history for ``user``, filtered and sorted.

    ``filters`` are ``HistoryFilterForm.filters()``: reference search ``q``,
    ``decision`` (or ``PENDING``), ``date_from``/``date_to`` (days in the
    bank's time zone, inclusive), ``officer``, ``model_version``, ``overridden`` (``yes``/``no``)
    and ``sort``.
    """
    filters = filters or {}
    queryset = visible_applications(user=user)
    if q := filters.get("q"):
        queryset = reference_starts_with(queryset, q)
    decision = filters.get("decision")
    if decision == "PENDING":
        queryset = queryset.filter(status=LoanApplication.Status.PENDING)
    elif decision:
        queryset = queryset.filter(final_decision=decision)
    if start := filters.get("date_from"):
        queryset = queryset.filter(created_at__gte=day_start(start))
    if end := filters.get("date_to"):
        queryset = queryset.filter(created_at__lt=day_start(end + dt.timedelta(days=1)))
    if officer := filters.get("officer"):
        queryset = queryset.filter(officer_id=getattr(officer, "pk", officer))
    if version := filters.get("model_version"):
        queryset = queryset.filter(equal_as_range("model_version", version))
    overridden = filters.get("overridden")
    if overridden == "yes":
        queryset = queryset.filter(OVERRIDDEN)
    elif overridden == "no":
        queryset = queryset.exclude(OVERRIDDEN)
    sort = filters.get("sort") or "newest"
    ordering = HistoryFilterForm.SORTS.get(sort, HistoryFilterForm.SORTS["newest"])
    if version and ordering[0].lstrip("-") == "created_at":
        # The version (one value here) leads the order, so only its own index (model_version, created_at, id)
        # serves it: otherwise a planner may walk the time index and skip every row of another version first.
        ordering = (ordering[0].replace("created_at", "model_version"), *ordering)
    return queryset.order_by(*ordering)


def reference_starts_with(queryset: QuerySet[LoanApplication], prefix: str) -> QuerySet[LoanApplication]:
    """Applications whose reference starts with ``prefix`` (case-insensitive): a range on the reference's index."""
    return queryset.alias(**search_key("applicant_reference")).filter(prefix_range("applicant_reference_key", prefix))


def model_versions() -> list[str]:
    """Every model version that scored an application, in order (index seeks, not a scan of every row).

    Versions are not secret (each application page names its own), so
    everyone's filter offers all of them.
    """
    return distinct_values(LoanApplication.objects.all(), "model_version")


def history_filter_form(*, user: Any, data: Mapping[str, Any] | None) -> HistoryFilterForm:
    """The filter form with the officer and model-version choices ``user`` may use."""
    officers = None
    if roles.can_view_all(user):
        # Users who entered an application: one index probe each (officer, created_at), not a scan of them all.
        officers = (
            get_user_model()
            .objects.filter(Exists(LoanApplication.objects.filter(officer_id=OuterRef("pk"))))
            .order_by("username")
        )
    return HistoryFilterForm(data=data or None, officers=officers, model_versions=model_versions())


def pending_applications() -> QuerySet[LoanApplication]:
    return (
        LoanApplication.objects.filter(status=LoanApplication.Status.PENDING).select_related("officer").order_by("id")
    )


# The applications export is for people opening it in a spreadsheet: dates to
# the second in UTC, a label beside each coded value, the probability as a
# percentage, one column per reason, and the override in force. The exact
# values (full-precision probability, microsecond times) are in the auditor's
# decision export.
_INPUT_COLUMNS: tuple[str, ...] = tuple(schema.INPUT_NAMES)
# Coded values whose codes a reader would not take for words.
_LABELLED = frozenset(
    {"status", "person_home_ownership", "loan_intent", "cb_person_default_on_file", "decision", "final_decision"}
)
_CSV_BATCH = 500


def _with_labels(columns: Iterable[str]) -> list[str]:
    out = []
    for column in columns:
        out.append(column)
        if column in _LABELLED:
            out.append(f"{column}_label")
    return out


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "applicant_reference",
    "created_at_utc",
    "scored_at_utc",
    "officer",
    *_with_labels(("status", *_INPUT_COLUMNS)),
    "loan_percent_income_percent",
    "interest_burden_percent",
    "probability_of_default_percent",
    *_with_labels(("decision", "final_decision")),
    "risk_label",
    *(f"reason_{n}" for n in range(1, MAX_REASONS + 1)),
    "overridden",
    "overridden_by",
    "overridden_at_utc",
    "override_reason",
    "model_version",
    "model_sha256",
)


def _utc_seconds(moment: dt.datetime | None) -> str:
    return "" if moment is None else timezone.localtime(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _percent(value: float | None) -> Decimal | str:
    return "" if value is None else Decimal(f"{value * 100:.2f}")


def _csv_row(app: LoanApplication, override: Any) -> list[Any]:
    values: dict[str, Any] = {
        "id": app.pk,
        "applicant_reference": app.applicant_reference,
        "created_at_utc": _utc_seconds(app.created_at),
        "scored_at_utc": _utc_seconds(app.scored_at),
        "officer": app.officer.get_username(),
        "status": app.status,
        **{name: getattr(app, name) for name in _INPUT_COLUMNS},
        "loan_percent_income_percent": _percent(app.loan_percent_income),
        "interest_burden_percent": _percent(app.interest_burden),
        "probability_of_default_percent": _percent(app.probability_of_default),
        "decision": app.decision,
        "final_decision": app.final_decision,
        "risk_label": app.risk_label,
        "overridden": "yes" if override is not None else "no",
        "overridden_by": override.username if override is not None else "",
        "overridden_at_utc": _utc_seconds(override.created_at) if override is not None else "",
        "override_reason": override.reason if override is not None else "",
        "model_version": app.model_version,
        "model_sha256": app.model_sha256,
    }
    for column in _LABELLED:
        values[f"{column}_label"] = getattr(app, f"get_{column}_display")() if values[column] else ""
    reasons = [reason.get("text", "") for reason in app.reasons or []]
    for n in range(1, MAX_REASONS + 1):
        values[f"reason_{n}"] = reasons[n - 1] if n <= len(reasons) else ""
    return [values[column] for column in CSV_COLUMNS]


def csv_rows(queryset: QuerySet[LoanApplication]) -> Iterable[list[Any]]:
    """The export rows, as values; ``infrastructure.csv_export`` writes them safely.

    Streamed in batches: one query for the applications of a batch, two for
    who changed their decision in force (legacy overrides, case records).
    """
    yield list(CSV_COLUMNS)
    batch: list[LoanApplication] = []
    for app in queryset.iterator(chunk_size=2000):
        batch.append(app)
        if len(batch) == _CSV_BATCH:
            yield from _csv_batch(batch)
            batch = []
    if batch:
        yield from _csv_batch(batch)


def _csv_batch(batch: list[LoanApplication]) -> Iterable[list[Any]]:
    overrides = audit_selectors.latest_final_decision_changes(application_ids=[app.pk for app in batch])
    for app in batch:
        # Only a change in force counts: a later change back to the model's decision is none.
        override = overrides.get(app.pk) if app.is_overridden else None
        yield _csv_row(app, override)
