"""Model registry: four-eyes activation and rollback, the chain record, the switch without restart, the page."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import roles
from audit.models import AccessEvent, GovernanceRecord
from audit.verification import verify_audit_trail
from governance import selectors, services
from governance.models import ChangeProposal, ServingState
from tests.support.factories import UserFactory, scored_application
from tests.support.scoring import CANDIDATE_VERSION

pytestmark = pytest.mark.django_db

SERVING = "hgb-3409bea3c4cf"


@pytest.fixture
def admins():
    return UserFactory(role=roles.ADMIN), UserFactory(role=roles.ADMIN)


def test_the_shipped_default_serves_the_active_file_version_with_its_manifest_cutoffs():
    serving = selectors.current_serving()
    assert (serving.model_version, serving.source) == (SERVING, selectors.ACTIVE_FILE)
    assert selectors.scoring_arguments() == {}
    application = scored_application()
    record = application.decision_records.get()
    assert record.model_version == SERVING
    assert record.document["policy_version"] == f"manifest:{SERVING}"
    assert not ServingState.objects.exists()


def test_a_non_admin_cannot_propose_and_the_proposer_cannot_approve(admins):
    proposer, approver = admins
    for role in (roles.OFFICER, roles.REVIEWER, roles.AUDITOR):
        with pytest.raises(PermissionDenied):
            services.propose_model_activation(proposer=UserFactory(role=role), model_version=CANDIDATE_VERSION)
    proposal = services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION, note="trial")
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=proposal.pk, approver=proposer)
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=proposal.pk, approver=UserFactory(role=roles.REVIEWER))
    assert selectors.current_serving().model_version == SERVING
    assert not GovernanceRecord.objects.exists()
    proposal.refresh_from_db()
    assert proposal.status == ChangeProposal.Status.PENDING


def test_an_approved_activation_switches_the_next_decision_without_restart_and_is_chained(admins):
    proposer, approver = admins
    before = scored_application()
    assert before.model_version == SERVING
    proposal = services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION)
    record = services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    # No forget_loaded_models(), no settings change: the next scoring reads the new state.
    after = scored_application()
    assert after.model_version == CANDIDATE_VERSION
    assert after.decision_records.get().document["policy_version"] == f"manifest:{CANDIDATE_VERSION}"
    document = json.loads(record.payload)
    assert document["proposed_by_id"] == proposer.pk and document["approved_by_id"] == approver.pk
    assert document["previous"] == {"model_version": SERVING, "policy_version": f"manifest:{SERVING}"}
    assert (record.action, record.model_version) == (GovernanceRecord.ACTIVATE_MODEL, CANDIDATE_VERSION)
    # Rollback: the same four-eyes path, proposed by the other admin this time.
    back = services.propose_model_activation(proposer=approver, model_version=SERVING, note="roll back")
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=back.pk, approver=approver)
    services.approve_proposal(proposal_id=back.pk, approver=proposer)
    assert scored_application().model_version == SERVING
    assert ServingState.objects.get().revision == 2
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    assert summary.governance.checked == 2 and summary.replayed == 3


def test_the_per_process_cache_notices_a_change_made_by_another_process(admins):
    """The cached serving state is refreshed from the row, however it was written (here: plain SQL, as another server would)."""
    proposer, approver = admins
    services.approve_proposal(
        proposal_id=services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION).pk,
        approver=approver,
    )
    assert selectors.governed_serving().model_version == CANDIDATE_VERSION
    ServingState.objects.filter(pk=1).update(model_version=SERVING, revision=99)
    assert selectors.governed_serving().model_version == SERVING
    assert selectors.scoring_arguments()["model_version"] == SERVING


def test_a_tampered_governance_record_fails_verification(admins):
    from django.db import connection

    from audit import db_triggers

    proposer, approver = admins
    services.approve_proposal(
        proposal_id=services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION).pk,
        approver=approver,
    )
    db_triggers.drop(connection, ("audit_governancerecord",))
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_governancerecord SET approved_by_id = %s", [proposer.pk])
    finally:
        db_triggers.install(connection, ("audit_governancerecord",))
    summary = verify_audit_trail()
    assert not summary.ok and not summary.governance.ok
    assert "column people differs" in summary.problems()[0]


def test_activating_the_serving_version_or_a_missing_one_is_refused(admins):
    proposer, _ = admins
    with pytest.raises(ValidationError, match="already the active version"):
        services.propose_model_activation(proposer=proposer, model_version=SERVING)
    with pytest.raises(ValidationError, match="cannot serve"):
        services.propose_model_activation(proposer=proposer, model_version="hgb-000000000000")


def test_reject_and_withdraw_change_nothing(admins):
    proposer, other = admins
    first = services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION)
    with pytest.raises(PermissionDenied):
        services.reject_proposal(proposal_id=first.pk, decider=proposer)
    services.reject_proposal(proposal_id=first.pk, decider=other)
    with pytest.raises(ValidationError, match="no longer pending"):
        services.approve_proposal(proposal_id=first.pk, approver=other)
    second = services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION)
    with pytest.raises(PermissionDenied):
        services.withdraw_proposal(proposal_id=second.pk, proposer=other)
    services.withdraw_proposal(proposal_id=second.pk, proposer=proposer)
    assert selectors.current_serving().model_version == SERVING and not ServingState.objects.exists()
    # Both ends are chained like approvals: who closed which proposal, verified.
    rejected, withdrawn = GovernanceRecord.objects.order_by("sequence")
    assert (rejected.action, rejected.proposed_by_id, rejected.approved_by_id) == (
        GovernanceRecord.REJECT,
        proposer.pk,
        other.pk,
    )
    assert (withdrawn.action, withdrawn.proposed_by_id, withdrawn.approved_by_id) == (
        GovernanceRecord.WITHDRAW,
        proposer.pk,
        proposer.pk,
    )
    assert json.loads(rejected.payload)["proposal_id"] == first.pk
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.record_id, second.record_id) == (rejected.pk, withdrawn.pk)
    summary = verify_audit_trail()
    assert summary.ok, summary.problems()
    assert summary.governance.checked == 2


def test_a_withdrawal_rewritten_to_name_another_admin_fails_verification(admins):
    from django.db import connection

    from audit import db_triggers

    proposer, other = admins
    proposal = services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION)
    services.withdraw_proposal(proposal_id=proposal.pk, proposer=proposer)
    db_triggers.drop(connection, ("audit_governancerecord",))
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_governancerecord SET approved_by_id = %s", [other.pk])
    finally:
        db_triggers.install(connection, ("audit_governancerecord",))
    summary = verify_audit_trail()
    assert not summary.ok and "column people differs" in summary.problems()[0]


def test_registry_page_lists_every_version_with_manifest_and_usage(client_for):
    scored_application()
    page = client_for(roles.AUDITOR).get("/governance/models/").content.decode()
    assert f'data-testid="model-{SERVING}"' in page and f'data-testid="model-{CANDIDATE_VERSION}"' in page
    assert f'data-testid="usage-{SERVING}">1<' in page
    assert f'data-testid="usage-{CANDIDATE_VERSION}">0<' in page
    assert "RC-2026-12-1" in page and "858041244df326d4" in page and "never falls" in page
    assert "propose-" not in page  # auditors change nothing


def test_registry_page_four_eyes_through_the_browser_forms(client_for):
    first, second = client_for(roles.ADMIN), client_for(roles.ADMIN)
    response = first.post("/governance/models/propose/", {"model_version": CANDIDATE_VERSION, "note": "try"})
    assert response.status_code == 302
    proposal = ChangeProposal.objects.get()
    page = first.get("/governance/models/").content.decode()
    assert f'data-testid="approve-{proposal.pk}"' not in page and "Withdraw" in page
    first.post(f"/governance/proposals/{proposal.pk}/approve/")
    assert selectors.current_serving().source == selectors.ACTIVE_FILE
    assert AccessEvent.objects.filter(action=AccessEvent.PERMISSION_DENIED, user=first.user).exists()
    assert f'data-testid="approve-{proposal.pk}"' in second.get("/governance/models/").content.decode()
    second.post(f"/governance/proposals/{proposal.pk}/approve/")
    assert selectors.current_serving().model_version == CANDIDATE_VERSION


@pytest.mark.parametrize("role", [roles.OFFICER, None])
def test_officers_cannot_open_the_registry(client_for, role):
    assert client_for(role).get("/governance/models/").status_code == 403
    assert (
        client_for(roles.REVIEWER).post("/governance/models/propose/", {"model_version": CANDIDATE_VERSION}).status_code
        == 403
    )
