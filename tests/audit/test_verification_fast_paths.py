"""The full verification's cheaper paths report exactly what the plain ones report (issue 16 point 2).

- PostgreSQL renders the records' times in the payload's form (``_select(rendered=True)``); a row whose
  columns then differ from its payload is read again unrendered and judged by ``ChainSpec.disagreement``.
- A worker walking a bound chain (case records) reads each named decision record's hash in the same
  statement (``_JoinedBindings``) instead of a query per thousand records.

Each is compared with the plain path on the same tampered data: the same problems, in the same order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest
from django.db import connection

from accounts import roles
from applications.models import LoanApplication
from audit import canonical, verification
from audit.models import CaseRecord, DecisionRecord
from audit.verification import CASES, DECISIONS, ChainReport
from reviews import services
from tests.support.audit import drop_triggers, raw, run_verify, scored_application
from tests.support.factories import UserFactory, review_case
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db

RECORDS = 6


@pytest.fixture
def chain():
    officer = UserFactory(role=roles.OFFICER)
    for i in range(RECORDS):
        scored_application(officer, applicant_reference=f"F-{i}", loan_amnt=str(6000 + 500 * i))
    return list(DecisionRecord.objects.order_by("sequence"))


def _walk(spec, *, rendered: bool, monkeypatch) -> dict:
    """The serial walk's report, with the database rendering the times or not."""
    with monkeypatch.context() as patch:
        if not rendered:
            patch.setattr(verification, "renders_times", lambda connection: False)
        report = ChainReport()
        verification._walk(spec, report)
        return dataclasses.asdict(report)


def _rewrite_payload(record, **changes) -> None:
    """Change the payload's top-level keys and store its new hash (a rewrite the hash alone cannot catch)."""
    document = json.loads(record.payload)
    document.update(changes)
    payload = canonical.dumps(document)
    raw(
        f"UPDATE {record._meta.db_table} SET payload = %s, record_hash = %s WHERE id = %s",
        (payload, hashlib.sha256(payload.encode("ascii")).hexdigest(), record.pk),
    )


def _walks_agree(spec, monkeypatch) -> dict:
    plain = _walk(spec, rendered=False, monkeypatch=monkeypatch)
    assert _walk(spec, rendered=True, monkeypatch=monkeypatch) == plain
    return plain


def test_times_rendered_by_the_database_are_the_payload_s_text(chain):
    """The rendered column (PostgreSQL) or the stored text through ``_time_text`` (SQLite) is exactly the
    payload's created_at for every record as written."""
    rows = list(verification._rows(DECISIONS, "1 = 1", (), rendered=True))
    at = DECISIONS.position["created_at"]
    for row in rows:
        shown = row[at] if verification.renders_times(connection) else verification._time_text(row[at])
        assert shown == json.loads(row[4])["created_at"]
    assert len(rows) == RECORDS


def test_an_intact_chain_passes_the_rendered_comparison_without_reading_again(chain, monkeypatch):
    reads = []
    original = verification.ChainSpec.disagreement
    monkeypatch.setattr(
        verification.ChainSpec, "disagreement", lambda self, *args: reads.append(args) or original(self, *args)
    )
    report = _walk(DECISIONS, rendered=True, monkeypatch=monkeypatch)
    assert report["ok"] and report["checked"] == RECORDS
    # PostgreSQL: no record read again; SQLite (nothing rendered): every record through disagreement.
    assert len(reads) == (0 if verification.renders_times(connection) else RECORDS)


@pytest.mark.parametrize(
    ("column", "value", "label"),
    [
        ("created_at", "2020-01-01 00:00:00+00", "created_at"),
        ("probability_of_default", 0.123, "probability_of_default"),
        ("approve_below", 0.01, "thresholds"),
        ("decline_from", 0.99, "thresholds"),
        ("decision", "DECLINE", "decision"),
        ("model_version", "other-model", "model"),
        ("model_sha256", "0" * 64, "model"),
        ("outside_experience", True, "outside_experience"),
    ],
)
def test_a_changed_decision_column_is_reported_as_by_the_plain_comparison(chain, monkeypatch, column, value, label):
    drop_triggers()
    raw(f"UPDATE audit_decisionrecord SET {column} = %s WHERE id = %s", (value, chain[2].pk))
    report = _walks_agree(DECISIONS, monkeypatch)
    assert report["problem_record_ids"] == [chain[2].pk]
    assert report["problems"] == [
        f"record id={chain[2].pk} #3: column {label} differs from the hashed content (edited)"
    ]


def test_a_time_one_microsecond_off_and_a_time_written_otherwise_are_found(chain, monkeypatch):
    drop_triggers()
    raw(
        "UPDATE audit_decisionrecord SET created_at = %s WHERE id = %s",
        (chain[1].created_at + dt.timedelta(microseconds=1), chain[1].pk),
    )
    # The same instant, written without microseconds in the payload: not the canonical text, so it differs.
    _rewrite_payload(chain[4], created_at=json.loads(chain[4].payload)["created_at"].replace(".", ",", 1))
    report = _walks_agree(DECISIONS, monkeypatch)
    at = [text for text in report["problems"] if "column created_at" in text]
    assert [f"id={chain[1].pk} " in at[0], f"id={chain[4].pk} " in at[1]] == [True, True]


