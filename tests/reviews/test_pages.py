"""The review pages: the queue, a case's page (claim, decide with confirmation, second approval), refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts import roles
from applications.formatting import money
from applications.models import LoanApplication
from audit import lifecycle
from audit.models import AccessEvent, CaseRecord
from tests.support.factories import UserFactory, declined_case, review_case, scored_application

pytestmark = pytest.mark.django_db

EXPLANATION = "Payslips and bank statements confirm the income."


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def version(application) -> int:
    return LoanApplication.objects.values_list("case_version", flat=True).get(pk=application.pk)


def post_decision(client, application, decision, code, explanation=EXPLANATION, confirmed=True, **extra):
    data = {"decision": decision, "reason_code": code, "explanation": explanation, "version": version(application)}
    if confirmed:
        data["confirmed"] = "yes"
    return client.post(f"/reviews/{application.pk}/", {**data, **extra})


def test_queue_lists_open_cases_oldest_first_without_the_reviewers_own(reviewer):
    old = review_case(applicant_reference="Q-OLD")
    LoanApplication.objects.filter(pk=old.pk).update(queued_at=timezone.now() - dt.timedelta(days=2, hours=3))
    new = review_case(applicant_reference="Q-NEW")
    review_case(officer=reviewer, applicant_reference="Q-MINE")
    scored_application(applicant_reference="Q-FINAL")  # APPROVE: not in the queue
    response = login(reviewer).get("/reviews/")
    assert response.status_code == 200
    refs = [row["application"].applicant_reference for row in response.context["rows"]]
    assert refs == ["Q-OLD", "Q-NEW"]
    page = response.content.decode()
    assert "2 d 3 h" in page and money(old.loan_amnt) in page and old.officer.username in page
    assert 'data-testid="nav-queue-count" aria-label="2 open cases">2<' in page
    assert new.pk


def test_the_navigation_count_stops_past_its_limit(reviewer, monkeypatch):
    # At a million applications the queue may hold thousands of cases and every page shows the count:
    # it reads at most limit + 1 entries of the queue's index and says "N+" past the limit.
    from reviews import selectors

    monkeypatch.setattr(selectors, "NAV_COUNT_LIMIT", 2)
    client = login(reviewer)
    first = review_case()
    page = client.get(f"/applications/{first.pk}/").content.decode()
    assert 'data-testid="nav-queue-count" aria-label="1 open case">1<' in page
    review_case()
    page = client.get(f"/applications/{first.pk}/").content.decode()
    assert 'data-testid="nav-queue-count" aria-label="2 open cases">2<' in page
    review_case()
    review_case()
    page = client.get(f"/applications/{first.pk}/").content.decode()
    assert 'data-testid="nav-queue-count" aria-label="more than 2 open cases">2+<' in page
    assert selectors.open_case_count(user=reviewer, limit=2) == 3
    assert selectors.open_case_count(user=reviewer, limit=10) == 4


def test_queue_filters(reviewer, second_reviewer):
    waiting = review_case(applicant_reference="F-WAIT", loan_amnt="14000")
    mine = review_case(applicant_reference="F-MINE", loan_amnt="14500")
    theirs = review_case(applicant_reference="F-THEIRS", loan_amnt="14200")
    client = login(reviewer)
    client.post(f"/reviews/{mine.pk}/claim/", {"version": 0})
    login(second_reviewer).post(f"/reviews/{theirs.pk}/claim/", {"version": 0})

    def refs(query):
        return sorted(r["application"].applicant_reference for r in client.get(f"/reviews/?{query}").context["rows"])

    assert refs("show=waiting") == ["F-WAIT"]
    assert refs("show=mine") == ["F-MINE"]
    assert refs("show=claimed") == ["F-MINE", "F-THEIRS"]
    assert refs("amount_min=14100&amount_max=14300") == ["F-THEIRS"]
    assert refs("q=wait") == ["F-WAIT"]
    bad = client.get("/reviews/?amount_min=9&amount_max=1")
    assert bad.status_code == 400 and "The upper amount is below the lower one." in bad.content.decode()
    assert waiting.pk


def test_claim_decide_with_confirmation(reviewer):
    application = review_case()
    client = login(reviewer)
    page = client.get(f"/reviews/{application.pk}/").content.decode()
    assert 'data-testid="claim-form"' in page and 'data-testid="decision-form"' not in page
    assert "REVIEW: probability of default between 10% and 50%" in page
    assert 'data-testid="reasons"' in page and "Inputs as entered" in page
    response = client.post(f"/reviews/{application.pk}/claim/", {"version": 0})
    assert response.status_code == 303 and response["Location"] == f"/reviews/{application.pk}/"
    page = client.get(f"/reviews/{application.pk}/").content.decode()
    assert f"Claimed by a reviewer: {reviewer.username}, until" in page and 'data-testid="decision-form"' in page
    # First POST: a confirmation, nothing recorded yet.
    response = post_decision(client, application, "DECLINE", "DEC-AFFORD", confirmed=False)
    assert response.status_code == 200 and 'data-testid="confirm-panel"' in response.content.decode()
    assert "This decision is final once recorded." in response.content.decode()
    assert version(application) == 1
    response = post_decision(client, application, "DECLINE", "DEC-AFFORD")
    assert response.status_code == 303
    application.refresh_from_db()
    assert (application.case_state, application.final_decision) == (lifecycle.DECIDED, "DECLINE")
    page = client.get(f"/reviews/{application.pk}/").content.decode()
    assert "Final decision: DECLINE." in page and "DEC-AFFORD" in page and EXPLANATION in page
    assert "the decision is final" in page


def test_four_eyes_override_needs_a_second_reviewer_on_the_pages(reviewer, second_reviewer):
    application = declined_case()
    client = login(reviewer)
    confirm = post_decision(client, application, "APPROVE", "APP-COLLAT", confirmed=False).content.decode()
    assert "This approval needs a second reviewer" in confirm and "the model declined" in confirm
    post_decision(client, application, "APPROVE", "APP-COLLAT")
    application.refresh_from_db()
    assert (application.case_state, application.final_decision) == (lifecycle.AWAITING_SECOND, "DECLINE")
    # The proposer cannot confirm; the queue shows the case as awaiting second approval.
    own = client.get(f"/reviews/{application.pk}/").content.decode()
    assert "you cannot confirm it yourself" in own and 'data-testid="decision-form"' not in own
    second = login(second_reviewer)
    queue = second.get("/reviews/?show=second").content.decode()
    assert "Awaiting second approval: APPROVE proposed by " + reviewer.username in queue
    response = post_decision(second, application, "CONFIRM", "CNF-EVIDENCE")
    assert response.status_code == 303
    application.refresh_from_db()
    assert (application.case_state, application.final_decision) == (lifecycle.DECIDED, "APPROVE")


@pytest.mark.parametrize(
    ("decision", "code", "explanation", "message"),
    [
        ("DECLINE", "NOPE", EXPLANATION, "Select a valid choice"),
        ("DECLINE", "APP-INCOME", EXPLANATION, "This reason explains another decision"),
        ("DECLINE", "DEC-AFFORD", "too short", "at least 20 characters (you wrote 9)"),
        ("", "DEC-AFFORD", EXPLANATION, "This field is required"),
    ],
)
def test_bad_input_comes_back_beside_the_field_and_changes_nothing(reviewer, decision, code, explanation, message):
    application = declined_case()
    response = post_decision(login(reviewer), application, decision, code, explanation)
    assert response.status_code == 400 and message in response.content.decode()
    assert 'data-testid="error-summary"' in response.content.decode()
    assert CaseRecord.objects.count() == 0 and version(application) == 0


def test_a_stale_form_gets_a_message_and_changes_nothing(reviewer, second_reviewer):
    application = declined_case()
    stale_version = version(application)
    assert post_decision(login(second_reviewer), application, "REFER", "REF-DOCS").status_code == 303
    before = LoanApplication.objects.values().get(pk=application.pk)
    response = login(reviewer).post(
        f"/reviews/{application.pk}/",
        {
            "decision": "APPROVE",
            "reason_code": "APP-INCOME",
            "explanation": EXPLANATION,
            "version": stale_version,
            "confirmed": "yes",
        },
        follow=True,
    )
    assert "This case changed while you had it open" in response.content.decode()
    assert LoanApplication.objects.values().get(pk=application.pk) == before


def test_claiming_a_case_someone_holds_gets_a_message(reviewer, second_reviewer):
    application = review_case()
    login(reviewer).post(f"/reviews/{application.pk}/claim/", {"version": 0})
    response = login(second_reviewer).post(f"/reviews/{application.pk}/claim/", {"version": 1}, follow=True)
    assert "Only they can decide it until then" in response.content.decode()
    assert LoanApplication.objects.get(pk=application.pk).claimed_by == reviewer


def test_release_returns_the_case_to_the_queue(reviewer):
    application = review_case()
    client = login(reviewer)
    client.post(f"/reviews/{application.pk}/claim/", {"version": 0})
    response = client.post(f"/reviews/{application.pk}/release/", {"version": 1})
    assert response.status_code == 303 and response["Location"] == "/reviews/"
    assert LoanApplication.objects.get(pk=application.pk).case_state == lifecycle.IN_QUEUE


def test_the_decision_needs_a_csrf_token(reviewer):
    application = declined_case()
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = post_decision(client, application, "APPROVE", "APP-INCOME")
    assert response.status_code == 403 and CaseRecord.objects.count() == 0


@pytest.mark.parametrize("who", ["owner", "other_officer", "auditor", "own_reviewer"])
def test_case_pages_refuse_everyone_else(who):
    application = review_case()
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
        application = review_case(officer=user)
    client = login(user)
    for url in (f"/reviews/{application.pk}/", f"/reviews/{application.pk}/claim/"):
        response = client.post(url, {"version": 0, "decision": "DECLINE"})
        assert response.status_code == refused, url
    assert client.get(f"/reviews/{application.pk}/").status_code == refused
    assert CaseRecord.objects.count() == 0
    assert AccessEvent.objects.filter(action="permission_denied", target=f"case:application:{application.pk}").exists()


@pytest.mark.parametrize("role", [roles.OFFICER, roles.AUDITOR])
def test_the_queue_is_for_reviewers(role):
    user = UserFactory(role=role)
    client = login(user)
    assert client.get("/reviews/").status_code == 403
    assert 'data-testid="nav-queue"' not in client.get("/applications/").content.decode()


def test_anonymous_goes_to_login():
    response = Client().get("/reviews/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_case_is_404(reviewer):
    assert login(reviewer).get("/reviews/999999/").status_code == 404


def test_the_old_override_address_leads_to_the_case(reviewer):
    application = declined_case()
    response = login(reviewer).get(f"/applications/{application.pk}/override/")
    assert response.status_code == 302 and response["Location"] == f"/reviews/{application.pk}/"


def test_application_page_links_the_case_only_for_a_reviewer_who_may_act(reviewer):
    application = declined_case()
    reviewer_page = login(reviewer).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="open-case"' in reviewer_page and "Override the model's decision" in reviewer_page
    assert "Final (model decision): DECLINE" in reviewer_page
    assert "DECLINE: probability of default 50% or more" in reviewer_page
    assert 'data-testid="risk-label"' not in reviewer_page and "RISKY" not in reviewer_page
    officer_page = login(application.officer).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="case-history"' in officer_page and 'data-testid="open-case"' not in officer_page


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (roles.OFFICER, "/applications/new/"),
        (roles.REVIEWER, "/reviews/"),
        (roles.AUDITOR, "/audit/"),
        (roles.ADMIN, "/reviews/"),
    ],
)
def test_each_role_lands_on_its_own_page(role, landing):
    from tests.support.factories import PASSWORD

    user = UserFactory(role=role)
    assert login(user).get("/")["Location"] == landing
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == landing and response.status_code == 200
