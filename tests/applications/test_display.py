"""Numbers and times as people read them (issue #13, point 11): thousands
separators and the bank's currency on every amount, schema labels instead of
internal names, times in the bank's time zone with the zone named."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from accounts import roles
from applications.models import LoanApplication
from tests.support.factories import application_form_data, scored_application

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """What a person sees: the page's text without tags, scripts or attributes."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")


@pytest.fixture
def bank(settings):
    settings.BANK_CURRENCY = "EUR"
    settings.TIME_ZONE = "Europe/Paris"
    return settings


@pytest.fixture
def big_loan(officer):
    application = scored_application(officer, loan_amnt="91800", person_income="900000", loan_int_rate="9.5")
    # 23:30 UTC on 5 January is 00:30 on 6 January in Paris (CET, UTC+1).
    LoanApplication.objects.filter(pk=application.pk).update(created_at=dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.UTC))
    return LoanApplication.objects.get(pk=application.pk)


def test_detail_page_shows_amounts_with_separators_and_the_banks_currency(bank, officer_client, big_loan):
    text = _text(officer_client.get(f"/applications/{big_loan.pk}/"))
    assert "EUR 91,800.00" in text
    assert "EUR 900,000.00 per year" in text
    assert "91800" not in text and "900000" not in text


def test_history_shows_the_loan_amount_with_separators_and_currency(bank, officer_client, big_loan):
    text = _text(officer_client.get("/applications/"))
    assert "EUR 91,800.00" in text
    assert "91800" not in text


def test_reasons_about_money_carry_the_currency(bank, officer_client, officer):
    # A small income for the loan: income is among the principal reasons.
    application = scored_application(officer, person_income="9000", loan_amnt="6000", loan_grade="F")
    assert "person_income" in [r["feature"] for r in application.reasons]
    text = _text(officer_client.get(f"/applications/{application.pk}/"))
    assert "Annual income EUR 9,000.00" in text


def test_the_form_names_the_currency_beside_money_fields(bank, officer_client):
    html = officer_client.get("/applications/new/").content.decode()
    assert re.search(r'id="id_loan_amnt"[^>]*>\s*<span class="unit">EUR</span>', html)
    assert re.search(r'id="id_person_income"[^>]*>\s*<span class="unit">EUR per year</span>', html)


@pytest.mark.parametrize("path", ["/applications/new/", "/applications/{pk}/"])
def test_no_internal_names_on_screen(officer_client, big_loan, path):
    text = _text(officer_client.get(path.format(pk=big_loan.pk)))
    for internal in ("loan_percent_income", "interest_burden", "person_income", "loan_amnt", "_"):
        assert internal not in text.replace("— choose —", ""), internal


def test_times_are_shown_in_the_banks_time_zone_and_named(bank, officer_client, big_loan):
    detail = _text(officer_client.get(f"/applications/{big_loan.pk}/"))
    assert "2026-01-06 00:30:00 CET" in detail
    assert "UTC" not in detail
    history = _text(officer_client.get("/applications/"))
    assert "2026-01-06 00:30 CET" in history
    assert "Times are in the Europe/Paris time zone" in history
    # Stored in UTC all the same.
    stored = LoanApplication.objects.values_list("created_at", flat=True).get(pk=big_loan.pk)
    assert stored == dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.UTC)


def test_date_filters_are_days_in_the_banks_time_zone(bank, officer_client, big_loan):
    on_the_6th = officer_client.get("/applications/?date_from=2026-01-06&date_to=2026-01-06")
    assert [a.pk for a in on_the_6th.context["page"].object_list] == [big_loan.pk]
    on_the_5th = officer_client.get("/applications/?date_from=2026-01-05&date_to=2026-01-05")
    assert list(on_the_5th.context["page"].object_list) == []


def test_default_currency_and_time_zone(settings):
    assert settings.BANK_CURRENCY == "USD"
    assert settings.TIME_ZONE == "UTC"
    assert settings.USE_TZ is True


@pytest.mark.parametrize("typed", ["50.000", "50,000", "1.250.000"])
def test_an_amount_typed_with_thousands_separators_gets_a_message_an_officer_understands(officer_client, typed):
    response = officer_client.post("/applications/new/", application_form_data(loan_amnt=typed))
    assert response.status_code == 200
    (message,) = response.context["form"].errors["loan_amnt"]
    assert "without thousands separators" in message
    assert "50000" in message
    assert LoanApplication.objects.count() == 0


def test_an_age_typed_with_separators_says_whole_number_digits_only(officer_client):
    response = officer_client.post("/applications/new/", application_form_data(person_age="3,5"))
    (message,) = response.context["form"].errors["person_age"]
    assert "digits only" in message


def test_counts_have_thousands_separators(client_for):
    from applications.templatetags.workbench import number

    assert number(1234567) == "1,234,567"
    assert number(None) == "—"
    auditor = client_for(roles.AUDITOR)
    assert auditor.get("/audit/").status_code == 200
