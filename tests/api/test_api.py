"""The REST API: the form's validation and service, idempotency, roles, tokens, throttling, problem details."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import roles
from api.models import ApiToken
from api.services import revoke_api_token
from api.throttling import PerTokenRateThrottle
from applications.models import LoanApplication
from audit.models import AccessEvent, DecisionRecord
from scoring.services import score_application
from tests.support.factories import application_form_data, review_case, scored_application, scoring_inputs

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def _json_body(**overrides):
    # JSON numbers and strings are both accepted, as typed in the form.
    return application_form_data(**{"person_age": 31, "loan_amnt": 12000, **overrides})


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"] and body["detail"]
    return body


def test_submit_scores_and_stores_exactly_as_the_form(api_for):
    client = api_for(roles.OFFICER)
    response = client.post(URL, _json_body(applicant_reference="API-1"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    application = LoanApplication.objects.get()
    expected = score_application(scoring_inputs())
    assert body["id"] == application.pk and response["Location"] == f"/api/v1/applications/{application.pk}/"
    assert body["probability_of_default"] == expected.probability_of_default == application.probability_of_default
    assert body["decision"] == expected.decision and body["model_version"] == expected.model_version
    assert body["reasons"] == [reason.as_dict() for reason in expected.reasons]
    assert body["decision_record_id"] == DecisionRecord.objects.get(application=application).pk
    assert body["officer"] == client.user.username and body["applicant_reference"] == "API-1"


def test_bad_input_is_a_problem_naming_each_field_and_nothing_is_stored(api_for):
    client = api_for(roles.OFFICER)
    body = _json_body(loan_amnt=None, loan_grade="Z", person_age=200)
    body.update(loan_amnt="50,000", person_age=200, person_emp_length="40", favourite_colour="blue")
    problem = _problem(client.post(URL, body, format="json"), 400)
    assert {error["field"] for error in problem["errors"]} == {"favourite_colour"}
    del body["favourite_colour"]
    problem = _problem(client.post(URL, body, format="json"), 400)
    fields = {error["field"]: error["detail"] for error in problem["errors"]}
    assert set(fields) == {"loan_amnt", "loan_grade", "person_age"}
    assert "thousands separators" in fields["loan_amnt"]  # the form's own message
    assert problem["detail"] == "Invalid input in: loan_amnt, loan_grade, person_age."
    for bad in ([1, 2], "not json", {"person_age": {"nested": True}}):
        response = client.post(URL, bad, format="json")
        _problem(response, 400)
    _problem(client.post(URL, "{broken", content_type="application/json"), 400)
    _problem(client.post(URL, "a=1", content_type="text/plain"), 415)
    assert not LoanApplication.objects.exists()


def test_idempotency_key_same_data_same_result_different_data_409(api_for):
    client = api_for(roles.OFFICER)
    first = client.post(URL, _json_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-123")
    again = client.post(URL, _json_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-123")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    problem = _problem(
        client.post(URL, _json_body(loan_amnt=13000), format="json", HTTP_IDEMPOTENCY_KEY="order-123"), 409
    )
    assert "different data" in problem["detail"]
    # Keys are per user: another client's same key is its own request.
    other = api_for(roles.OFFICER).post(URL, _json_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-123")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    _problem(client.post(URL, _json_body(), format="json", HTTP_IDEMPOTENCY_KEY="bad key!"), 400)
    assert LoanApplication.objects.count() == 2


def test_a_possible_duplicate_is_a_409_naming_the_earlier_and_can_be_confirmed(api_for):
    """The form's duplicate warning (#15) through the API: nothing stored until the client confirms."""
    client = api_for(roles.OFFICER)
    first = client.post(URL, _json_body(applicant_reference="DUP-1"), format="json")
    assert first.status_code == 201
    earlier = first.json()["id"]
    # The same reference again, different inputs.
    problem = _problem(client.post(URL, _json_body(applicant_reference="DUP-1", loan_amnt=9000), format="json"), 409)
    assert problem["duplicate_of"] == earlier and problem["duplicate_of_url"] == f"/api/v1/applications/{earlier}/"
    assert f"The reference DUP-1 is already used by application #{earlier}." in problem["detail"]
    assert f'"confirmed_duplicate_of": {earlier}' in problem["detail"]
    # The same inputs from the same user within 10 minutes, no reference.
    problem = _problem(client.post(URL, _json_body(), format="json"), 409)
    assert problem["duplicate_of"] == earlier and "exactly the same details" in problem["detail"]
    assert LoanApplication.objects.count() == 1
    # Confirming another application's id does not count; a malformed id is a 400 beside the field.
    other = scored_application(applicant_reference="OTHER")
    _problem(client.post(URL, _json_body(confirmed_duplicate_of=other.pk), format="json"), 409)
    bad = _problem(client.post(URL, _json_body(confirmed_duplicate_of="first"), format="json"), 400)
    assert [error["field"] for error in bad["errors"]] == ["confirmed_duplicate_of"]
    confirmed = client.post(URL, _json_body(applicant_reference="DUP-1", confirmed_duplicate_of=earlier), format="json")
    assert confirmed.status_code == 201, confirmed.content
    stored = LoanApplication.objects.get(pk=confirmed.json()["id"])
    assert stored.duplicate_of_id == earlier
    assert DecisionRecord.objects.get(application=stored).document["duplicate_confirmed_of"] == earlier


