"""Champion and challenger: four eyes, shadow scores on every path, never touching a decision, failure isolation."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts import roles
from applications.forms import clean_application_data
from applications.models import LoanApplication
from applications.services import (
    new_idempotency_key,
    prepare_applications,
    score_pending_applications,
    store_prepared_applications,
    submit_application,
)
from audit.models import DecisionRecord, GovernanceRecord
from audit.verification import verify_audit_trail
from governance import selectors, services, shadow
from governance.models import ChallengerScore, ChallengerState, ChangeProposal
from scoring.model_cache import forget_loaded_models
from scoring.services import score_application
from tests.support.factories import (
    UserFactory,
    application_form_data,
    scored_application,
    scoring_inputs,
    submit_form,
)
from tests.support.scoring import CANDIDATE_VERSION, private_store  # noqa: F401

pytestmark = pytest.mark.django_db

SERVING = "hgb-3409bea3c4cf"


@pytest.fixture
def admins():
    return UserFactory(role=roles.ADMIN), UserFactory(role=roles.ADMIN)


@pytest.fixture(autouse=True)
def _fresh_failures():
    shadow.forget_failures()
    yield
    shadow.forget_failures()


def set_challenger(admins, version: str = CANDIDATE_VERSION) -> GovernanceRecord:
    proposer, approver = admins
    proposal = services.propose_challenger(proposer=proposer, model_version=version, note="trial")
    return services.approve_proposal(proposal_id=proposal.pk, approver=approver)


def test_a_challenger_is_set_and_removed_under_four_eyes_and_both_changes_are_chained(admins):
    proposer, approver = admins
    for role in (roles.OFFICER, roles.REVIEWER, roles.AUDITOR):
        with pytest.raises(PermissionDenied):
            services.propose_challenger(proposer=UserFactory(role=role), model_version=CANDIDATE_VERSION)
    with pytest.raises(ValidationError, match="active version"):
        services.propose_challenger(proposer=proposer, model_version=SERVING)
    with pytest.raises(ValidationError, match="cannot be the challenger"):
        services.propose_challenger(proposer=proposer, model_version="hgb-000000000000")
    with pytest.raises(ValidationError, match="no challenger"):
        services.propose_challenger_removal(proposer=proposer)
    proposal = services.propose_challenger(proposer=proposer, model_version=CANDIDATE_VERSION)
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=proposal.pk, approver=proposer)
    assert selectors.challenger_version() is None
    record = services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    assert selectors.challenger_version() == CANDIDATE_VERSION
    assert (record.action, record.model_version) == (GovernanceRecord.SET_CHALLENGER, CANDIDATE_VERSION)
    assert json.loads(record.payload)["previous"] == {"challenger": None}
    # Setting a challenger changes nothing about what decides.
    assert selectors.current_serving().model_version == SERVING and selectors.scoring_arguments() == {}
    with pytest.raises(ValidationError, match="challenger already"):
        services.propose_challenger(proposer=proposer, model_version=CANDIDATE_VERSION)

    removal = services.propose_challenger_removal(proposer=approver, note="done")
    assert removal.kind == ChangeProposal.Kind.REMOVE_CHALLENGER and removal.model_version == CANDIDATE_VERSION
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=removal.pk, approver=approver)
    ended = services.approve_proposal(proposal_id=removal.pk, approver=proposer)
    assert ended.action == GovernanceRecord.REMOVE_CHALLENGER
    assert selectors.challenger_version() is None
    assert ChallengerState.objects.get().revision == 2
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    assert summary.governance.checked == 2


def test_a_rejected_or_withdrawn_challenger_proposal_changes_nothing(admins):
    proposer, approver = admins
    first = services.propose_challenger(proposer=proposer, model_version=CANDIDATE_VERSION)
    services.reject_proposal(proposal_id=first.pk, decider=approver)
    second = services.propose_challenger(proposer=proposer, model_version=CANDIDATE_VERSION)
    services.withdraw_proposal(proposal_id=second.pk, proposer=proposer)
    assert selectors.challenger_version() is None
    assert not GovernanceRecord.objects.filter(action=GovernanceRecord.SET_CHALLENGER).exists()
    scored_application()
    assert not ChallengerScore.objects.exists()


def test_the_shadow_score_is_the_challengers_own_answer_beside_the_champions_decision(admins):
    set_challenger(admins)
    data = application_form_data(loan_amnt="14000", loan_grade="C", loan_int_rate="14")
    application = submit_form(officer=UserFactory(role=roles.OFFICER), data=data)
    row = ChallengerScore.objects.get()
    expected = score_application(scoring_inputs(data), model_version=CANDIDATE_VERSION)
    champion = score_application(scoring_inputs(data))
    assert row.application_id == application.pk
    assert row.status == ChallengerScore.Status.SCORED
    assert (row.model_version, row.model_sha256) == (CANDIDATE_VERSION, expected.model_sha256)
    assert row.probability_of_default == expected.probability_of_default
    assert row.decision == expected.decision
    assert row.policy_version == f"manifest:{CANDIDATE_VERSION}"
    assert (row.champion_version, row.champion_decision) == (SERVING, champion.decision)
    assert row.champion_probability == application.probability_of_default == champion.probability_of_default
    # The application is the champion's, whatever the challenger said.
    assert application.model_version == SERVING
    assert application.decision_records.get().model_version == SERVING


def _submit_frozen(officer, data, key, moment, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: moment)
    # The row's creation time comes from the field's default (bound to timezone.now at import): Django
    # caches it in Field._get_default (private; UPGRADING.md), so that is where the clock is stopped.
    monkeypatch.setattr(LoanApplication._meta.get_field("created_at"), "_get_default", lambda: moment)
    try:
        application = submit_form(officer=officer, data=data, idempotency_key=key)
    finally:
        monkeypatch.undo()
    record = DecisionRecord.objects.get(application_id=application.pk)
    stored = LoanApplication.objects.filter(pk=application.pk).values().get()
    return application.pk, stored, (record.payload, record.record_hash, record.previous_hash)


def _restart_sequences(table_ids):
    """PostgreSQL keeps a rolled-back id taken; give the next insert the same one (SQLite rolls back its counter)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, next_id in table_ids:
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, next_id])


