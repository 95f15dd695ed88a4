"""Decision records: what is recorded, bit for bit, and that nothing can change or delete it."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client

from accounts import roles
from applications.models import LoanApplication
from audit import canonical
from audit.exceptions import ImmutableRecordError
from audit.models import AccessEvent, CaseRecord, ChainHead, DecisionRecord, OverrideRecord
from scoring.model_cache import get_model
from tests.support.audit import legacy_override, raw, run_verify, scored_application
from tests.support.factories import UserFactory
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


def test_each_scoring_appends_one_complete_chained_record():
    first = scored_application(applicant_reference="A-1")
    second = scored_application(applicant_reference="A-2")
    records = list(DecisionRecord.objects.order_by("sequence"))
    assert [r.application_id for r in records] == [first.pk, second.pk]
    assert [r.sequence for r in records] == [1, 2]
    assert records[0].previous_hash == canonical.GENESIS_HASH
    assert records[1].previous_hash == records[0].record_hash
    for record, application in zip(records, (first, second)):
        assert record.record_hash == hashlib.sha256(record.payload.encode()).hexdigest()
        doc = json.loads(record.payload)
        # Full precision, bit for bit, in the column and in the hashed payload.
        assert record.probability_of_default == application.probability_of_default
        assert float.fromhex(doc["probability_of_default"]).hex() == application.probability_of_default.hex()
        assert record.decision == application.decision
        assert record.model_version == application.model_version and record.model_sha256 == application.model_sha256
        assert record.officer_id == application.officer_id
        # Every input as entered; the features are exactly what the recorded model was fed.
        fed = set(get_model(record.model_version).compiled.feature_names)
        assert set(record.features) == fed and fed - {"loan_percent_income", "interest_burden"} <= set(doc["inputs"])
        assert doc["inputs"]["loan_grade"] == application.loan_grade
        assert record.features["loan_percent_income"] == application.loan_percent_income
        assert record.reasons and all(isinstance(r["contribution"], float) for r in record.reasons)
        assert record.approve_below < record.decline_from
        assert record.created_at.utcoffset().total_seconds() == 0
    head = ChainHead.objects.get(name=ChainHead.DECISIONS)
    assert (head.sequence, head.record_hash) == (2, records[1].record_hash)


def test_recorded_features_replay_to_the_same_bits():
    from scoring.services import replay_probabilities

    scored_application()
    record = DecisionRecord.objects.get()
    again = replay_probabilities(model_version=record.model_version, feature_rows=[record.features])
    assert again[0].hex() == record.probability_of_default.hex()


def test_a_failed_submission_leaves_no_record_and_no_gap():
    from django.core.exceptions import ValidationError

    scored_application()
    with pytest.raises(ValidationError):
        scored_application(person_age="17")
    scored_application()
    assert list(DecisionRecord.objects.values_list("sequence", flat=True)) == [1, 2]
    assert run_verify()[0] == 0


# --- ORM guard -----------------------------------------------------------------


@pytest.fixture
def record():
    scored_application()
    return DecisionRecord.objects.get()


def test_orm_save_of_an_existing_record_is_refused(record):
    record.decision = "APPROVE"
    with pytest.raises(ImmutableRecordError):
        record.save()
    with pytest.raises(ImmutableRecordError):
        record.save(update_fields=["decision"])


def test_orm_delete_is_refused_every_way(record):
    with pytest.raises(ImmutableRecordError):
        record.delete()
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.filter(pk=record.pk).delete()
    assert DecisionRecord.objects.count() == 1


def test_orm_bulk_writes_are_refused(record):
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.update(decision="APPROVE")
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.filter(pk=record.pk).update(probability_of_default=0.0)
    record.decision = "APPROVE"
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.bulk_update([record], ["decision"])
    with pytest.raises(ImmutableRecordError):
        DecisionRecord.objects.update_or_create(pk=record.pk, defaults={"decision": "APPROVE"})
    fresh = DecisionRecord.objects.get()
    assert fresh.decision != "APPROVE" or fresh.payload == record.payload
    assert run_verify()[0] == 0


def test_cascades_cannot_remove_records(record):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        LoanApplication.objects.filter(pk=record.application_id).delete()
    with pytest.raises(ProtectedError):
        record.officer.delete()
    assert DecisionRecord.objects.count() == 1


def test_forking_the_chain_is_refused_by_the_database(record):
    """Two records claiming the same predecessor (or sequence) cannot both exist."""
    clone = DecisionRecord(
        sequence=2,
        previous_hash=record.previous_hash,
        record_hash="f" * 64,
        payload="{}",
        created_at=record.created_at,
        application_id=record.application_id,
        officer_id=record.officer_id,
        probability_of_default=0.5,
        decision="REVIEW",
        approve_below=0.1,
        decline_from=0.5,
        model_version="x",
        model_sha256="y",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


@pytest.mark.parametrize("model", [DecisionRecord, OverrideRecord, AccessEvent])
def test_every_audit_model_refuses_orm_changes(model):
    assert isinstance(model.objects.all(), type(DecisionRecord.objects.all()))
    assert model._meta.base_manager_name == "objects"
    with pytest.raises(ImmutableRecordError):
        model.objects.all().update(created_at=None)
    with pytest.raises(ImmutableRecordError):
        model.objects.all().delete()


# --- Database triggers (SQLite here; PostgreSQL in test_audit_postgres) --------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_decisionrecord SET probability_of_default = 0.0",
        "UPDATE audit_decisionrecord SET decision = 'APPROVE'",
        "DELETE FROM audit_decisionrecord",
    ],
)
def test_raw_sql_update_and_delete_are_refused_by_triggers(record, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(statement)
    assert DecisionRecord.objects.get().payload == record.payload


def test_triggers_guard_overrides_and_access_events_too(record):
    reviewer = UserFactory(role=roles.REVIEWER)
    application = LoanApplication.objects.get(pk=record.application_id)
    assert application.final_decision != "REVIEW"
    legacy_override(application, reviewer=reviewer, to_decision="REVIEW", reason="Documents missing.")
    decide_by_review(application, "REFER", reviewer=reviewer)  # a claim, then the referral
    AccessEvent.objects.create(created_at=record.created_at, action="view_application", username="x")
    for table in ("audit_overriderecord", "audit_caserecord", "audit_accessevent"):
        for statement in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                raw(statement)
    assert OverrideRecord.objects.count() == 1 and CaseRecord.objects.count() == 2 and AccessEvent.objects.count() >= 1


def test_triggers_exist_after_migrations():
    tables = ("audit_decisionrecord", "audit_overriderecord", "audit_accessevent", "audit_caserecord")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'")
            expected = {f"{t}_no_{op}" for t in tables for op in ("update", "delete")}
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            expected = {f"{t}_{kind}" for t in tables for kind in ("no_change", "no_truncate")}
        names = {row[0] for row in cursor.fetchall()}
    assert expected <= names


# --- Admin: read-only -----------------------------------------------------------


@pytest.fixture
def admin_client(record):
    admin = UserFactory(role=roles.ADMIN, is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", ["decisionrecord", "overriderecord", "caserecord", "accessevent"])
def test_admin_cannot_add_change_or_delete(admin_client, record, model):
    if model == "decisionrecord":
        pk = record.pk
    elif model == "accessevent":
        pk = AccessEvent.objects.create(created_at=record.created_at, action="x").pk
    elif model == "caserecord":
        application = LoanApplication.objects.get(pk=record.application_id)
        decide_by_review(application, "REFER")
        pk = CaseRecord.objects.get(application=application).pk
    else:
        application = LoanApplication.objects.get(pk=record.application_id)
        new = "APPROVE" if application.final_decision != "APPROVE" else "DECLINE"
        pk = legacy_override(
            application, reviewer=UserFactory(role=roles.REVIEWER), to_decision=new, reason="Seen the payslips."
        ).pk
    base = f"/admin/audit/{model}/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}{pk}/change/").status_code == 200  # read-only view
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}add/", {}).status_code == 403
    assert admin_client.post(f"{base}{pk}/change/", {"decision": "APPROVE", "reason": "x"}).status_code == 403
    assert admin_client.get(f"{base}{pk}/delete/").status_code == 403
    assert admin_client.post(f"{base}{pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(base, {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    assert response.status_code in (200, 302)
    model_class = {
        "decisionrecord": DecisionRecord,
        "overriderecord": OverrideRecord,
        "caserecord": CaseRecord,
        "accessevent": AccessEvent,
    }[model]
    assert model_class.objects.filter(pk=pk).exists()
    page = admin_client.get(f"{base}{pk}/change/").content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page


def test_admin_changelist_offers_no_delete_action(admin_client):
    page = admin_client.get("/admin/audit/decisionrecord/").content.decode()
    assert "delete_selected" not in page


@pytest.mark.django_db(transaction=True)
def test_test_flush_still_works_and_restores_the_triggers():
    """Transactional tests flush the database; the audit flush lifts and restores the triggers."""
    scored_application()
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert DecisionRecord.objects.count() == 0
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name=roles.OFFICER)
    scored_application()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_decisionrecord")
    assert DecisionRecord.objects.get().sequence == 1
