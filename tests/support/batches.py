"""Batch files for tests: CSV text in the dataset's schema, built from form data."""

from __future__ import annotations

import csv
import io
from typing import Any

from scoring.schema import INPUT_NAMES
from tests.support.factories import application_form_data

COLUMNS = [*INPUT_NAMES, "applicant_reference"]


def batch_row(**overrides: Any) -> dict[str, Any]:
    """One row: valid form data, with ``overrides``."""
    return application_form_data(**overrides)


def batch_csv(rows: list[dict[str, Any]], *, columns: list[str] | None = None) -> bytes:
    """A UTF-8 CSV file (bytes) of ``rows`` under ``columns`` (default: the inputs and the reference)."""
    columns = columns or COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(name, "") for name in columns])
    return out.getvalue().encode("utf-8")


def varied_rows(count: int) -> list[dict[str, Any]]:
    """``count`` valid, different rows (amounts, grades, incomes vary), references ``R1``..."""
    grades = "ABCDEFG"
    intents = ["EDUCATION", "MEDICAL", "VENTURE", "PERSONAL", "DEBTCONSOLIDATION", "HOMEIMPROVEMENT"]
    rows = []
    for n in range(count):
        rows.append(
            batch_row(
                loan_amnt=str(1000 + (750 * n) % 34000),
                person_income=str(20000 + 1370 * (n % 50)),
                loan_grade=grades[n % 7],
                loan_intent=intents[n % 6],
                loan_int_rate=f"{5 + (n % 17) * 0.75:.2f}",
                cb_person_default_on_file="Y" if n % 5 == 0 else "N",
                applicant_reference=f"R{n + 1}",
            )
        )
    return rows
