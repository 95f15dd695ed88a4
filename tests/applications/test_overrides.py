"""Reviewer overrides: four eyes, a written reason, chained records, shown on the application page."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from accounts import roles
from applications.models import LoanApplication
from applications.services import OVERRIDE_REASON_MAX_LENGTH as REASON_MAX_LENGTH
from applications.services import override_decision
from audit.models import AccessEvent, ChainHead, DecisionRecord, OverrideRecord
from tests.support.audit import run_verify, scored_application
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    return scored_application(UserFactory(role=roles.OFFICER), applicant_reference="OV-1")


def other_decision(application: LoanApplication) -> str:
    return "APPROVE" if application.final_decision != "APPROVE" else "DECLINE"


def test_reviewer_overrides_with_a_reason(application):
    reviewer = UserFactory(role=roles.REVIEWER)
    model_decision = application.decision
    target = other_decision(application)
    record = override_decision(
        application=application,
        reviewer=reviewer,
        final_decision=target,
        reason="  Salary slips show a second income.  ",
    )
    application.refresh_from_db()
    assert application.final_decision == target and application.decision == model_decision
    assert application.is_overridden
    assert (record.reviewer, record.from_decision, record.to_decision) == (reviewer, model_decision, target)
    assert record.reason == "Salary slips show a second income."
    assert record.decision_record == DecisionRecord.objects.get(application=application)
    assert record.sequence == 1 and ChainHead.objects.get(name="overrides").record_hash == record.record_hash
    # A second override chains onto the first, from the decision then in force.
    second = override_decision(
        application=application,
        reviewer=UserFactory(role=roles.REVIEWER),
        final_decision=model_decision,
        reason="Second opinion: back to the model.",
    )
    assert second.previous_hash == record.record_hash and second.from_decision == target
    assert run_verify()[0] == 0


def test_reviewer_cannot_override_their_own_application():
    reviewer = UserFactory(role=roles.REVIEWER)
    own = scored_application(reviewer)
    with pytest.raises(PermissionDenied, match="Four eyes"):
        override_decision(application=own, reviewer=reviewer, final_decision=other_decision(own), reason="Mine.")
    own.refresh_from_db()
    assert not own.is_overridden and OverrideRecord.objects.count() == 0


@pytest.mark.parametrize("role", [roles.OFFICER, roles.AUDITOR, None])
def test_only_reviewers_may_override(application, role):
    user = UserFactory(role=role)
    with pytest.raises(PermissionDenied):
        override_decision(
            application=application,
            reviewer=user,
            final_decision=other_decision(application),
            reason="I would like to.",
        )
    assert OverrideRecord.objects.count() == 0


def test_the_entering_officer_cannot_override(application):
    with pytest.raises(PermissionDenied):
        override_decision(
            application=application,
            reviewer=application.officer,
            final_decision=other_decision(application),
            reason="Please.",
        )


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", "bad\x00reason", "x" * (REASON_MAX_LENGTH + 1), None])
def test_reason_is_mandatory_and_sane(application, reason):
    with pytest.raises(ValidationError):
        override_decision(
            application=application,
            reviewer=UserFactory(role=roles.REVIEWER),
            final_decision=other_decision(application),
            reason=reason,
        )
    assert OverrideRecord.objects.count() == 0


@pytest.mark.parametrize("decision", ["same", "MAYBE", "", "approve"])
def test_final_decision_must_be_valid_and_different(application, decision):
    decision = application.final_decision if decision == "same" else decision
    with pytest.raises(ValidationError):
        override_decision(
            application=application,
            reviewer=UserFactory(role=roles.REVIEWER),
            final_decision=decision,
            reason="Because.",
        )
    application.refresh_from_db()
    assert not application.is_overridden


# --- Web ---------------------------------------------------------------------------


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_override_page_flow(application):
    reviewer = UserFactory(role=roles.REVIEWER)
    client = login(reviewer)
    url = f"/applications/{application.pk}/override/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="reason"' in page.content
    target = other_decision(application)
    response = client.post(url, {"final_decision": target, "reason": ""})
    assert response.status_code == 400 and b"errorlist" in response.content
    response = client.post(url, {"final_decision": target, "reason": "Guarantor signed."})
    assert response.status_code == 303 and response["Location"] == f"/applications/{application.pk}/"
    application.refresh_from_db()
    assert application.final_decision == target
    detail = client.get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="overrides"' in detail and "Guarantor signed." in detail
    assert detail.count('data-testid="override-row"') == 1
    record = DecisionRecord.objects.get(application=application)
    assert 'data-testid="decision-record"' in detail and record.record_hash in detail


def test_override_needs_a_csrf_token(application):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role=roles.REVIEWER))
    response = client.post(
        f"/applications/{application.pk}/override/",
        {"final_decision": other_decision(application), "reason": "No token."},
    )
    assert response.status_code == 403
    assert OverrideRecord.objects.count() == 0
    assert AccessEvent.objects.filter(action="permission_denied").exists()


@pytest.mark.parametrize("who", ["owner", "other_officer", "auditor", "own_reviewer"])
def test_override_page_refuses_everyone_else(application, who):
    # An officer who may not even read the application gets the 404 a missing id gets.
    refused = 404 if who == "other_officer" else 403
    if who == "owner":
        user = application.officer
    elif who == "other_officer":
        user = UserFactory(role=roles.OFFICER)
    elif who == "auditor":
        user = UserFactory(role=roles.AUDITOR)
    else:
        user = UserFactory(role=roles.REVIEWER)
        application = scored_application(user)
    client = login(user)
    url = f"/applications/{application.pk}/override/"
    assert client.get(url).status_code == refused
    assert client.post(url, {"final_decision": other_decision(application), "reason": "x"}).status_code == refused
    application.refresh_from_db()
    assert not application.is_overridden
    assert AccessEvent.objects.filter(
        action="permission_denied", target=f"override:application:{application.pk}"
    ).exists()


def test_anonymous_override_goes_to_login(application):
    response = Client().post(f"/applications/{application.pk}/override/", {"final_decision": "APPROVE", "reason": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_application_is_404():
    assert login(UserFactory(role=roles.REVIEWER)).get("/applications/999999/override/").status_code == 404


def test_application_page_shows_the_form_only_to_a_reviewer_who_may_override(application):
    reviewer_page = login(UserFactory(role=roles.REVIEWER)).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="override-form"' in reviewer_page
    officer_page = login(application.officer).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="overrides"' in officer_page and 'data-testid="override-form"' not in officer_page
    auditor_page = login(UserFactory(role=roles.AUDITOR)).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="override-form"' not in auditor_page