@pytest.mark.parametrize("fields", [{}, {"loan_amnt": "14000", "loan_grade": "C", "loan_int_rate": "14"}])
def test_the_challenger_never_changes_the_decision_its_record_or_the_chain(admins, monkeypatch, fields):
    officer = UserFactory(role=roles.OFFICER)
    scored_application()  # a chain with a head already
    data = application_form_data(**fields)
    key = new_idempotency_key()
    moment = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            pk, without, record_without = _submit_frozen(officer, data, key, moment, monkeypatch)
            record_pk = DecisionRecord.objects.get(application_id=pk).pk
            raise Rollback
    except Rollback:
        pass
    _restart_sequences([(LoanApplication._meta.db_table, pk), (DecisionRecord._meta.db_table, record_pk)])
    set_challenger(admins)
    pk_with, with_challenger, record_with = _submit_frozen(officer, data, key, moment, monkeypatch)
    assert ChallengerScore.objects.filter(application_id=pk_with, status=ChallengerScore.Status.SCORED).count() == 1
    assert pk_with == pk
    assert with_challenger == without
    assert record_with == record_without
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()


def test_a_broken_challenger_never_fails_a_submission_and_is_counted(admins, private_store, caplog):  # noqa: F811
    set_challenger(admins)
    artifact = next((private_store / CANDIDATE_VERSION).glob("*.joblib"))
    artifact.write_bytes(b"tampered")
    forget_loaded_models()
    officer = UserFactory(role=roles.OFFICER)
    first = scored_application(officer)
    second = scored_application(officer, loan_amnt="14000", loan_grade="C", loan_int_rate="14")
    for application in (first, second):
        assert application.model_version == SERVING
        assert application.decision_records.get().model_version == SERVING
    rows = list(ChallengerScore.objects.order_by("id"))
    assert [row.status for row in rows] == [ChallengerScore.Status.FAILED] * 2
    assert all(row.probability_of_default is None and row.decision == "" for row in rows)
    assert all(CANDIDATE_VERSION in row.error or "SHA-256" in row.error for row in rows), rows[0].error
    assert "could not score" in caplog.text
    # A broken challenger can still be removed (no model load needed).
    proposer, approver = admins
    removal = services.propose_challenger_removal(proposer=proposer)
    services.approve_proposal(proposal_id=removal.pk, approver=approver)
    assert selectors.challenger_version() is None


