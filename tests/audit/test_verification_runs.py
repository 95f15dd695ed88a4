"""Stored verification runs (issue 16 point 2): checkpoints, incremental and full runs, the queued job, /audit/.

An incremental run re-checks the checkpoint record of the latest passed run and walks only the records
after it; a full run walks everything. The auditor's page shows the latest stored run and never verifies.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import roles
from audit import verification
from audit.models import DecisionRecord, VerificationRun
from tests.support.audit import drop_triggers, raw, run_verify, scored_application
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def _applications(officer, count: int, start: int = 0) -> list:
    return [
        scored_application(officer, applicant_reference=f"R-{start + i}", loan_amnt=str(4000 + 500 * (start + i)))
        for i in range(count)
    ]


@pytest.fixture
def checkpointed():
    """Four decisions verified in full (the checkpoint: #4), then three more appended."""
    officer = UserFactory(role=roles.OFFICER)
    _applications(officer, 4)
    code, _, _ = run_verify("--full")
    assert code == 0
    _applications(officer, 3, start=4)
    return list(DecisionRecord.objects.order_by("sequence"))


def _edit_decision_column(record: DecisionRecord) -> None:
    drop_triggers()
    other = "DECLINE" if record.decision != "DECLINE" else "APPROVE"
    raw("UPDATE audit_decisionrecord SET decision = %s WHERE id = %s", (other, record.pk))


def test_a_full_run_stores_its_checkpoint_and_counts():
    officer = UserFactory(role=roles.OFFICER)
    _applications(officer, 3)
    code, _, summary = run_verify()
    run = VerificationRun.objects.get()
    last = DecisionRecord.objects.order_by("-sequence").first()
    assert code == 0 and summary["incremental"] is False
    assert (run.kind, run.status, run.replay, run.records_checked, run.applications_checked, run.problem_count) == (
        "full",
        "passed",
        False,
        3,
        3,
        0,
    )
    assert run.chains["decisions"] == {
        "checked": 3,
        "problems": 0,
        "ok": True,
        "from_sequence": 0,
        "last_id": last.pk,
        "last_sequence": 3,
        "last_hash": last.record_hash,
    }
    assert run.records_done == 3 and run.records_total == 3
    assert run.started_at <= run.finished_at


def test_an_incremental_run_walks_only_the_records_after_the_checkpoint(checkpointed):
    code, out, summary = run_verify("--incremental")
    run = VerificationRun.objects.order_by("-id").first()
    assert code == 0, out
    assert summary["checked"] == 3 and summary["incremental"] is True and summary["applications_checked"] == 3
    assert run.kind == "incremental" and run.chains["decisions"]["from_sequence"] == 4
    assert (
        run.chains["decisions"]["last_sequence"] == 7
        and run.chains["decisions"]["last_hash"] == checkpointed[-1].record_hash
    )


def test_incremental_without_a_passed_run_is_a_full_one():
    officer = UserFactory(role=roles.OFFICER)
    _applications(officer, 2)
    code, _, summary = run_verify("--incremental")
    assert code == 0 and summary["checked"] == 2 and summary["incremental"] is False
    assert VerificationRun.objects.get().kind == "full"


def test_incremental_catches_an_edit_after_the_checkpoint(checkpointed):
    victim = checkpointed[5]  # #6, after the checkpoint #4
    _edit_decision_column(victim)
    code, out, summary = run_verify("--incremental")
    assert code == 1 and summary["chain_ok"] is False and summary["first_bad_id"] == victim.pk
    assert f"record id={victim.pk} #6: column decision differs from the hashed content (edited)" in out


def test_incremental_catches_an_edit_of_the_checkpoint_record(checkpointed):
    checkpoint = checkpointed[3]  # #4: the last record the full run verified
    _edit_decision_column(checkpoint)
    code, out, summary = run_verify("--incremental")
    assert code == 1 and summary["first_bad_id"] == checkpoint.pk
    assert f"checkpoint record id={checkpoint.pk} #4: column decision differs from the hashed content (edited)" in out
    # Only the three new records were walked; the checkpoint was re-checked, not counted again.
    assert summary["checked"] == 3


def test_incremental_catches_a_rewritten_checkpoint_payload_and_hash(checkpointed):
    """A checkpoint record whose payload and hash were both rewritten: its own hash agrees, but not the one verified."""
    import json

    from audit import canonical

    checkpoint = checkpointed[3]
    document = json.loads(checkpoint.payload)
    document["decision"] = "APPROVE" if checkpoint.decision != "APPROVE" else "DECLINE"
    payload = canonical.dumps(document)
    drop_triggers()
    raw(
        "UPDATE audit_decisionrecord SET payload = %s, record_hash = %s, decision = %s WHERE id = %s",
        (payload, canonical.record_hash(payload), document["decision"], checkpoint.pk),
    )
    code, out, _ = run_verify("--incremental")
    assert code == 1
    assert f"checkpoint record id={checkpoint.pk} #4: its hash or id is not the one verified before (replaced)" in out


def test_only_a_full_run_catches_an_edit_before_the_checkpoint(checkpointed):
    victim = checkpointed[1]  # #2, before the checkpoint #4
    _edit_decision_column(victim)
    code, _, _ = run_verify("--incremental")
    assert code == 0, "an incremental run does not re-read records before its checkpoint"
    code, out, summary = run_verify("--full")
    assert code == 1 and summary["first_bad_id"] == victim.pk
    assert f"record id={victim.pk} #2: column decision differs" in out


def test_a_failed_run_does_not_move_the_checkpoint(checkpointed):
    victim = checkpointed[5]
    _edit_decision_column(victim)
    assert run_verify("--incremental")[0] == 1
    # Run again: it starts from the last *passed* checkpoint (#4), so the problem is found again.
    code, out, summary = run_verify("--incremental")
    assert code == 1 and summary["first_bad_id"] == victim.pk and summary["checked"] == 3


def test_incremental_compares_the_applications_its_records_touch(checkpointed):
    record = checkpointed[6]
    application_id = record.application_id
    other = "DECLINE" if record.decision != "DECLINE" else "APPROVE"
    raw("UPDATE applications_loanapplication SET final_decision = %s WHERE id = %s", (other, application_id))
    code, out, summary = run_verify("--incremental")
    assert code == 1 and summary["application_mismatches"] == 1
    run = VerificationRun.objects.order_by("-id").first()
    assert run.problems == [
        {
            "text": "final decision differs from the last override or case record (or the model's decision)",
            "application_id": application_id,
        }
    ]


def test_a_problem_in_a_record_names_its_application(checkpointed):
    victim = checkpointed[5]
    _edit_decision_column(victim)
    run_verify("--incremental")
    run = VerificationRun.objects.order_by("-id").first()
    assert run.status == "failed" and run.problem_count >= 1
    assert run.problems[0]["application_id"] == victim.application_id
    assert run.problems[0]["text"].startswith(f"decision chain: record id={victim.pk} #6")


def test_an_auditor_queues_a_full_run_with_replay(django_capture_on_commit_callbacks):
    officer = UserFactory(role=roles.OFFICER)
    _applications(officer, 2)
    client = Client()
    client.force_login(UserFactory(role=roles.AUDITOR))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/audit/verify/", {"kind": "full"})
    assert response.status_code == 302 and response["Location"] == "/audit/"
    assert len(callbacks) == 1  # queued after the commit; the test queue runs it at once
    run = VerificationRun.objects.get()
    assert (run.kind, run.replay, run.status, run.replayed, run.channel) == ("full", True, "passed", 2, "web")
    html = client.get("/audit/").content.decode()
    assert "All 2 decision records" in html and "2 decisions re-scored bit for bit" in html and "no problems." in html


def test_a_second_run_is_not_queued_while_one_is_in_progress():
    auditor = UserFactory(role=roles.AUDITOR)
    running = VerificationRun.objects.create(
        kind="full", replay=True, status="running", created_at=timezone.now(), started_at=timezone.now()
    )
    client = Client()
    client.force_login(auditor)
    response = client.post("/audit/verify/", {"kind": "incremental"}, follow=True)
    assert VerificationRun.objects.count() == 1
    assert "A verification is already running; it was not started twice." in response.content.decode()
    assert running.pk == VerificationRun.objects.get().pk


def test_officers_cannot_start_a_verification():
    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    assert client.post("/audit/verify/", {"kind": "full"}).status_code == 403
    assert client.get("/audit/verify/").status_code in (403, 405)
    assert not VerificationRun.objects.exists()


def test_the_audit_page_shows_progress_of_a_running_run():
    VerificationRun.objects.create(
        kind="full",
        replay=True,
        status="running",
        created_at=timezone.now(),
        started_at=timezone.now(),
        records_total=1_000_000,
        records_done=450_000,
    )
    client = Client()
    client.force_login(UserFactory(role=roles.AUDITOR))
    html = client.get("/audit/").content.decode()
    assert "A full verification with replay is running" in html and "450,000 of 1,000,000 records (45%)" in html
    assert '<progress max="100" value="45"' in html
    assert "Not verified yet." in html  # nothing finished yet, and nothing verified inline


def test_the_audit_page_never_verifies_inline(monkeypatch):
    """A stored result for a million-record chain is shown as it is: no chain is walked, no payload read."""
    finished = timezone.now()
    VerificationRun.objects.create(
        kind="full",
        replay=False,
        status="passed",
        created_at=finished,
        started_at=finished - timezone.timedelta(seconds=17),
        finished_at=finished,
        records_checked=1_017_454,
        applications_checked=1_000_000,
        chains={
            "decisions": {
                "checked": 1_000_000,
                "problems": 0,
                "ok": True,
                "from_sequence": 0,
                "last_id": 1_000_000,
                "last_sequence": 1_000_000,
                "last_hash": "ab" * 32,
            },
            "cases": {
                "checked": 17_454,
                "problems": 0,
                "ok": True,
                "from_sequence": 0,
                "last_id": 17_454,
                "last_sequence": 17_454,
                "last_hash": "cd" * 32,
            },
        },
    )

    def refuse(*args, **kwargs):
        raise AssertionError("the audit page verified inline")

    monkeypatch.setattr(verification, "verify_audit_trail", refuse)
    monkeypatch.setattr(verification, "_walk", refuse)
    monkeypatch.setattr(verification, "application_integrity", refuse)
    client = Client()
    client.force_login(UserFactory(role=roles.AUDITOR))
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/audit/")
    assert response.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "payload" in q["sql"]]
    html = response.content.decode()
    assert "All 1,000,000 decision records and 1,017,454 records in all verified" in html
    assert "no problems." in html and "(it took 17.0 s)" in html
    assert (
        '<tr data-testid="chain-row-decisions"><th scope="row">Decision records</th><td class="num">1,000,000</td>'
        in html
    )
    assert "#1,000,000" in html and "abababababababab…" in html


