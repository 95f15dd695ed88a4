"""The model registry and the cut-off simulator in Chromium (issue 18.5-6): four eyes through the pages, axe-core clean."""

from __future__ import annotations

from pprint import pformat

import pytest

from accounts import roles
from governance.models import ChangeProposal, ServingState
from tests.e2e.support import BROWSER_MARKS, axe_violations, horizontal_overflow, sign_in
from tests.support.factories import UserFactory, scored_application
from tests.support.scoring import CANDIDATE_VERSION

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]


@pytest.fixture
def admins(db):
    officer = UserFactory(role=roles.OFFICER)
    for fields in ({}, {"loan_grade": "D", "loan_amnt": "18000"}, {"loan_grade": "G", "loan_amnt": "30000"}):
        scored_application(officer, **fields)
    return UserFactory(role=roles.ADMIN, username="gov-first"), UserFactory(role=roles.ADMIN, username="gov-second")


def _accessible(page, problems: dict, name: str) -> None:
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        if violations := axe_violations(page):
            problems[f"{name} axe at {width}px"] = violations
        if width == 390 and (overflow := horizontal_overflow(page)) > 0:
            problems[f"{name} scrolls sideways"] = overflow
    page.set_viewport_size({"width": 1280, "height": 900})


def test_registry_and_simulator_pages_with_a_four_eyes_change(page, live_server, admins):
    first, second = admins
    problems: dict = {}
    sign_in(page, live_server.url, first.username)
    page.goto(f"{live_server.url}/governance/models/")
    assert page.get_by_test_id("active-badge").count() == 1
    assert page.get_by_test_id(f"usage-{'hgb-3409bea3c4cf'}").inner_text() == "3"
    _accessible(page, problems, "registry")
    page.get_by_test_id(f"propose-{CANDIDATE_VERSION}").click()
    assert "Another admin must approve it" in page.inner_text("body")
    proposal = ChangeProposal.objects.get()
    assert page.get_by_test_id(f"approve-{proposal.pk}").count() == 0  # not for the proposer
    _accessible(page, problems, "registry with a pending proposal")

    page.goto(f"{live_server.url}/governance/cutoffs/")
    page.fill("#id_approve_below", "0.2")
    page.fill("#id_decline_from", "0.6")
    page.get_by_test_id("simulate").click()
    assert "3 applications" in page.get_by_test_id("sim-count").inner_text()
    assert page.get_by_test_id("sim-proposed").count() == 1
    _accessible(page, problems, "simulator with figures")
    page.fill("#id_approve_below", "0.9")
    page.fill("#id_decline_from", "0.6")
    page.get_by_test_id("simulate").click()
    assert page.get_by_test_id("error-summary").count() == 1
    _accessible(page, problems, "simulator with an error")

    page.context.clear_cookies()
    sign_in(page, live_server.url, second.username)
    page.goto(f"{live_server.url}/governance/models/")
    page.get_by_test_id(f"approve-{proposal.pk}").click()
    assert "now decides every new application" in page.inner_text("body")
    assert ServingState.objects.get().model_version == CANDIDATE_VERSION
    assert not problems, pformat(problems)