def test_a_database_error_storing_the_shadow_score_leaves_the_application_stored(admins, monkeypatch, caplog):
    set_challenger(admins)

    def refuse(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(shadow, "insert_row", refuse)
    application = scored_application()
    assert LoanApplication.objects.filter(pk=application.pk, status=LoanApplication.Status.SCORED).exists()
    assert application.decision_records.count() == 1
    assert not ChallengerScore.objects.exists()
    assert "not stored" in caplog.text


def test_batch_chunks_and_the_pending_scorer_are_shadow_scored_too(admins, private_store, settings):  # noqa: F811
    set_challenger(admins)
    officer = UserFactory(role=roles.OFFICER)
    rows = []
    for amount in ("5000", "14000", "20000"):
        data = application_form_data(loan_amnt=amount)
        cleaned, errors = clean_application_data(data)
        assert not errors
        rows.append((new_idempotency_key(), cleaned))
    prepared = prepare_applications(officer=officer, rows=rows)
    with transaction.atomic():
        stored = store_prepared_applications(prepared=prepared)
    shadows = {row.application_id: row for row in ChallengerScore.objects.all()}
    assert set(shadows) == {application.pk for application in stored}
    for application, (_, cleaned) in zip(stored, rows, strict=True):
        expected = score_application(
            {name: cleaned[name] for name in scoring_inputs()}, model_version=CANDIDATE_VERSION
        )
        assert shadows[application.pk].probability_of_default == expected.probability_of_default
        assert shadows[application.pk].champion_decision == application.decision

    # A PENDING application (the champion was unavailable) gets its shadow score when it is scored.
    serving_artifact = next((private_store / SERVING).glob("*.joblib"))
    kept = serving_artifact.read_bytes()
    serving_artifact.write_bytes(b"gone")
    forget_loaded_models()
    pending = submit_form(officer=officer, data=application_form_data(loan_amnt="7000"))
    assert pending.status == LoanApplication.Status.PENDING
    assert not ChallengerScore.objects.filter(application_id=pending.pk).exists()
    serving_artifact.write_bytes(kept)
    forget_loaded_models()
    assert score_pending_applications().scored == 1
    row = ChallengerScore.objects.get(application_id=pending.pk)
    pending.refresh_from_db()
    assert (row.status, row.champion_decision) == (ChallengerScore.Status.SCORED, pending.decision)


# A chunk with each kind of answer: approvals, declines, an input outside the training ranges (REVIEW),
# several grades, intents, home ownerships and a default on file.
CHUNK_ROWS = [
    {},
    {"loan_amnt": "14000", "loan_grade": "C", "loan_int_rate": "14"},
    {"loan_amnt": "30000", "loan_grade": "E", "loan_int_rate": "19.5", "person_income": "24000"},
    {"loan_amnt": "14000", "loan_grade": "D", "loan_int_rate": "15.5", "person_income": "36000"},
    {"person_income": "1900000", "loan_amnt": "2000", "loan_grade": "A", "loan_int_rate": "6"},
    {"cb_person_default_on_file": "Y", "loan_grade": "D", "loan_int_rate": "16", "person_home_ownership": "OWN"},
    {"person_age": "58", "person_emp_length": "30", "cb_person_cred_hist_length": "25", "loan_intent": "MEDICAL"},
    {"loan_amnt": "800", "person_income": "90000", "person_home_ownership": "MORTGAGE", "loan_grade": "A"},
]

SHADOW_FIELDS = (
    "model_version",
    "model_sha256",
    "policy_version",
    "status",
    "probability_of_default",
    "decision",
    "error",
    "champion_version",
    "champion_policy_version",
    "champion_probability",
    "champion_decision",
)


def _chunk(overrides=CHUNK_ROWS):
    rows = []
    for fields in overrides:
        cleaned, errors = clean_application_data(application_form_data(**fields))
        assert not errors, errors
        rows.append((new_idempotency_key(), cleaned))
    return rows


def _store_chunk(officer, rows):
    prepared = prepare_applications(officer=officer, rows=rows)
    with transaction.atomic():
        return store_prepared_applications(prepared=prepared)


def _shadow_rows(applications):
    by_application = {
        row["application_id"]: row for row in ChallengerScore.objects.values("application_id", *SHADOW_FIELDS)
    }
    rows = []
    for application in applications:
        row = dict(by_application[application.pk])
        del row["application_id"]
        # Bits, not values: a rounding difference must fail.
        for name in ("probability_of_default", "champion_probability"):
            row[name] = None if row[name] is None else row[name].hex()
        rows.append(row)
    return rows


def test_a_chunk_stores_the_same_shadow_rows_as_submitting_its_rows_one_by_one(admins):
    set_challenger(admins)
    rows = _chunk()
    batch = _store_chunk(UserFactory(role=roles.OFFICER), rows)
    one_by_one_officer = UserFactory(role=roles.OFFICER)
    one_by_one = [submit_application(officer=one_by_one_officer, cleaned_data=cleaned) for _, cleaned in rows]
    assert ChallengerScore.objects.count() == 2 * len(CHUNK_ROWS)
    batch_rows, single_rows = _shadow_rows(batch), _shadow_rows(one_by_one)
    assert batch_rows == single_rows
    assert {row["status"] for row in batch_rows} == {ChallengerScore.Status.SCORED}
    # The chunk covers what it means to: every decision, from the challenger and from the champion.
    assert {row["decision"] for row in batch_rows} == {"APPROVE", "REVIEW", "DECLINE"}
    assert {row["champion_decision"] for row in batch_rows} == {"APPROVE", "REVIEW", "DECLINE"}
    for row, (_, cleaned) in zip(batch_rows, rows, strict=True):
        expected = score_application(
            {name: cleaned[name] for name in scoring_inputs()}, model_version=CANDIDATE_VERSION
        )
        assert (row["probability_of_default"], row["decision"]) == (
            expected.probability_of_default.hex(),
            expected.decision,
        )
    # Each challenger row sits beside its own application's champion answer.
    for application, row in zip(batch, batch_rows, strict=True):
        assert (row["champion_probability"], row["champion_decision"]) == (
            application.probability_of_default.hex(),
            application.decision,
        )


def test_a_chunk_is_decided_and_recorded_exactly_as_without_a_challenger(admins, monkeypatch):
    officer = UserFactory(role=roles.OFFICER)
    rows = _chunk()
    moment = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)

    def prepared_chunk():
        # psycopg's JSON wrapper compares by identity: compare what it wraps.
        return [
            ([getattr(value, "obj", value) for value in item.insert.values], item.decision)
            for item in prepare_applications(officer=officer, rows=rows)
        ]

    without = prepared_chunk()
    set_challenger(admins)
    with_challenger = prepared_chunk()
    # The application rows as they will be inserted and their decision records' content (the hash covers it).
    assert with_challenger == without
    assert all(decision is not None for _, decision in without)


