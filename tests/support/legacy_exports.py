"""The CSV exports as they were written before issue 16 made them fast: the reference for the golden tests.

A verbatim copy of the per-row path (one model instance per application, one
``safe_cell`` call and one ``writerow`` per row), so a test can export the
same rows through both paths and demand identical bytes. Do not "improve"
this module: it is the definition of the expected output.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from applications.models import LoanApplication
from applications.selectors import _INPUT_COLUMNS, _LABELLED, CSV_COLUMNS
from audit import selectors as audit_selectors
from audit.models import DecisionRecord
from audit.selectors import DECISION_CSV_HEADER
from infrastructure.csv_export import BOM, END_MARKER
from scoring.explain import MAX_REASONS

_CSV_BATCH = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_AFTER_SEPARATOR = re.compile(r"([;,] *)(?=[=+\-@\t\r\n])")


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = _AFTER_SEPARATOR.sub(r"\1'", str(value))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def legacy_csv_bytes(rows: Iterable[Iterable[Any]], *, end_marker: bool = False) -> bytes:
    """What ``csv_response`` sent for ``rows`` before issue 16 (byte-order mark included)."""
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_NONNUMERIC)
    lines = [BOM]
    written = 0
    for row in rows:
        lines.append(writer.writerow([safe_cell(value) for value in row]))
        written += 1
    if end_marker:
        lines.append(END_MARKER.format(count=max(written - 1, 0)) + writer.dialect.lineterminator)
    return "".join(lines).encode("utf-8")


def _utc_seconds(moment: dt.datetime | None) -> str:
    return "" if moment is None else timezone.localtime(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _percent(value: float | None) -> Decimal | str:
    return "" if value is None else Decimal(f"{value * 100:.2f}")


def _legacy_application_row(app: LoanApplication, override: Any) -> list[Any]:
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


def legacy_application_rows(queryset: QuerySet[LoanApplication]) -> Iterable[list[Any]]:
    """The export rows, as values; ``infrastructure.csv_export`` writes them safely.

    Streamed in batches: one query for the applications of a batch, two for
    who changed their decision in force (legacy overrides, case records).
    """
    yield list(CSV_COLUMNS)
    batch: list[LoanApplication] = []
    for app in queryset.iterator(chunk_size=2000):
        batch.append(app)
        if len(batch) == _CSV_BATCH:
            yield from _legacy_batch(batch)
            batch = []
    if batch:
        yield from _legacy_batch(batch)


def _legacy_batch(batch: list[LoanApplication]) -> Iterable[list[Any]]:
    overrides = audit_selectors.latest_final_decision_changes(application_ids=[app.pk for app in batch])
    for app in batch:
        # Only a change in force counts: a later change back to the model's decision is none.
        override = overrides.get(app.pk) if app.is_overridden else None
        yield _legacy_application_row(app, override)


def legacy_decision_rows() -> Iterator[tuple]:
    """Every decision record with every audit field, in chain order (streamed).

    Values as stored (floats at full precision, and their ``float.hex()``);
    ``infrastructure.csv_export`` writes them. ``payload_base64`` carries the
    payload's exact bytes, so ``record_hash`` can be checked from the file.
    """
    yield DECISION_CSV_HEADER
    rows = (
        DecisionRecord.objects.order_by("sequence")
        .values_list(
            "id",
            "sequence",
            "created_at",
            "application_id",
            "officer_id",
            "officer__username",
            "decision",
            "probability_of_default",
            "approve_below",
            "decline_from",
            "model_version",
            "model_sha256",
            "previous_hash",
            "record_hash",
            "payload",
        )
        .iterator(chunk_size=2000)
    )
    for (
        rid,
        seq,
        created,
        app_id,
        officer_id,
        officer,
        decision,
        pd,
        approve_below,
        decline_from,
        version,
        sha,
        previous,
        digest,
        payload,
    ) in rows:
        document = json.loads(payload)
        yield (
            rid,
            seq,
            created.isoformat(),
            app_id,
            document.get("applicant_reference", ""),
            officer_id,
            officer,
            decision,
            pd,  # written with repr(): every digit of the stored float
            pd.hex(),
            approve_below,
            decline_from,
            version,
            sha,
            json.dumps(document.get("inputs"), sort_keys=True),
            json.dumps(document.get("features"), sort_keys=True),
            json.dumps(document.get("reasons"), sort_keys=True),
            previous,
            digest,
            payload,
            # The exact bytes the hash covers: the payload column is neutralised
            # for spreadsheets like every text cell, which can change it.
            base64.b64encode(payload.encode("ascii")).decode("ascii"),
        )
