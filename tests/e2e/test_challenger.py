"""Champion and challenger in Chromium (issue 18.7): set under four eyes, shadow scores, the comparison page, axe clean."""

from __future__ import annotations

from pprint import pformat

import pytest

from accounts import roles
from governance.models import ChallengerScore, ChangeProposal
from monitoring.services import refresh_aggregates
from tests.e2e.support import BROWSER_MARKS, axe_violations, horizontal_overflow, sign_in
from tests.support.factories import UserFactory, scored_application
from tests.support.scoring import CANDIDATE_VERSION

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]


def test_an_admin_sets_a_challenger_and_reads_the_comparison(page, live_server, db):
    first = UserFactory(role=roles.ADMIN, username="champ-first")
    second = UserFactory(role=roles.ADMIN, username="champ-second")
    problems: dict = {}
    sign_in(page, live_server.url, first.username)
    page.goto(f"{live_server.url}/governance/models/")
    page.get_by_test_id(f"propose-challenger-{CANDIDATE_VERSION}").click()
    assert "Another admin must approve it before it scores" in page.inner_text("body")
    proposal = ChangeProposal.objects.get(kind=ChangeProposal.Kind.SET_CHALLENGER)

    page.context.clear_cookies()
    sign_in(page, live_server.url, second.username)
    page.goto(f"{live_server.url}/governance/models/")
    page.get_by_test_id(f"approve-{proposal.pk}").click()
    assert "is the challenger" in page.inner_text("body")

    officer = UserFactory(role=roles.OFFICER)
    for fields in ({}, {"loan_grade": "D", "loan_amnt": "18000"}, {"loan_grade": "G", "loan_amnt": "30000"}):
        scored_application(officer, **fields)
    assert ChallengerScore.objects.filter(status=ChallengerScore.Status.SCORED).count() == 3
    refresh_aggregates()

    page.goto(f"{live_server.url}/governance/challenger/")
    assert page.get_by_test_id("scored-count").inner_text() == "3"
    assert page.locator("[data-testid=mix-chart] svg rect").count() >= 1
    assert page.get_by_test_id("agreement-table").locator("tbody tr").count() == 4
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"comparison axe at {width}px"] = violations
        if width == 390 and (overflow := horizontal_overflow(page)) > 0:
            problems["comparison scrolls sideways"] = overflow
    assert not problems, pformat(problems)
