"""The decision page on paper (issue #13, point 13): printed in black and white
it still says the decision, without the navigation, and every field fits the page."""

from __future__ import annotations

import pytest

from accounts import roles
from tests.e2e.support import BROWSER_MARKS, axe_violations, sign_in
from tests.support.factories import UserFactory, scored_application
from tests.support.reviews import decide_by_review

pytestmark = [pytest.mark.browser, *BROWSER_MARKS]

# A4 portrait less 15 mm margins each side is 180 mm: 680 CSS px at 96 px per inch.
PRINTABLE_WIDTH = 680

_VISIBLE_TEXT_COLOURS = """() => [...new Set([...document.querySelectorAll("body *")]
  .filter((e) => e.getClientRects().length && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
  .map((e) => getComputedStyle(e).color))]"""

_BACKGROUNDS = """() => [...new Set([...document.querySelectorAll("body, body *")]
  .filter((e) => e.getClientRects().length).map((e) => getComputedStyle(e).backgroundColor))]"""

_SHOWN = """(els) => els.filter((e) => e.getClientRects().length).map((e) => e.className || e.tagName)"""

_WIDER_THAN_THE_PAGE = """(width) => [...document.querySelectorAll("main *")]
  .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 0.5)
  .map((e) => `${e.tagName}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}px`)"""


@pytest.fixture
def overridden_application(db):
    officer = UserFactory(role=roles.OFFICER, username="print-officer")
    application = scored_application(
        officer, applicant_reference="PRINT-REFERENCE-WITH-A-LONG-NAME-0000000001", loan_amnt="91800"
    )
    decide_by_review(
        application,
        "DECLINE" if application.final_decision != "DECLINE" else "REFER",
        reviewer=UserFactory(role=roles.REVIEWER, username="print-reviewer"),
        explanation="Payslips for the last two quarters show a much lower income than declared; "
        "the employer confirmed seasonal work only.",
    )
    return application


def test_the_decision_page_prints_legibly_in_black_and_white(page, live_server, overridden_application):
    sign_in(page, live_server.url, "print-officer")
    page.set_viewport_size({"width": PRINTABLE_WIDTH, "height": 1000})
    page.goto(f"{live_server.url}/applications/{overridden_application.pk}/")
    page.emulate_media(media="print")

    # No navigation, sign-out, forms or skip link on paper.
    for selector in (".topbar", ".mainnav", ".skip-link", "form", ".title-row a"):
        assert page.locator(selector).evaluate_all(_SHOWN) == [], selector
    # The decision is there in words, black on white (no colour needed to read it).
    decision = page.locator("[data-testid=decision]")
    assert decision.is_visible()
    assert decision.text_content().strip() == overridden_application.final_decision
    assert page.locator("[data-testid=override-note]").is_visible()
    # Who printed it and when (#15.6); on screen the line is not shown.
    printed_by = page.locator("[data-testid=printed-by]")
    assert printed_by.is_visible() and printed_by.text_content().startswith("Printed by print-officer at ")
    assert page.evaluate(_VISIBLE_TEXT_COLOURS) == ["rgb(0, 0, 0)"]
    assert set(page.evaluate(_BACKGROUNDS)) <= {"rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"}
    assert axe_violations(page) == []
    # Every field, hash and table fits the width of the paper.
    assert page.evaluate(_WIDER_THAN_THE_PAGE, PRINTABLE_WIDTH) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PRINTABLE_WIDTH
    pdf = page.pdf(format="A4", margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")
    assert not page.locator("[data-testid=printed-by]").is_visible()