def test_a_broken_challenger_costs_a_chunk_one_check_and_stores_the_same_failed_rows(
    admins,
    private_store,  # noqa: F811
    monkeypatch,
    caplog,
):
    set_challenger(admins)
    artifact = next((private_store / CANDIDATE_VERSION).glob("*.joblib"))
    artifact.write_bytes(b"tampered")
    forget_loaded_models()
    attempts = []
    table_scoring = shadow.score_applications

    def counted(frame, **arguments):
        attempts.append(arguments)
        return table_scoring(frame, **arguments)

    monkeypatch.setattr(shadow, "score_applications", counted)
    officer = UserFactory(role=roles.OFFICER)
    first = _store_chunk(officer, _chunk())
    second = _store_chunk(officer, _chunk(CHUNK_ROWS[:3]))
    # One try for the first chunk; the second is within RETRY_AFTER_SECONDS and tries nothing.
    assert attempts == [{"model_version": CANDIDATE_VERSION}]
    assert caplog.text.count("could not score") == 1
    assert f"could not score {len(CHUNK_ROWS)} applications of a batch chunk" in caplog.text
    failed = _shadow_rows(first + second)
    assert {row["status"] for row in failed} == {ChallengerScore.Status.FAILED}
    assert all(row["probability_of_default"] is None and row["decision"] == "" for row in failed)
    # The applications are the champion's, decided and recorded as ever.
    for application in first + second:
        assert application.model_version == SERVING
        assert application.decision_records.get().model_version == SERVING
    # The same rows, reason included, as a submission gets from the same broken artifact.
    shadow.forget_failures()
    single = submit_form(officer=UserFactory(role=roles.OFFICER), data=application_form_data())
    assert _shadow_rows([single]) == failed[:1]
    assert CANDIDATE_VERSION in failed[0]["error"] or "SHA-256" in failed[0]["error"], failed[0]["error"]


