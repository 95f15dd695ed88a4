"""Fixtures of the browser tests: a live server over HTTP and a Chromium page."""

from __future__ import annotations

import os

import pytest

from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def live_server():
    """pytest-django's live server, over plain HTTP on loopback.

    Production settings (DEBUG off) redirect to HTTPS and mark cookies
    Secure; the test server speaks only HTTP. The security middleware reads
    those settings when the server starts, so they are relaxed here, for
    this module's server only, rather than for the whole suite.
    """
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    with override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False, SECURE_HSTS_SECONDS=0
    ):
        server = LiveServer("localhost")
        yield server
        server.stop()


@pytest.fixture
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between page actions are plain synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