def test_tokens_missing_malformed_expired_revoked_are_401_problems(api_for, admin_user):
    anonymous = _problem(APIClient().get(URL), 401)
    assert "credentials were not provided" in anonymous["detail"]
    client = api_for(roles.OFFICER)
    assert client.get(URL).status_code == 200
    ApiToken.objects.filter(pk=client.token_row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(URL)
    assert _problem(response, 401)["detail"] == "The token has expired."
    assert response["WWW-Authenticate"].startswith("Bearer")
    fresh = api_for(roles.OFFICER)
    revoke_api_token(token=fresh.token_row, revoked_by=admin_user)
    assert _problem(fresh.get(URL), 401)["detail"] == "The token has been revoked."
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {client.token[:-4]}AAAA")
    assert _problem(forged.get(URL), 401)["detail"] == "The token is not valid."
    forged.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    assert _problem(forged.get(URL), 401)["detail"] == "The token is malformed."
    forged.credentials(HTTP_AUTHORIZATION="Bearer scr_000000000000_guess")
    assert _problem(forged.get(URL), 401)["detail"] == "The token is not valid."
    assert AccessEvent.objects.filter(action=AccessEvent.LOGIN_FAILED, target="api-token").count() >= 3


def test_failed_sign_ins_lock_the_address_out_as_the_pages_do(api_for, settings):
    good = api_for(roles.OFFICER)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer scr_000000000000_guess")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _problem(bad.get(URL), 401)
    locked = _problem(bad.get(URL), 429)
    assert "Too many failed sign-ins" in locked["detail"]
    assert _problem(good.get(URL), 429)  # the same address, even with a good token, until the lockout ends


def test_requests_are_throttled_per_token(api_for, monkeypatch):
    monkeypatch.setattr(PerTokenRateThrottle, "rate", "3/min", raising=False)
    first, second = api_for(roles.OFFICER), api_for(roles.OFFICER)
    for _ in range(3):
        assert first.get(URL).status_code == 200
    throttled = first.get(URL)
    assert "Request was throttled" in _problem(throttled, 429)["detail"] and int(throttled["Retry-After"]) > 0
    assert second.get(URL).status_code == 200  # another token has its own allowance


def test_roles_and_object_permissions_are_the_pages(api_for):
    officer, other = api_for(roles.OFFICER), api_for(roles.OFFICER)
    own = scored_application(officer=officer.user, applicant_reference="MINE")
    theirs = scored_application(officer=other.user)
    assert [row["id"] for row in officer.get(URL).json()["results"]] == [own.pk]
    assert officer.get(f"{URL}{own.pk}/").status_code == 200
    _problem(officer.get(f"{URL}{theirs.pk}/"), 404)  # as for a missing id
    auditor = api_for(roles.AUDITOR)
    assert {row["id"] for row in auditor.get(URL).json()["results"]} == {own.pk, theirs.pk}
    _problem(auditor.post(URL, _json_body(), format="json"), 403)
    _problem(api_for(None).get(URL), 403)  # no role
    assert AccessEvent.objects.filter(action=AccessEvent.PERMISSION_DENIED).count() >= 2


def test_review_actions_follow_the_pages_rules(api_for):
    """Claim, decide and release through reviews.services: four eyes, versions, states (409 problems)."""
    officer, reviewer, other_reviewer = api_for(roles.OFFICER), api_for(roles.REVIEWER), api_for(roles.REVIEWER)
    case = review_case(officer=officer.user)
    url = f"{URL}{case.pk}"
    version = reviewer.get(f"{url}/").json()["case_version"]
    _problem(officer.post(f"{url}/claim/", {"version": version}, format="json"), 403)  # may read, not review
    _problem(api_for(roles.OFFICER).post(f"{url}/claim/", {"version": version}, format="json"), 404)
    _problem(
        reviewer.post(
            f"{url}/decide/",
            {"version": version, "decision": "DECLINE", "reason_code": "x", "explanation": "e"},
            format="json",
        ),
        400,
    )
    conflict = _problem(
        reviewer.post(
            f"{url}/decide/",
            {
                "version": version,
                "decision": "DECLINE",
                "reason_code": "DEC-AFFORD",
                "explanation": "Debt payments exceed half of the income.",
            },
            format="json",
        ),
        409,
    )
    assert "Claim this case" in conflict["detail"]
    claimed = reviewer.post(f"{url}/claim/", {"version": version}, format="json")
    assert claimed.status_code == 200 and claimed.json()["case_state"] == "CLAIMED"
    stale = _problem(other_reviewer.post(f"{url}/claim/", {"version": version}, format="json"), 409)
    assert "changed while you had it open" in stale["detail"]
    version = claimed.json()["case_version"]
    decided = reviewer.post(
        f"{url}/decide/",
        {
            "version": version,
            "decision": "DECLINE",
            "reason_code": "DEC-AFFORD",
            "explanation": "Debt payments exceed half of the income.",
        },
        format="json",
    )
    assert decided.status_code == 200, decided.content
    body = decided.json()
    assert body["final_decision"] == "DECLINE" and [r["action"] for r in body["case_records"]][-1] == "DECIDE"
    own = review_case(officer=reviewer.user)
    _problem(reviewer.post(f"{URL}{own.pk}/claim/", {"version": 0}, format="json"), 403)


def test_history_filters_and_cursor_pagination(api_for):
    client = api_for(roles.OFFICER)
    made = [scored_application(officer=client.user, applicant_reference=f"REF-{n}") for n in range(5)]
    page = client.get(URL, {"page_size": 2}).json()
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == [application.pk for application in reversed(made)]
    assert [row["applicant_reference"] for row in client.get(URL, {"q": "REF-3"}).json()["results"]] == ["REF-3"]
    problem = _problem(client.get(URL, {"date_from": "2026-13-45"}), 400)
    assert problem["errors"][0]["field"] == "date_from"
