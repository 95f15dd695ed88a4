"""The monitoring pages in Chromium (issue 18): each draws its charts under the strict CSP and passes axe-core."""

from __future__ import annotations

import datetime as dt
from pprint import pformat

import pytest
from django.utils import timezone

import monitoring.services
from accounts import roles
from audit.services import record_outcome
from monitoring.services import refresh_aggregates
from tests.e2e.support import BROWSER_MARKS, axe_violations, horizontal_overflow, sign_in
from tests.monitoring.support import application_on
from tests.support.factories import UserFactory

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]

# Page -> the charts it must draw (data-chart of each svg).
CHARTS = {
    "/monitoring/": ["daily", "weekly", "mix", "overrides", "probability"],
    "/monitoring/drift/": ["drift"],
    "/monitoring/outcomes/": ["calibration"],
    "/monitoring/fairness/": ["fairness-age_band", "fairness-person_home_ownership"],
}


@pytest.fixture
def portfolio(db, monkeypatch):
    monkeypatch.setattr(monitoring.services, "MIN_OUTCOMES", 10)
    monkeypatch.setattr(monitoring.services, "MIN_EACH_OUTCOME", 2)
    officer = UserFactory(role=roles.OFFICER)
    admin = UserFactory(role=roles.ADMIN, username="monitoring-admin")
    start = timezone.localdate() - dt.timedelta(days=40)
    for index in range(14):
        application = application_on(
            start + dt.timedelta(days=3 * index),
            officer=officer,
            approved=index % 4 != 3,
            person_age=str(22 + 3 * index),
        )
        record_outcome(
            application_id=application.pk,
            outcome="DEFAULTED" if index % 4 == 3 or index == 5 else "REPAID",
            outcome_date=timezone.localdate(),
            recorded_by=admin,
            source="import",
        )
    refresh_aggregates()
    return UserFactory(role=roles.AUDITOR, username="monitoring-auditor")


def test_every_monitoring_page_draws_its_charts(page, live_server, portfolio):
    blocked = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    sign_in(page, live_server.url, portfolio.username)
    problems = {}
    for path, charts in CHARTS.items():
        page.goto(f"{live_server.url}{path}")
        for chart in charts:
            svg = page.locator(f"svg[data-chart='{chart}']")
            box = svg.bounding_box()
            marks = svg.locator("rect, circle, polyline").count()
            if box is None or box["width"] < 200 or box["height"] < 50 or marks < 2:
                problems[f"{path} {chart}"] = f"not drawn (box {box}, {marks} marks)"
            # Coloured by the stylesheet, not SVG's default black: the CSS reached the SVG under the CSP.
            fill = svg.locator("rect[class^='chart-'], circle").first.evaluate("el => getComputedStyle(el).fill")
            if fill in ("rgb(0, 0, 0)", "none"):
                problems[f"{path} {chart} colour"] = fill
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            if violations := axe_violations(page):
                problems[f"{path} axe at {width}px"] = violations
            if width == 390 and (overflow := horizontal_overflow(page)) > 0:
                problems[f"{path} scrolls sideways"] = overflow
        page.set_viewport_size({"width": 1280, "height": 900})
    assert problems == {}, pformat(problems, width=140)
    assert blocked == []
