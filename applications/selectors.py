"""Read side of the workbench: who may see which applications, and how.

Every page and export reads through these functions, so the rule "officers
see only their own" is applied in one place and cannot be forgotten by a
new view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts import roles
from applications.formatting import day_start
from applications.forms import HistoryFilterForm
from applications.models import OVERRIDDEN, LoanApplication


def visible_applications(*, user: Any) -> QuerySet[LoanApplication]:
    """Applications ``user`` may read: all of them, their own, or none."""
    queryset = LoanApplication.objects.select_related("officer")
    if not roles.can_view_any(user):
        return queryset.none()
    if roles.can_view_all(user):
        return queryset
    return queryset.filter(officer_id=user.pk)


def application_get(*, user: Any, pk: int) -> LoanApplication:
    """One application ``user`` may read; 404 otherwise.

    The caller decides whether an existing-but-forbidden row is a 403; this
    never reveals more than ``visible_applications`` does.
    """
    try:
        return visible_applications(user=user).get(pk=pk)
    except LoanApplication.DoesNotExist:
        raise Http404("No such application.") from None


def application_exists(*, pk: int) -> bool:
    return LoanApplication.objects.filter(pk=pk).exists()


def _day_start(day: dt.date) -> dt.datetime:
    return day_start(day)  # the bank's day (settings.TIME_ZONE), not UTC's


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
        queryset = queryset.filter(applicant_reference__icontains=q)
    decision = filters.get("decision")
    if decision == "PENDING":
        queryset = queryset.filter(status=LoanApplication.Status.PENDING)
    elif decision:
        queryset = queryset.filter(final_decision=decision)
    if start := filters.get("date_from"):
        queryset = queryset.filter(created_at__gte=_day_start(start))
    if end := filters.get("date_to"):
        queryset = queryset.filter(created_at__lt=_day_start(end + dt.timedelta(days=1)))
    if officer := filters.get("officer"):
        queryset = queryset.filter(officer_id=getattr(officer, "pk", officer))
    if version := filters.get("model_version"):
        queryset = queryset.filter(model_version=version)
    overridden = filters.get("overridden")
    if overridden == "yes":
        queryset = queryset.filter(OVERRIDDEN)
    elif overridden == "no":
        queryset = queryset.exclude(OVERRIDDEN)
    ordering = HistoryFilterForm.SORTS.get(filters.get("sort") or "newest", HistoryFilterForm.SORTS["newest"])
    return queryset.order_by(*ordering)


def history_filter_form(*, user: Any, data: Mapping[str, Any] | None) -> HistoryFilterForm:
    """The filter form with the officer and model-version choices ``user`` may use."""
    officers = None
    if roles.can_view_all(user):
        officers = (
            get_user_model()
            .objects.filter(
                pk__in=LoanApplication.objects.values("officer_id"),
            )
            .order_by("username")
        )
    versions = (
        visible_applications(user=user)
        .exclude(model_version="")
        .order_by("model_version")
        .values_list("model_version", flat=True)
        .distinct()
    )
    return HistoryFilterForm(data=data or None, officers=officers, model_versions=list(versions))


def pending_applications() -> QuerySet[LoanApplication]:
    return (
        LoanApplication.objects.filter(status=LoanApplication.Status.PENDING).select_related("officer").order_by("id")
    )


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "applicant_reference",
    "created_at",
    "scored_at",
    "officer",
    "status",
    "person_age",
    "person_income",
    "person_home_ownership",
    "person_emp_length",
    "loan_intent",
    "loan_grade",
    "loan_amnt",
    "loan_int_rate",
    "cb_person_default_on_file",
    "cb_person_cred_hist_length",
    "loan_percent_income",
    "interest_burden",
    "probability_of_default",
    "decision",
    "final_decision",
    "risk_label",
    "model_version",
    "model_sha256",
    "reasons",
)


def csv_rows(queryset: QuerySet[LoanApplication]) -> Iterable[list[str]]:
    """The export rows: floats with ``repr`` so no digit of precision is lost."""
    yield list(CSV_COLUMNS)
    for app in queryset.iterator(chunk_size=2000):
        row = []
        for column in CSV_COLUMNS:
            if column == "officer":
                value: Any = app.officer.get_username()
            elif column == "reasons":
                value = "; ".join(reason.get("text", "") for reason in app.reasons or [])
            else:
                value = getattr(app, column)
            if isinstance(value, float):
                value = repr(value)
            elif isinstance(value, dt.datetime):
                value = timezone.localtime(value, dt.UTC).isoformat()
            elif value is None:
                value = ""
            row.append(_csv_safe(str(value)))
        yield row


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in user-typed text (CSV injection)."""
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
