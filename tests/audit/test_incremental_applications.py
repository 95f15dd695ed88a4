"""An incremental run compares the applications its records touch without re-checking what its walk just checked.

``verification._compare_touched_applications`` reads the touched applications and their records in raw SQL and
skips the hash and payload check of a record the run's walk has just found intact. The oracle is the path it
replaced, ``_compare_applications`` (``application_integrity`` on model instances, every record re-checked):
for each tampering below both must find the same applications with the same words, and the run as a whole
must say the same.
"""

from __future__ import annotations

import json

import pytest

from accounts import roles
from applications.models import LoanApplication
from audit import canonical, verification
from audit.models import CaseRecord, DecisionRecord
from audit.services import latest_checkpoints
from tests.support.audit import drop_triggers, legacy_override, raw, run_verify
from tests.support.factories import UserFactory, declined_case, review_case, scored_application
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    """Verified in full: a plain application, a queued case and a declined one (the checkpoint); then, after it,
    the queued case decided, the declined one overridden (legacy), a new plain application and a new case decided."""
    officer = UserFactory(role=roles.OFFICER)
    before = {
        "plain": scored_application(officer, applicant_reference="I-0", loan_amnt="5000"),
        "queued": review_case(officer, applicant_reference="I-1"),
        "declined": declined_case(officer, applicant_reference="I-2"),
    }
    code, out, _ = run_verify("--full")
    assert code == 0, out
    after = {
        "queued": decide_by_review(before["queued"], "APPROVE"),
        "new_plain": scored_application(officer, applicant_reference="I-3", loan_amnt="6000"),
        "new_case": decide_by_review(review_case(officer, applicant_reference="I-4", loan_amnt="14500"), "DECLINE"),
    }
    legacy_override(before["declined"], reviewer=UserFactory(role=roles.REVIEWER), to_decision="APPROVE")
    return {**before, **after}


def _incremental() -> dict:
    summary = verification.verify_audit_trail(since=latest_checkpoints())
    return {**summary.as_dict(), "problems": summary.problems(), "ids": summary.application_mismatch_ids}


def _oracle(monkeypatch) -> dict:
    """The same incremental run through the replaced path: every touched application by ``application_integrity``."""
    monkeypatch.setattr(
        verification,
        "_compare_touched_applications",
        lambda summary, ids, walked: verification._compare_applications(summary, ids),
    )
    try:
        return _incremental()
    finally:
        monkeypatch.undo()


def _same_as_the_oracle(monkeypatch) -> dict:
    found = _incremental()
    assert found == _oracle(monkeypatch)
    return found


def test_an_intact_increment_compares_every_touched_application(trail, monkeypatch):
    found = _same_as_the_oracle(monkeypatch)
    assert found["chain_ok"] is True and found["application_mismatches"] == 0
    # The queued case and the declined one (records after the checkpoint), and the two new applications.
    assert found["applications_checked"] == 4


def test_the_walk_has_checked_the_new_records_so_their_payloads_are_not_read_again(trail, monkeypatch):
    checked = []
    intact = verification._record_intact
    monkeypatch.setattr(verification, "_record_intact", lambda row, spec: checked.append(row.id) or intact(row, spec))
    assert _incremental()["application_mismatches"] == 0
    checkpoints = latest_checkpoints()
    # Only the touched applications' records from before the checkpoint: the queued and the declined case's
    # decision records (the checkpoint record is one of them).
    before = DecisionRecord.objects.filter(
        application_id__in=[trail["queued"].pk, trail["declined"].pk],
        sequence__lte=checkpoints["decisions"].sequence,
    )
    assert sorted(checked) == sorted(before.values_list("id", flat=True)) and len(checked) == 2


@pytest.mark.parametrize(
    "which, column, value",
    [
        ("new_plain", "final_decision", "DECLINE"),
        ("new_case", "case_state", "IN_QUEUE"),
        ("queued", "final_decision", "DECLINE"),
        ("queued", "case_version", 7),
        ("declined", "final_decision", "DECLINE"),
        ("new_case", "probability_of_default", 0.5),
    ],
)
def test_a_tampered_application_column_is_found_as_before(trail, monkeypatch, which, column, value):
    raw(f"UPDATE applications_loanapplication SET {column} = %s WHERE id = %s", (value, trail[which].pk))
    found = _same_as_the_oracle(monkeypatch)
    assert found["application_mismatches"] == 1 and found["chain_ok"] is True


def test_an_edit_before_the_checkpoint_of_a_touched_applications_record_is_found(trail, monkeypatch):
    """The queued case's decision record (before the checkpoint) edited: the walk does not reach it, but the
    comparison of the application its new case record touched re-checks it."""
    record = DecisionRecord.objects.get(application_id=trail["queued"].pk)
    drop_triggers()
    raw("UPDATE audit_decisionrecord SET model_version = %s WHERE id = %s", ("v-forged", record.pk))
    found = _same_as_the_oracle(monkeypatch)
    application_id = trail["queued"].pk
    assert found["problems"] == [
        f"application: application id={application_id}: its decision record #{record.sequence} was changed",
        f"application: application id={application_id}: its latest-decision index disagrees with its decision and outcome records",
    ]
    assert run_verify("--incremental")[0] == 1


