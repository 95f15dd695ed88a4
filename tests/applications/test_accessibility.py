"""Accessibility of the rendered pages (issue #13, point 10), without a browser:
every aria-describedby points at an element that exists, the error summary
lists and links each field, a skip link, aria-current in the menu, and scoped
table headers. The axe-core check over every page is in tests/e2e/test_accessibility.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from accounts import roles
from tests.support.factories import application_form_data, scored_application

pytestmark = pytest.mark.django_db


class _Elements(HTMLParser):
    """Every start tag as (tag, attributes), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))


def _elements(response) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(response.content.decode())
    return parser.elements


def _dangling_describedby(response) -> dict[str, list[str]]:
    elements = _elements(response)
    ids = {attrs["id"] for _, attrs in elements if "id" in attrs}
    return {
        attrs.get("id", tag): missing
        for tag, attrs in elements
        if (missing := [ref for ref in attrs.get("aria-describedby", "").split() if ref not in ids])
    }


def test_every_aria_describedby_points_at_an_element_that_exists(officer_client):
    bad = application_form_data(person_income="0", loan_amnt="50.000", person_age="")
    for response in (officer_client.get("/applications/new/"), officer_client.post("/applications/new/", bad)):
        assert _dangling_describedby(response) == {}
    html = officer_client.post("/applications/new/", bad).content.decode()
    assert re.search(r'<ul class="errorlist" id="id_person_income_error"><li>Must be above 0.</li></ul>', html)
    assert 'id="id_person_income_helptext"' in html


def test_decision_and_history_forms_describe_their_fields_with_existing_ids(client_for, officer):
    application = scored_application(officer)
    reviewer = client_for(roles.REVIEWER)
    response = reviewer.post(
        f"/reviews/{application.pk}/", {"decision": "DECLINE", "reason_code": "", "explanation": "", "version": 0}
    )
    assert response.status_code == 400
    assert _dangling_describedby(response) == {}
    html = response.content.decode()
    assert 'id="id_explanation_error"' in html and 'id="id_reason_code_error"' in html
    assert _dangling_describedby(reviewer.get("/applications/?date_from=not-a-date")) == {}
    assert _dangling_describedby(reviewer.get("/reviews/?amount_min=x")) == {}
    # The decision form says what happens to the explanation.
    page = reviewer.get(f"/reviews/{application.pk}/")
    explanation = next(attrs for tag, attrs in _elements(page) if attrs.get("id") == "id_explanation")
    assert "id_explanation_helptext" in explanation.get("aria-describedby", "")
    assert _dangling_describedby(page) == {}


def test_error_summary_lists_and_links_every_field_in_error(officer_client):
    bad = application_form_data(person_income="0", loan_amnt="50.000")
    html = officer_client.post("/applications/new/", bad).content.decode()
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert 'tabindex="-1"' in summary
    links = re.findall(r'<a href="#(id_\w+)">([^<]+)</a>', summary)
    assert [target for target, _ in links] == ["id_person_income", "id_loan_amnt"]
    assert links[0][1] == "Annual income: Must be above 0."
    assert links[1][1].startswith("Loan amount: Enter at most 2 digits after the decimal point")
    # The script that focuses the summary is a file: the CSP forbids inline scripts.
    assert "js/error-summary.js" in html


@pytest.mark.parametrize("role", [roles.OFFICER, roles.AUDITOR])
def test_skip_link_comes_first_and_leads_to_main(client_for, role):
    response = client_for(role).get("/applications/")
    elements = _elements(response)
    first_link = next(attrs for tag, attrs in elements if tag == "a")
    assert first_link.get("href") == "#main"
    assert "Skip to main content" in response.content.decode()
    assert any(tag == "main" and attrs.get("id") == "main" for tag, attrs in elements)


@pytest.mark.parametrize(
    ("path", "current"),
    [("/applications/new/", "New application"), ("/applications/", "History"), ("/audit/", "Audit")],
)
def test_the_menu_marks_the_current_page(client_for, path, current):
    html = client_for(roles.ADMIN).get(path).content.decode()
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S).group(0)
    assert re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav) == [current]


def test_every_table_header_has_a_scope(client_for, officer):
    from tests.support.factories import review_case
    from tests.support.reviews import decide_by_review

    application = scored_application(officer)
    decide_by_review(application, "DECLINE" if application.final_decision != "DECLINE" else "REFER")
    review_case(officer)  # the queue has a row
    admin = client_for(roles.ADMIN)
    for path in ("/applications/", f"/applications/{application.pk}/", "/audit/", "/audit/access/", "/reviews/"):
        headers = [attrs for tag, attrs in _elements(admin.get(path)) if tag == "th"]
        assert headers, path
        assert all(attrs.get("scope") in {"col", "row"} for attrs in headers), path


def test_a_failed_sign_in_puts_its_message_where_focus_can_go(client):
    html = client.post("/accounts/login/", {"username": "nobody", "password": "wrong"}).content.decode()
    assert re.search(r'<p class="error-summary" role="alert" tabindex="-1"[^>]*>Your username and password', html)
    assert "js/error-summary.js" in html
