"""Browser-test support: Debian's Chromium, the marks every browser test carries,
signing in, and the accessibility check (axe-core, vendored in ``vendor/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BROWSER_MARKS = [
    # live_server needs committed data, so these tests run in a transactional
    # database (flushed afterwards; tests.builders recreates the role groups).
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

# axe-core 4.14.1, unmodified (vendor/README.md): run from our files, never a CDN.
AXE_SOURCE = Path(__file__).with_name("vendor") / "axe.min.js"
# The impacts the product must never have; "moderate" and "minor" are reported, not failed on.
BLOCKING_IMPACTS = ("serious", "critical")

_RUN_AXE = """async (impacts) => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations
    .filter((v) => impacts.includes(v.impact))
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}"""


def sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def fill_application_form(page: Any, data: dict[str, str]) -> None:
    """Type ``data`` into the new-application form as an officer would (selects chosen, inputs filled)."""
    for name, value in data.items():
        selector = f"[name={name}]"
        if page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings on the page as it is now.

    The script is evaluated through the DevTools protocol, so the page's
    Content-Security-Policy (no inline scripts) stays on and is not weakened
    for the test; a page whose CSP blocked our own files would still fail.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    return page.evaluate(_RUN_AXE, list(BLOCKING_IMPACTS))


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def sideways_scroll(page: Any) -> int:
    """How many CSS pixels the document is wider than its viewport, scrollbar excluded (0: fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