def test_an_edited_new_case_record_is_found_by_the_walk_and_the_comparison(trail, monkeypatch):
    record = CaseRecord.objects.filter(application_id=trail["new_case"].pk).order_by("-sequence").first()
    drop_triggers()
    raw("UPDATE audit_caserecord SET explanation = %s WHERE id = %s", ("Rewritten.", record.pk))
    found = _same_as_the_oracle(monkeypatch)
    assert found["cases_chain_ok"] is False and found["application_mismatches"] == 1
    code, out, _ = run_verify("--incremental")
    assert code == 1 and f"its case record #{record.sequence} was changed" in out


def test_a_rewritten_new_record_with_its_hash_is_found(trail, monkeypatch):
    """A new case record whose payload and hash were rewritten together: its link breaks in the walk, and the
    comparison (the chain not intact: every record re-checked) finds the lifecycle no longer replays."""
    record = CaseRecord.objects.filter(application_id=trail["new_case"].pk).order_by("-sequence").first()
    document = json.loads(record.payload)
    document["to_state"] = "IN_QUEUE"
    payload = canonical.dumps(document)
    drop_triggers()
    raw(
        "UPDATE audit_caserecord SET payload = %s, record_hash = %s, to_state = %s WHERE id = %s",
        (payload, canonical.record_hash(payload), "IN_QUEUE", record.pk),
    )
    found = _same_as_the_oracle(monkeypatch)
    assert found["cases_chain_ok"] is False and found["application_mismatches"] == 1


def test_a_deleted_new_case_record_is_found(trail, monkeypatch):
    record = CaseRecord.objects.filter(application_id=trail["queued"].pk).order_by("-sequence").first()
    drop_triggers()
    raw("DELETE FROM audit_caserecord WHERE id = %s", (record.pk,))
    found = _same_as_the_oracle(monkeypatch)
    assert found["cases_chain_ok"] is False and found["application_mismatches"] == 1


def test_a_deleted_new_decision_record_is_found(trail, monkeypatch):
    record = DecisionRecord.objects.get(application_id=trail["new_plain"].pk)
    drop_triggers()
    raw("DELETE FROM audit_decisionrecord WHERE id = %s", (record.pk,))
    found = _same_as_the_oracle(monkeypatch)
    # Its application is touched by no record walked any more: the chain's break is what finds it.
    assert found["chain_ok"] is False and found["application_mismatches"] == 0
    assert any("missing" in problem or "deleted" in problem for problem in found["problems"]), found["problems"]


def test_the_override_figures_read_the_changes_the_orm_reads(trail):
    """``selectors._ChangeQuery`` (raw SQL) against the querysets it replaced, before and after the checkpoint."""
    from django.db import connection
    from django.db.models import F

    from audit.models import OverrideRecord
    from audit.selectors import _ChangeQuery

    columns = ("application_id", "decision_record__model_version", "sequence")
    querysets = {
        "reviewer": OverrideRecord.objects.values_list("reviewer__username", *columns),
        "actor": CaseRecord.objects.exclude(to_decision=F("from_decision")).values_list("actor__username", *columns),
    }
    models = {"reviewer": OverrideRecord, "actor": CaseRecord}
    every = list(LoanApplication.objects.values_list("pk", flat=True))
    for user, queryset in querysets.items():
        changes = _ChangeQuery(connection, models[user], user)
        assert queryset.exists()
        assert sorted(changes.of_applications(every)) == sorted(queryset.filter(application_id__in=every))
        assert sorted(changes.of_applications(every[:2])) == sorted(queryset.filter(application_id__in=every[:2]))
        for after in (0, 1, 2):
            assert sorted(changes.application_ids(after=after)) == sorted(
                queryset.filter(sequence__gt=after).values_list("application_id", flat=True)
            )


@pytest.mark.parametrize(
    "moment",
    [
        "2025-01-01 00:00:00+00",
        "2026-11-30 15:04:05.000001+00",
        "2026-11-30 23:59:59.999999+00",
        "2026-06-30 23:30:00.5+02",  # another zone: the same instant in UTC
        "0999-03-04 05:06:07.123456+00",
    ],
)
def test_a_time_read_as_text_gives_the_payloads_form_as_the_datetime_does(moment):
    """What the walk reads (``_column_sql``: text on both databases) against the driver's datetime of the same value."""
    from django.db import connection

    from audit.verification import _column_sql, _time_text

    column = _column_sql(connection, DecisionRecord._meta, "created_at").replace('"created_at"', "m")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT {column}, m FROM (SELECT %s::timestamptz AS m) t", [moment])
            text, moment_value = cursor.fetchone()
            assert isinstance(text, str) and len(text) == 26
            assert _time_text(text) == _time_text(moment_value)
        else:
            # SQLite stores Django's text; the walk reads it as stored.
            import datetime as dt

            value = dt.datetime.fromisoformat(moment.replace("+00", "+00:00").replace("+02", "+02:00"))
            stored = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")
            cursor.execute(f"SELECT {column} FROM (SELECT %s AS m) t", [stored])
            assert _time_text(cursor.fetchone()[0]) == _time_text(value)


def test_the_touched_applications_compared_in_slices_say_the_same(trail, monkeypatch):
    """Slices of one application (each its own statements) against all at once, with a tampered row."""
    raw("UPDATE applications_loanapplication SET case_version = 7 WHERE id = %s", (trail["queued"].pk,))
    whole = _incremental()
    monkeypatch.setattr(verification, "TOUCHED_CHUNK", 1)
    sliced = _incremental()
    assert sliced == whole and whole["applications_checked"] == 4 and whole["ids"] == [trail["queued"].pk]
