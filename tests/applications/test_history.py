"""Decision history: search, filters, sorting, pagination and CSV export of exactly the filtered rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from accounts import roles
from applications.models import LoanApplication
from tests.support.factories import UserFactory, application_form_data, submit_form

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _add(officer, reference, *, day=None, decision=None, final=None, version=None, **inputs):
    application = submit_form(officer=officer, data=application_form_data(applicant_reference=reference, **inputs))
    changes = {}
    if day:
        changes["created_at"] = dt.datetime.combine(day, dt.time(12, 0), tzinfo=UTC)
    if decision:
        changes["decision"] = decision
        changes["final_decision"] = final or decision
    elif final:
        changes["final_decision"] = final
    if version:
        changes["model_version"] = version
    if changes:
        LoanApplication.objects.filter(pk=application.pk).update(**changes)
    return LoanApplication.objects.get(pk=application.pk)


def _refs(response):
    return sorted(app.applicant_reference for app in response.context["page"].object_list)


def _csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def reviewer_client(client_for):
    return client_for(roles.REVIEWER)


@pytest.fixture
def mixed(db):
    alice = UserFactory(role=roles.OFFICER, username="alice")
    bob = UserFactory(role=roles.OFFICER, username="bob")
    return {
        "a1": _add(alice, "ALPHA-1", day=dt.date(2026, 1, 5), decision="APPROVE", version="m-old"),
        "a2": _add(alice, "ALPHA-2", day=dt.date(2026, 2, 10), decision="DECLINE", final="APPROVE"),
        "b1": _add(bob, "BRAVO-1", day=dt.date(2026, 2, 11), decision="REVIEW"),
        "b2": _add(bob, "bravo-2", day=dt.date(2026, 3, 1), decision="DECLINE", loan_amnt="50000"),
        "alice": alice,
        "bob": bob,
    }


def test_search_by_reference_is_case_insensitive(reviewer_client, mixed):
    assert _refs(reviewer_client.get("/applications/", {"q": "bravo"})) == ["BRAVO-1", "bravo-2"]
    assert _refs(reviewer_client.get("/applications/", {"q": "ALPHA-2"})) == ["ALPHA-2"]


def test_filter_by_final_decision(reviewer_client, mixed):
    assert _refs(reviewer_client.get("/applications/", {"decision": "APPROVE"})) == ["ALPHA-1", "ALPHA-2"]
    assert _refs(reviewer_client.get("/applications/", {"decision": "DECLINE"})) == ["bravo-2"]


def test_filter_by_date_range_is_inclusive_in_utc_days(reviewer_client, mixed):
    response = reviewer_client.get("/applications/", {"date_from": "2026-02-10", "date_to": "2026-02-11"})
    assert _refs(response) == ["ALPHA-2", "BRAVO-1"]
    assert _refs(reviewer_client.get("/applications/", {"date_from": "2026-03-01"})) == ["bravo-2"]
    assert _refs(reviewer_client.get("/applications/", {"date_to": "2026-01-31"})) == ["ALPHA-1"]


def test_filter_by_officer(reviewer_client, mixed):
    assert _refs(reviewer_client.get("/applications/", {"officer": mixed["bob"].pk})) == ["BRAVO-1", "bravo-2"]


def test_filter_by_model_version(reviewer_client, mixed):
    assert _refs(reviewer_client.get("/applications/", {"model_version": "m-old"})) == ["ALPHA-1"]
    html = reviewer_client.get("/applications/").content.decode()
    assert '<option value="m-old">m-old</option>' in html


def test_filter_overridden(reviewer_client, mixed):
    assert _refs(reviewer_client.get("/applications/", {"overridden": "yes"})) == ["ALPHA-2"]
    assert _refs(reviewer_client.get("/applications/", {"overridden": "no"})) == ["ALPHA-1", "BRAVO-1", "bravo-2"]


def test_sorting(reviewer_client, mixed):
    response = reviewer_client.get("/applications/", {"sort": "oldest"})
    assert [a.applicant_reference for a in response.context["page"].object_list] == [
        "ALPHA-1",
        "ALPHA-2",
        "BRAVO-1",
        "bravo-2",
    ]
    response = reviewer_client.get("/applications/", {"sort": "amount_high"})
    assert response.context["page"].object_list[0].applicant_reference == "bravo-2"
    response = reviewer_client.get("/applications/")
    assert response.context["page"].object_list[0].applicant_reference == "bravo-2"  # newest first


def test_invalid_filter_values_are_ignored_not_500(reviewer_client, mixed):
    response = reviewer_client.get(
        "/applications/", {"date_from": "yesterday", "decision": "MAYBE", "sort": "x", "officer": "abc", "page": "zzz"}
    )
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 4


def test_pagination(reviewer_client, officer):
    for number in range(30):
        submit_form(officer=officer, data=application_form_data(applicant_reference=f"PG-{number:02d}"))
    first = reviewer_client.get("/applications/", {"sort": "reference"})
    second = reviewer_client.get("/applications/", {"sort": "reference", "page": 2})
    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert second.context["page"].object_list[0].applicant_reference == "PG-25"
    assert "sort=reference&amp;page=2" in first.content.decode()


def test_history_page_does_not_query_per_row(reviewer_client, officer, django_assert_max_num_queries):
    for number in range(25):
        submit_form(officer=officer, data=application_form_data(applicant_reference=f"Q-{number}"))
    with django_assert_max_num_queries(12):
        response = reviewer_client.get("/applications/")
    assert len(response.context["page"].object_list) == 25


@pytest.mark.parametrize("url", ["/applications/?format=csv&", "/applications/export.csv?"])
def test_csv_export_has_exactly_the_filtered_rows(reviewer_client, mixed, url):
    rows = _csv(reviewer_client.get(url + "decision=APPROVE&sort=oldest"))
    assert [row["applicant_reference"] for row in rows] == ["ALPHA-1", "ALPHA-2"]
    stored = mixed["a1"]
    first = rows[0]
    # Full float precision survives the export.
    assert float(first["probability_of_default"]) == stored.probability_of_default
    assert first["officer"] == "alice"
    assert first["final_decision"] == "APPROVE"
    assert first["model_version"] == "m-old"
    assert first["created_at"] == "2026-01-05T12:00:00+00:00"


def test_csv_export_link_carries_the_filters(reviewer_client, mixed):
    html = reviewer_client.get("/applications/", {"q": "ALPHA", "page": "1"}).content.decode()
    assert 'href="/applications/export.csv?q=ALPHA"' in html


def test_csv_neutralises_spreadsheet_formulas(reviewer_client, officer):
    submit_form(officer=officer, data=application_form_data(applicant_reference="=HYPERLINK(1)"))
    rows = _csv(reviewer_client.get("/applications/export.csv"))
    assert rows[0]["applicant_reference"] == "'=HYPERLINK(1)"


def test_officer_history_and_export_show_only_their_own(client, mixed):
    client.force_login(mixed["alice"])
    assert _refs(client.get("/applications/")) == ["ALPHA-1", "ALPHA-2"]
    # Even naming another officer in the filter reveals nothing.
    assert _refs(client.get("/applications/", {"officer": mixed["bob"].pk})) == ["ALPHA-1", "ALPHA-2"]
    rows = _csv(client.get("/applications/export.csv"))
    assert sorted(row["applicant_reference"] for row in rows) == ["ALPHA-1", "ALPHA-2"]


def test_a_new_officers_empty_history_says_there_are_none_yet(officer_client):
    """Nothing entered yet is not the same as nothing matching (issue #13, point 14)."""
    html = officer_client.get("/applications/").content.decode()
    assert "You have not entered any applications yet." in html
    assert "match these filters" not in html


def test_filters_that_match_nothing_say_so(officer_client):
    submit_form(officer=officer_client.user, data=application_form_data(applicant_reference="KEEP-1"))
    html = officer_client.get("/applications/?q=NOTHING-LIKE-THIS").content.decode()
    assert "No applications match these filters." in html
    assert "not entered any applications yet" not in html
