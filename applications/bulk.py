"""Scored applications in bulk, for generated demo and benchmark data (``manage.py seed_demo``).

``scored_template`` scores one set of validated inputs exactly as
``services.submit_application`` does (the same ``score_application`` and
``_apply_score``) and keeps the row's values; ``ApplicationTemplate.row``
gives one application's row from them with its own key, officer, reference,
times and case state, and ``store_applications_in_bulk`` writes rows
through ``infrastructure.bulk`` (COPY on PostgreSQL). The chained decision
records are the audit app's (``audit.bulk``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from applications.models import LoanApplication
from applications.services import _apply_score
from infrastructure.bulk import insert_many, next_primary_key, sync_primary_key_sequence
from scoring.results import ScoreResult
from scoring.schema import INPUT_NAMES
from scoring.services import DecisionPolicy, score_application

COLUMNS: tuple[str, ...] = tuple(field.column for field in LoanApplication._meta.concrete_fields)
_POSITION = {column: i for i, column in enumerate(COLUMNS)}
# What differs between applications that share a scoring.
PER_APPLICATION = (
    "id",
    "applicant_reference",
    "officer_id",
    "created_at",
    "scored_at",
    "final_decision",
    "case_state",
    "case_version",
    "claimed_by_id",
    "claim_expires_at",
    "queued_at",
    "proposed_decision",
    "proposed_by_id",
)
_PER_POSITIONS = tuple(_POSITION[column] for column in PER_APPLICATION)


class ApplicationTemplate:
    """The stored values of one scored application; ``row`` makes one application's row of them."""

    def __init__(self, application: LoanApplication) -> None:
        values: list[Any] = []
        for field in LoanApplication._meta.concrete_fields:
            value = getattr(application, field.attname)
            if field.name == "reasons":
                value = json.dumps(value)  # as JSONField stores it
            values.append(value)
        self._values = values
        self.application = application

    def with_times_as(self, adapt: Callable[[Any], Any]) -> ApplicationTemplate:
        """The shared values' datetimes put in the database's form (``infrastructure.bulk.datetime_adapter``)."""
        self._values = [adapt(value) if isinstance(value, dt.datetime) else value for value in self._values]
        return self

    def fill(self, per_application: tuple) -> tuple:
        """The row with the ``PER_APPLICATION`` values (in that order) put in; ``row`` with fewer objects."""
        row = self._values.copy()
        for position, value in zip(_PER_POSITIONS, per_application, strict=True):
            row[position] = value
        return tuple(row)

    def row(self, **values: Any) -> list[Any]:
        """The row with ``values`` (columns of ``PER_APPLICATION``) put in."""
        row = self._values.copy()
        for column, value in values.items():
            row[_POSITION[column]] = value
        return row


def scored_template(
    *, cleaned_data: Mapping[str, Any], model_version: str | None, policy: DecisionPolicy | None
) -> tuple[ApplicationTemplate, ScoreResult]:
    """Score validated inputs as a submission would and keep the row it would store (nothing is stored)."""
    application = LoanApplication(**{name: cleaned_data[name] for name in INPUT_NAMES})
    result = score_application(application.model_inputs(), model_version=model_version, policy=policy)
    _apply_score(application, result)
    return ApplicationTemplate(application), result


def first_free_id(*, using: str = "default") -> int:
    return next_primary_key(LoanApplication, using=using)


def store_applications_in_bulk(*, rows: Iterable[Sequence[Any]], using: str = "default") -> int:
    """Insert rows made by ``ApplicationTemplate.row`` (with their keys); call inside a transaction."""
    count = insert_many(LoanApplication, COLUMNS, rows, using=using)
    sync_primary_key_sequence(LoanApplication, using=using)
    return count