def test_a_database_error_storing_a_chunks_shadow_scores_leaves_the_chunk_stored(admins, monkeypatch, caplog):
    set_challenger(admins)

    def refuse(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(shadow, "insert_values", refuse)
    stored = _store_chunk(UserFactory(role=roles.OFFICER), _chunk(CHUNK_ROWS[:3]))
    assert LoanApplication.objects.filter(pk__in=[application.pk for application in stored]).count() == 3
    assert DecisionRecord.objects.filter(application_id__in=[application.pk for application in stored]).count() == 3
    assert not ChallengerScore.objects.exists()
    assert "Challenger scores of 3 applications not stored" in caplog.text


def test_the_api_and_form_paths_are_shadow_scored(admins, client_for):
    from rest_framework.test import APIClient

    from api.services import create_api_token

    set_challenger(admins)
    officer = UserFactory(role=roles.OFFICER)
    _, token = create_api_token(user=officer, name="challenger test", days=30, created_by=admins[0])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.post("/api/v1/applications/", application_form_data(loan_amnt=12000), format="json")
    assert response.status_code == 201, response.content
    assert ChallengerScore.objects.get(application_id=response.json()["id"]).model_version == CANDIDATE_VERSION

    page = client_for(roles.OFFICER)
    response = page.post(
        "/applications/new/", {**application_form_data(loan_amnt="9000"), "idempotency_key": new_idempotency_key()}
    )
    assert response.status_code in (302, 303), response.content[:500]
    stored = LoanApplication.objects.filter(officer=page.user).get()
    assert ChallengerScore.objects.get(application_id=stored.pk).champion_decision == stored.decision


def test_the_registry_proposes_approves_and_shows_the_challenger(client_for):
    proposer, approver = client_for(roles.ADMIN), client_for(roles.ADMIN)
    page = proposer.get("/governance/models/").content.decode()
    assert f'data-testid="propose-challenger-{CANDIDATE_VERSION}"' in page
    assert f'data-testid="propose-challenger-{SERVING}"' not in page  # the active version cannot be its own challenger
    response = proposer.post(
        "/governance/models/challenger/", {"model_version": CANDIDATE_VERSION, "note": "shadow it"}, follow=True
    )
    assert "Another admin must approve it before it scores." in response.content.decode()
    proposal = ChangeProposal.objects.get(kind=ChangeProposal.Kind.SET_CHALLENGER)
    response = approver.post(f"/governance/proposals/{proposal.pk}/approve/", follow=True)
    page = response.content.decode()
    assert f"Approved: {CANDIDATE_VERSION} is the challenger" in page
    assert 'data-testid="challenger-badge"' in page and 'data-testid="propose-remove-challenger"' in page
    assert "challenger set" in page  # the change history
    assert client_for(roles.REVIEWER).post("/governance/models/challenger/remove/").status_code == 403
    proposer.post("/governance/models/challenger/remove/", {"note": "enough"})
    removal = ChangeProposal.objects.get(kind=ChangeProposal.Kind.REMOVE_CHALLENGER)
    approver.post(f"/governance/proposals/{removal.pk}/approve/")
    assert selectors.challenger_version() is None


def test_propose_model_command_creates_proposals_another_admin_approves(admins):
    from django.core.management import CommandError, call_command

    proposer, approver = admins
    out = io.StringIO()
    call_command("propose_model", "--model", CANDIDATE_VERSION, "--user", proposer.username, "--challenger", stdout=out)
    proposal = ChangeProposal.objects.get()
    assert (proposal.kind, proposal.proposed_by_id) == (ChangeProposal.Kind.SET_CHALLENGER, proposer.pk)
    assert f"proposal #{proposal.pk}" in out.getvalue() and "/governance/models/" in out.getvalue()
    assert selectors.challenger_version() is None  # until approved
    services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    call_command("propose_model", "--model", CANDIDATE_VERSION, "--user", approver.username, stdout=out)
    assert ChangeProposal.objects.filter(kind=ChangeProposal.Kind.ACTIVATE_MODEL, proposed_by=approver).exists()
    with pytest.raises(CommandError, match="Only admins"):
        call_command("propose_model", "--model", CANDIDATE_VERSION, "--user", UserFactory(role=roles.OFFICER).username)
    with pytest.raises(CommandError, match="cannot serve"):
        call_command("propose_model", "--model", "hgb-000000000000", "--user", proposer.username)
