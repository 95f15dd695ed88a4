"""Issue 15.3 (what-if) and 15.2 (counter-offer shown): computed by the engine, never stored."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import roles
from applications.models import LoanApplication
from applications.services import counter_offer
from audit.models import AccessEvent, DecisionRecord
from scoring.counter_offer import largest_approvable_amount
from scoring.services import score_application
from tests.support.factories import (
    DECLINED_FORM,
    UserFactory,
    application_form_data,
    scored_application,
    scoring_inputs,
)

pytestmark = pytest.mark.django_db

DECLINED = DECLINED_FORM


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _stored_counts() -> tuple[int, int, int]:
    return LoanApplication.objects.count(), DecisionRecord.objects.count(), AccessEvent.objects.count()


def test_what_if_is_the_engine_and_stores_nothing():
    client = _client(UserFactory(role=roles.OFFICER))
    before = _stored_counts()
    data = application_form_data(loan_amnt="9000", loan_int_rate="12.5")
    answer = client.post("/applications/what-if/", data)
    assert answer.status_code == 200
    body = answer.json()
    expected = score_application(scoring_inputs(data))
    assert body["ok"] is True
    assert body["probability_of_default"] == expected.probability_of_default  # exact: the same engine
    assert body["decision"] == expected.decision
    assert body["model_version"] == expected.model_version
    assert _stored_counts() == before


def test_what_if_names_the_guard():
    client = _client(UserFactory(role=roles.OFFICER))
    body = client.post("/applications/what-if/", application_form_data(loan_amnt="900000", person_income="1000")).json()
    assert body["decision"] == "REVIEW"
    assert any(text.startswith("Outside the model's experience: loan is") for text in body["outside_experience"])


def test_what_if_outside_the_schema_gives_messages_and_stores_nothing():
    client = _client(UserFactory(role=roles.OFFICER))
    before = _stored_counts()
    answer = client.post("/applications/what-if/", application_form_data(loan_int_rate="250", loan_amnt="-1"))
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert set(errors) == {"loan_int_rate", "loan_amnt"}
    assert _stored_counts() == before


def test_what_if_is_throttled_per_user(settings):
    settings.WHATIF_REQUESTS_PER_MINUTE = 3
    first, second = UserFactory(role=roles.OFFICER), UserFactory(role=roles.OFFICER)
    data = application_form_data()
    statuses = [_client(first).post("/applications/what-if/", data).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert _client(second).post("/applications/what-if/", data).status_code == 200


def test_what_if_without_a_model_says_so(settings):
    settings.SCORING_MODEL_VERSION = "hgb-000000000000"
    answer = _client(UserFactory(role=roles.OFFICER)).post("/applications/what-if/", application_form_data())
    assert answer.status_code == 503
    assert answer.json()["message"].startswith("The scoring model is unavailable")


def test_what_if_is_for_those_who_enter_applications():
    assert (
        _client(UserFactory(role=roles.AUDITOR)).post("/applications/what-if/", application_form_data()).status_code
        == 403
    )
    assert _client(UserFactory(role=roles.OFFICER)).get("/applications/what-if/").status_code == 405


def test_pages_carry_the_what_if_from_our_static_files():
    officer = UserFactory(role=roles.OFFICER)
    client = _client(officer)
    form_page = client.get("/applications/new/").content.decode()
    assert 'data-whatif-url="/applications/what-if/"' in form_page and "js/whatif.js" in form_page
    application = scored_application(officer)
    detail = client.get(f"/applications/{application.pk}/").content.decode()
    assert 'id="whatif-form"' in detail and "js/whatif.js" in detail
    assert "<script>" not in detail and "<script>" not in form_page  # no inline script (strict CSP)


def test_counter_offer_on_a_declined_application_page():
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer, **DECLINED)
    assert application.final_decision == "DECLINE"
    html = _client(officer).get(f"/applications/{application.pk}/").content.decode()
    assert 'data-testid="counter-offer-amount">USD\xa013,575.00<' in html
    assert counter_offer(application=application).amount == 13575
    assert largest_approvable_amount(application.model_inputs()).amount == 13575


def test_no_counter_offer_on_an_approved_application():
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer, **{**DECLINED, "loan_amnt": "5000"})
    assert application.final_decision == "APPROVE"
    assert (
        'data-testid="counter-offer"' not in _client(officer).get(f"/applications/{application.pk}/").content.decode()
    )
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="nothing to counter-offer"):
        counter_offer(application=application)


def test_counter_offer_without_a_model_says_so(settings):
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer, **DECLINED)
    settings.SCORING_MODEL_VERSION = "hgb-000000000000"
    html = _client(officer).get(f"/applications/{application.pk}/").content.decode()
    assert "no counter-offer can be computed" in html
