"""Bounded counts and pages from either end (``infrastructure.pagination``), on a list longer than the bound."""

from __future__ import annotations

import pytest

from accounts import roles
from applications.models import LoanApplication
from infrastructure import pagination
from infrastructure.pagination import BoundedCountPaginator, bounded_page, distinct_values
from tests.support.factories import UserFactory, application_form_data, submit_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty(db):
    officer = UserFactory(role=roles.OFFICER)
    for number in range(30):
        submit_form(officer=officer, data=application_form_data(applicant_reference=f"P-{number:02d}"))
    return LoanApplication.objects.order_by("id")


def _refs(page) -> list[str]:
    return [a.applicant_reference for a in page.object_list]


def test_a_short_list_has_an_exact_count_and_ordinary_pages(thirty):
    first = bounded_page(thirty, page=None, per_page=7)
    assert (first.count, first.count_is_bounded, first.label) == (30, False, "Page 1 of 5")
    assert (first.first, first.previous, first.next, first.last) == (None, None, "2", "last")
    last = bounded_page(thirty, page="last", per_page=7)
    assert last.label == "Page 5 of 5" and _refs(last) == ["P-28", "P-29"]
    assert bounded_page(thirty, page="last-1", per_page=7).label == "Page 4 of 5"
    assert bounded_page(thirty, page="zzz", per_page=7).label == "Page 1 of 5"
    assert bounded_page(thirty, page="99", per_page=7).label == "Page 5 of 5"


def test_a_long_list_says_more_than_the_bound_and_reads_the_last_pages_backwards(thirty, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 20)
    first = bounded_page(thirty, page="1", per_page=7)
    assert (first.count, first.count_is_bounded, first.label) == (20, True, "Page 1 of more than 3")
    assert _refs(first) == [f"P-{n:02d}" for n in range(7)]
    last = bounded_page(thirty, page="last", per_page=7)
    assert last.label == "Last page"
    assert _refs(last) == [f"P-{n:02d}" for n in range(23, 30)]  # the true last rows, in the list's order
    assert (last.first, last.previous, last.next, last.last) == ("1", "last-1", None, None)
    before = bounded_page(thirty, page="last-1", per_page=7)
    assert before.label == "Page 2 from the end" and _refs(before) == [f"P-{n:02d}" for n in range(16, 23)]
    assert (before.previous, before.next, before.last) == ("last-2", "last", "last")
    # Pages from the start stop at the bound; the last one of them still offers the list's end.
    third = bounded_page(thirty, page="3", per_page=7)
    assert (third.label, third.next, third.last) == ("Page 3 of more than 3", None, "last")


def test_the_history_page_says_more_than_and_links_the_last_page(thirty, monkeypatch, client):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 20)
    client.force_login(UserFactory(role=roles.REVIEWER))
    html = client.get("/applications/").content.decode()
    assert "More than 20 applications" in html and "Page 1 of more than 1" in html
    assert 'page=last">Last »</a>' in html
    last = client.get("/applications/", {"page": "last"})
    assert [a.applicant_reference for a in last.context["page"].object_list] == [
        f"P-{n:02d}" for n in range(24, -1, -1)
    ]  # newest first: the oldest 25, shown in the page's order
    assert "Last page" in last.content.decode()


def test_the_admin_count_stops_at_the_bound(thirty, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 20)
    paginator = BoundedCountPaginator(thirty, 7)
    assert (paginator.count, paginator.count_is_bounded, paginator.num_pages) == (20, True, 3)


def test_the_admin_says_more_than(thirty, monkeypatch, client):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 20)
    client.force_login(UserFactory(role=roles.ADMIN))
    html = client.get("/admin/applications/loanapplication/").content.decode()
    assert "More than 20 loan applications" in html


def test_distinct_values_seeks_each_value_once(thirty, django_assert_num_queries):
    LoanApplication.objects.filter(pk__in=list(thirty.values_list("pk", flat=True)[:4])).update(model_version="a-old")
    with django_assert_num_queries(3):  # two versions, then one query finding nothing after the last
        versions = distinct_values(LoanApplication.objects.all(), "model_version")
    assert versions == ["a-old", LoanApplication.objects.exclude(model_version="a-old").first().model_version]
