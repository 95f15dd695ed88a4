"""The role-change chain: append-only in the database, and any edit or deletion found by verification."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from accounts import roles
from audit.exceptions import ImmutableRecordError
from audit.models import RoleChangeRecord
from staff import services
from tests.support.audit import drop_triggers, raw, run_verify
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def records():
    user = UserFactory(role=roles.OFFICER, username="tess")
    services.grant_role(user=user, role=roles.REVIEWER)
    services.grant_role(user=user, role=roles.ADMIN)
    services.revoke_role(user=user, role=roles.REVIEWER)
    return list(RoleChangeRecord.objects.order_by("sequence"))


def test_role_change_records_cannot_be_changed_or_deleted(records):
    record = records[0]
    with pytest.raises(ImmutableRecordError):
        record.save()
    with pytest.raises(ImmutableRecordError):
        RoleChangeRecord.objects.filter(pk=record.pk).update(role="auditor")
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("UPDATE audit_rolechangerecord SET role = 'auditor' WHERE id = %s", (record.pk,))
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("DELETE FROM audit_rolechangerecord WHERE id = %s", (record.pk,))


def test_an_edited_role_is_found_and_named(records):
    victim = records[1]  # "grant admin"
    drop_triggers()
    raw("UPDATE audit_rolechangerecord SET role = 'auditor' WHERE id = %s", (victim.pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["ok"] is False
    assert summary["role_changes_chain_ok"] is False and summary["first_bad_role_change_id"] == victim.pk
    assert f"role change chain: record id={victim.pk} #2: column role differs from the hashed content" in out


def test_a_deleted_last_grant_is_found(records):
    drop_triggers()
    raw("DELETE FROM audit_rolechangerecord WHERE id = %s", (records[-1].pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["role_changes_chain_ok"] is False
    assert "records were deleted from or added to the end" in out


def test_a_deleted_record_in_the_middle_is_found(records):
    drop_triggers()
    raw("DELETE FROM audit_rolechangerecord WHERE id = %s", (records[0].pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["first_bad_role_change_id"] == records[1].pk
    assert "records #1..#1 are missing (deleted)" in out


def test_the_audit_page_counts_role_changes(records, client_for):
    run_verify()
    page = client_for(roles.AUDITOR).get("/audit/").content.decode()
    assert '<tr data-testid="chain-row-role_changes"><th scope="row">Role changes</th><td class="num">3</td>' in page
    assert 'data-testid="head-role_changes">#3 ' + records[-1].record_hash in page