@pytest.mark.django_db(transaction=True)
def test_a_full_run_outside_a_transaction_compares_applications_on_a_second_connection():
    """The command's path: the never-reviewed applications are compared in SQL on another connection
    (PostgreSQL: in the walk's exported snapshot) while the chains are walked."""
    officer = UserFactory(role=roles.OFFICER)
    applications = _applications(officer, 3)
    victim = applications[1]
    other = "DECLINE" if victim.final_decision != "DECLINE" else "APPROVE"
    raw("UPDATE applications_loanapplication SET final_decision = %s WHERE id = %s", (other, victim.pk))
    assert not connection.in_atomic_block
    code, out, summary = run_verify("--full")
    assert code == 1 and summary["applications_checked"] == 3 and summary["application_mismatches"] == 1
    assert f"application id={victim.pk}: final decision differs" in out
    assert VerificationRun.objects.get().problems[0]["application_id"] == victim.pk


def test_the_page_figures_are_counted_with_each_run_and_an_incremental_one_adds_the_new_records(checkpointed):
    from audit import selectors

    first = VerificationRun.objects.get()
    assert first.figures["decision_total"] == 4
    code, _, _ = run_verify("--incremental")
    run = VerificationRun.objects.order_by("-id").first()
    assert code == 0 and run.kind == "incremental"
    # The four counted before plus the three after the checkpoint: what counting every record gives.
    assert run.figures == selectors.trail_figures() and run.figures["decision_total"] == 7
    client = Client()
    client.force_login(UserFactory(role=roles.AUDITOR))
    page = client.get("/audit/")
    assert sum(m["total"] for m in page.context["mix"]) == 7
    assert sum(v["decisions"] for v in page.context["versions"]) == 7


