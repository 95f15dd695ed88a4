"""A full verification walks the decision chain by sequence ranges in worker processes (issue 16 point 2).

Each range is walked on its own (``_walk_part``); its first record's sequence and link are checked against
the range before it when the ranges are merged (``_merge_parts``). Whatever was tampered with, and wherever,
the merged findings must be exactly what one walk from the first record finds: the same problems, in the
same order, the same first bad record, counts, head and tally.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection

from accounts import roles
from applications.models import LoanApplication
from audit import db_triggers, verification
from audit.models import DecisionRecord
from audit.verification import DECISIONS, ChainReport
from tests.support.audit import drop_triggers, raw, run_verify, scored_application
from tests.support.factories import UserFactory
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db

RECORDS = 9


@pytest.fixture
def chain():
    officer = UserFactory(role=roles.OFFICER)
    for i in range(RECORDS):
        scored_application(officer, applicant_reference=f"P-{i}", loan_amnt=str(5000 + 500 * i))
    return list(DecisionRecord.objects.order_by("sequence"))


def _serial() -> tuple[dict, dict]:
    report, tally = ChainReport(), {}
    count = verification._decision_tallier(tally)
    verification._walk(DECISIONS, report, on_record=lambda row, document: count(row))
    return dataclasses.asdict(report), tally


def _by_ranges(ranges: int) -> tuple[dict, dict]:
    report, tally = ChainReport(), {}
    parts = [
        verification._walk_part(DECISIONS.head, start, stop) for start, stop in verification._ranges(RECORDS, ranges)
    ]
    verification._merge_parts(report, parts, tally)
    return dataclasses.asdict(report), tally


def _assert_same_as_serial(ranges: int = 3) -> dict:
    serial, serial_tally = _serial()
    merged, merged_tally = _by_ranges(ranges)
    assert merged == serial
    assert merged_tally == serial_tally and list(merged_tally) == list(serial_tally)
    return merged


def _flip_decision(record: DecisionRecord) -> None:
    other = "DECLINE" if record.decision != "DECLINE" else "APPROVE"
    raw("UPDATE audit_decisionrecord SET decision = %s WHERE id = %s", (other, record.pk))


def test_ranges_cover_the_chain_without_overlap():
    assert verification._ranges(9, 3) == [(None, 4), (4, 7), (7, None)]
    assert verification._ranges(10, 4) == [(None, 4), (4, 7), (7, 10), (10, None)]
    assert verification._ranges(0, 2) == [(None, 2), (2, None)]


def test_an_intact_chain_merges_to_the_serial_walk(chain):
    merged = _assert_same_as_serial()
    assert merged["ok"] and merged["checked"] == RECORDS
    assert (merged["head_sequence"], merged["head_hash"], merged["last_id"]) == (
        RECORDS,
        chain[-1].record_hash,
        chain[-1].pk,
    )


def test_a_tampered_record_in_each_range_is_found_in_chain_order(chain):
    drop_triggers()
    for victim in (chain[1], chain[4], chain[7]):  # one in each of the ranges #1-3, #4-6, #7-9
        _flip_decision(victim)
    merged = _assert_same_as_serial()
    assert merged["problem_count"] == 3 and merged["first_bad_id"] == chain[1].pk
    assert merged["problem_record_ids"] == [chain[1].pk, chain[4].pk, chain[7].pk]


def test_a_record_deleted_at_a_range_boundary_is_found(chain):
    drop_triggers()
    raw("DELETE FROM audit_decisionrecord WHERE id = %s", (chain[3].pk,))  # #4, the second range's first
    merged = _assert_same_as_serial()
    assert merged["first_bad_id"] == chain[4].pk and "#4..#4 are missing" in merged["problems"][0]


def test_a_broken_link_exactly_at_a_range_boundary_is_found(chain):
    drop_triggers()
    raw("UPDATE audit_decisionrecord SET previous_hash = %s WHERE id = %s", ("f" * 64, chain[6].pk))  # #7
    merged = _assert_same_as_serial()
    assert merged["first_bad_id"] == chain[6].pk
    assert "does not link to the previous record's hash" in merged["problems"][0]


def test_a_rewritten_hash_at_the_end_of_a_range_breaks_the_next_range_s_first_link(chain):
    drop_triggers()
    raw("UPDATE audit_decisionrecord SET record_hash = %s WHERE id = %s", ("e" * 64, chain[2].pk))  # #3
    merged = _assert_same_as_serial()
    assert merged["problem_record_ids"] == [chain[2].pk, chain[3].pk]
    assert "does not link" in merged["problems"][1]


def test_an_empty_range_and_more_problems_than_listed_merge_as_the_serial_walk(chain, monkeypatch):
    monkeypatch.setattr(verification, "MAX_LISTED", 2)
    drop_triggers()
    raw("DELETE FROM audit_decisionrecord WHERE sequence IN (4, 5, 6)")  # the whole second range
    for victim in (chain[0], chain[1], chain[7], chain[8]):
        _flip_decision(victim)
    merged = _assert_same_as_serial()
    assert len(merged["problems"]) == 2 and merged["problem_count"] == 5


def test_never_reviewed_applications_are_listed_before_reviewed_ones(chain):
    """The reviewed applications are compared first (while the never-reviewed ones' statement runs elsewhere),
    yet listed after them, as before."""
    reviewed = LoanApplication.objects.get(pk=chain[0].application_id)
    decide_by_review(reviewed, "APPROVE" if reviewed.final_decision != "APPROVE" else "DECLINE")
    plain = LoanApplication.objects.get(pk=chain[5].application_id)
    for application in (reviewed, plain):
        raw("UPDATE applications_loanapplication SET probability_of_default = 0.5 WHERE id = %s", (application.pk,))
    code, out, summary = run_verify("--full")
    assert code == 1 and summary["application_mismatches"] == 2
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM application")]
    assert [f"id={plain.pk}:" in problems[0], f"id={reviewed.pk}:" in problems[1]] == [True, True]


@pytest.fixture
def committed_chain():
    """Eight decisions committed (worker processes read the database, not this test's transaction)."""
    officer = UserFactory(role=roles.OFFICER)
    for i in range(8):
        scored_application(officer, applicant_reference=f"W-{i}", loan_amnt=str(4000 + 500 * i))
    yield list(DecisionRecord.objects.order_by("sequence"))
    db_triggers.install(connection)


@pytest.mark.django_db(transaction=True)
def test_worker_processes_report_what_the_serial_walk_reports(committed_chain, monkeypatch):
    """The command's path on a database other processes can open (PostgreSQL here: the tests' SQLite is in
    memory); the SQLite path is the same code, timed at 1,000,000 by bench/verify_bench.py."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database cannot be opened by a worker process")
    chain = committed_chain
    db_triggers.drop(connection)
    for victim in (chain[1], chain[5]):
        _flip_decision(victim)
    raw("UPDATE audit_decisionrecord SET previous_hash = %s WHERE id = %s", ("f" * 64, chain[4].pk))  # a boundary
    started = []
    walkers = verification._Walkers
    monkeypatch.setattr(verification, "_Walkers", lambda *args: started.append(args) or walkers(*args))
    monkeypatch.setattr(verification, "PARALLEL_FROM", 1)
    code, parallel_out, parallel = run_verify("--full")
    assert started, "the walk did not run in worker processes"
    monkeypatch.setattr(verification, "PARALLEL_FROM", 10**9)
    code_serial, serial_out, serial = run_verify("--full")
    assert len(started) == 1
    assert (code, parallel) == (code_serial, serial) and code == 1
    assert parallel_out.splitlines()[:-2] == serial_out.splitlines()[:-2]
    assert parallel["first_bad_id"] == chain[1].pk and parallel["checked"] == 8