def test_a_rewritten_payload_and_a_nested_key_of_the_same_name_are_judged_on_the_top_level_key(chain, monkeypatch):
    drop_triggers()
    document = json.loads(chain[3].payload)
    # A nested "created_at" and "decision" that agree with the columns change nothing; the top-level
    # decision rewritten (and rehashed) is the finding.
    inputs = {**document["inputs"], "created_at": document["created_at"], "decision": chain[3].decision}
    other = "DECLINE" if chain[3].decision != "DECLINE" else "APPROVE"
    _rewrite_payload(chain[3], inputs=inputs, decision=other)
    report = _walks_agree(DECISIONS, monkeypatch)
    assert f"record id={chain[3].pk} #4: column decision differs from the hashed content (edited)" in report["problems"]


def test_a_payload_time_of_another_type_is_found(chain, monkeypatch):
    drop_triggers()
    _rewrite_payload(chain[0], created_at=None)
    _rewrite_payload(chain[5], created_at=12)
    report = _walks_agree(DECISIONS, monkeypatch)
    assert sum("column created_at" in text for text in report["problems"]) == 2


@pytest.fixture
def cases():
    officer = UserFactory(role=roles.OFFICER)
    for i in range(3):
        decide_by_review(review_case(officer, applicant_reference=f"C-{i}"), "DECLINE")
    return list(CaseRecord.objects.order_by("sequence"))


def test_a_changed_case_column_is_reported_as_by_the_plain_comparison(cases, monkeypatch):
    drop_triggers()
    raw("UPDATE audit_caserecord SET created_at = %s WHERE id = %s", ("2020-01-01 00:00:00+00", cases[1].pk))
    raw("UPDATE audit_caserecord SET explanation = %s WHERE id = %s", ("Edited.", cases[2].pk))
    report = _walks_agree(CASES, monkeypatch)
    assert report["problems"] == [
        f"record id={cases[1].pk} #{cases[1].sequence}: column created_at differs from the hashed content (edited)",
        f"record id={cases[2].pk} #{cases[2].sequence}: column explanation differs from the hashed content (edited)",
    ]


def _serial_cases() -> dict:
    """The case chain walked as the parent does, bindings checked a thousand records at a time."""
    report = ChainReport()
    bindings = verification._Bindings(report, verification._BINDING_WORDS[CASES.head])
    index = CASES.position["decision_record_id"]
    verification._walk(CASES, report, on_record=lambda row, document: bindings.add(row, document, index))
    bindings.flush()
    return dataclasses.asdict(report)


def _worker_cases() -> dict:
    part = verification._walk_part(CASES.head, None, None)
    report = ChainReport()
    verification._merge_parts(report, [part])
    return dataclasses.asdict(report)


def test_case_records_bound_to_another_decision_record_are_found_as_by_the_serial_walk(cases, chain):
    drop_triggers()
    # Two rebound to another application's decision record, one whose payload names another hash
    # (rehashed), and one edited column: in chain order, as one walk.
    raw("UPDATE audit_caserecord SET decision_record_id = %s WHERE id = %s", (chain[-1].pk, cases[0].pk))
    raw("UPDATE audit_caserecord SET explanation = %s WHERE id = %s", ("Edited.", cases[1].pk))
    _rewrite_payload(cases[2], decision_record_hash="f" * 64)
    raw("UPDATE audit_caserecord SET decision_record_id = %s WHERE id = %s", (chain[1].pk, cases[-1].pk))
    serial = _serial_cases()
    assert _worker_cases() == serial
    bound = [text for text in serial["problems"] if "is not the one it was bound to" in text]
    assert len(bound) == 3 and f"record id={cases[0].pk} " in bound[0]
    # Bindings are reported when a thousand records were added, and at the end: after the walk's own findings.
    assert "column explanation" in serial["problems"][0]


def test_bindings_are_reported_at_the_same_points_of_the_walk(cases, chain, monkeypatch):
    """The serial walk reports its bindings every thousand records; made to report after every record, the
    joined bindings must too, so the problems come in the same order."""
    drop_triggers()
    raw("UPDATE audit_caserecord SET decision_record_id = %s WHERE id = %s", (chain[-1].pk, cases[0].pk))
    raw("UPDATE audit_caserecord SET explanation = %s WHERE id = %s", ("Edited.", cases[1].pk))
    original = verification._Bindings.add

    def add_and_flush(self, row, document, index):
        original(self, row, document, index)
        self.flush()

    monkeypatch.setattr(verification._Bindings, "add", add_and_flush)
    joined_add = verification._JoinedBindings.add

    def joined_add_and_flush(self, row, document):
        joined_add(self, row, document)
        self.flush()

    monkeypatch.setattr(verification._JoinedBindings, "add", joined_add_and_flush)
    serial = _serial_cases()
    assert _worker_cases() == serial
    assert "bound to" in serial["problems"][0] and "column explanation" in serial["problems"][1]


def test_a_reviewed_application_s_queue_time_set_or_cleared_is_found(cases):
    """The reviewed applications are read as raw rows, queue time only as NULL or not: a decided case put back
    in the queue, and a claimed one taken out of it, are both findings."""
    decided = LoanApplication.objects.get(pk=cases[0].application_id)
    claimed = review_case(applicant_reference="C-claimed")
    services.claim_case(application_id=claimed.pk, reviewer=UserFactory(role=roles.REVIEWER), expected_version=0)
    raw("UPDATE applications_loanapplication SET queued_at = %s WHERE id = %s", (decided.scored_at, decided.pk))
    raw("UPDATE applications_loanapplication SET queued_at = NULL WHERE id = %s", (claimed.pk,))
    code, _, summary = run_verify("--full")
    assert code == 1 and summary["application_mismatches"] == 2
    assert [problem for problem in verification.verify_audit_trail().application_problems] == [
        f"application id={decided.pk}: queued at differs from its case records",
        f"application id={claimed.pk}: queued at differs from its case records",
    ]
