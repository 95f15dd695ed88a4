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
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils.encoding import force_str

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


def _utc_seconds(moment: dt.datetime | None, utc: dt.timezone = dt.UTC) -> str:
    # ``moment`` is aware, as the database gives it (timezone.localtime's checks cost more than the conversion).
    return "" if moment is None else moment.astimezone(utc).strftime("%Y-%m-%d %H:%M:%S")


def _percent(value: float | None) -> Decimal | str:
    return "" if value is None else Decimal(f"{value * 100:.2f}")


# What the export reads of each application: values, not model instances (building a million instances
# took most of the export's time). The officer's name comes by the join.
_CSV_FIELDS: tuple[str, ...] = (
    "id",
    "applicant_reference",
    "created_at",
    "scored_at",
    f"officer__{get_user_model().USERNAME_FIELD}",
    "status",
    *_INPUT_COLUMNS,
    "loan_percent_income",
    "interest_burden",
    "probability_of_default",
    "decision",
    "final_decision",
    "risk_label",
    "reasons",
    "model_version",
    "model_sha256",
)
_INPUTS_END = 6 + len(_INPUT_COLUMNS)
_CSV_OVERRIDE_BATCH = 2000


def _display_labels(column: str) -> dict[Any, str] | None:
    """What ``get_<column>_display`` shows for each code (``None`` for a column without a label column)."""
    if column not in _LABELLED:
        return None
    field = LoanApplication._meta.get_field(column)
    return {code: force_str(label, strings_only=True) for code, label in field.flatchoices}


def csv_rows(queryset: QuerySet[LoanApplication]) -> Iterable[list[Any]]:
    """The export rows, as values; ``infrastructure.csv_export`` writes them safely.

    Streamed: the applications' columns in one query (values, no model
    instances) and, per batch, two queries for who changed the decision in
    force of the batch's applications whose decision was changed (legacy
    overrides, case records).
    """
    yield list(CSV_COLUMNS)
    # Looked up per export (the active language), as get_<field>_display does.
    labels = (
        _display_labels("status"),
        _display_labels("decision"),
        [_display_labels(name) for name in _INPUT_COLUMNS],
    )
    batch: list[tuple] = []
    overridden: list[int] = []
    # One transaction: PostgreSQL's server-side cursor then streams (outside one, Django declares it WITH HOLD
    # and the server builds the whole result before the first row, while no heartbeat is beaten).
    with transaction.atomic():
        for values in queryset.values_list(*_CSV_FIELDS).iterator(chunk_size=2000):
            batch.append(values)
            # LoanApplication.is_overridden: a final decision that differs from the model's.
            final_decision = values[_INPUTS_END + 4]
            if final_decision and final_decision != values[_INPUTS_END + 3]:
                overridden.append(values[0])
            if len(batch) == _CSV_OVERRIDE_BATCH:
                yield from _csv_batch(batch, overridden, *labels)
                batch, overridden = [], []
        if batch:
            yield from _csv_batch(batch, overridden, *labels)


def _csv_batch(
    batch: list[tuple],
    overridden: list[int],
    status_labels: dict[Any, str],
    decision_labels: dict[Any, str],
    input_labels: list[dict[Any, str] | None],
) -> Iterable[list[Any]]:
    # Only a change in force counts: a later change back to the model's decision is none.
    overrides = audit_selectors.latest_final_decision_changes(application_ids=overridden) if overridden else {}
    utc_seconds, percent = _utc_seconds, _percent
    no_reasons = [""] * MAX_REASONS
    for values in batch:
        pk, reference, created_at, scored_at, username, status = values[:6]
        row = [
            pk,
            reference,
            utc_seconds(created_at),
            utc_seconds(scored_at),
            username,
            status,
            status_labels.get(status, status) if status else "",
        ]
        for value, labels in zip(values[6:_INPUTS_END], input_labels, strict=True):
            row.append(value)
            if labels is not None:
                row.append(labels.get(value, value) if value else "")
        (
            percent_income,
            interest_burden,
            probability,
            decision,
            final_decision,
            risk_label,
            reasons,
            model_version,
            model_sha256,
        ) = values[_INPUTS_END:]
        row += (
            percent(percent_income),
            percent(interest_burden),
            percent(probability),
            decision,
            decision_labels.get(decision, decision) if decision else "",
            final_decision,
            decision_labels.get(final_decision, final_decision) if final_decision else "",
            risk_label,
        )
        texts = [reason.get("text", "") for reason in reasons or ()]
        row += texts[:MAX_REASONS] if len(texts) >= MAX_REASONS else texts + no_reasons[len(texts) :]
        override = overrides.get(pk)
        if override is None:
            row += ("no", "", "", "")
        else:
            row += ("yes", override.username, utc_seconds(override.created_at), override.reason)
        row += (model_version, model_sha256)
        yield row