def test_an_incremental_run_adds_new_overrides_counting_each_application_once(monkeypatch):
    """After the checkpoint the same reviewer decides a case she referred before it, and another reviewer
    refers a new one: the figures are what counting every record gives, without re-reading them all."""
    from audit import selectors
    from tests.support.factories import DECLINED_FORM
    from tests.support.reviews import decide_by_review

    officer = UserFactory(role=roles.OFFICER)
    first, second = (scored_application(officer, **DECLINED_FORM) for _ in range(2))
    rita = UserFactory(role=roles.REVIEWER, username="rita")
    first = decide_by_review(first, "REFER", reviewer=rita)
    assert run_verify("--full")[0] == 0
    decide_by_review(first, "DECLINE", reviewer=rita)
    decide_by_review(second, "REFER", reviewer=UserFactory(role=roles.REVIEWER, username="sam"))

    def whole_table_read_again():
        raise AssertionError("an incremental run re-read every case record")

    monkeypatch.setattr(selectors, "override_figures", whole_table_read_again)
    code, _, _ = run_verify("--incremental")
    run = VerificationRun.objects.order_by("-id").first()
    assert code == 0 and run.kind == "incremental"
    monkeypatch.undo()
    assert run.figures == selectors.trail_figures()
    assert sorted(run.figures["reviewers"]) == [["rita", 2, 1], ["sam", 1, 1]]
    assert run.figures["overridden"] == {first.model_version: 2}
