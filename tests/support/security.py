"""Helpers shared by the security tests."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from tests.support.factories import PASSWORD, scored_application  # noqa: F401 - re-exported

PRODUCTION_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def production_headers(settings) -> None:
    """The production header settings, whatever DJANGO_DEBUG this run has."""
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_CONTENT_TYPE_NOSNIFF = True
    settings.SECURE_REFERRER_POLICY = "same-origin"
    settings.X_FRAME_OPTIONS = "DENY"
    settings.DEBUG = False


def assert_security_headers(response, *, secure: bool = True) -> None:
    for header, value in PRODUCTION_HEADERS.items():
        assert response.get(header) == value, (header, response.status_code, response.get(header))
    csp = response.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "script-src 'self'" in csp, csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    if secure:
        assert response.get("Strict-Transport-Security") == "max-age=31536000; includeSubDomains", response.status_code


def password_client(user, **kwargs) -> Client:
    """A client signed in through the real login form (not force_login)."""
    client = Client(**kwargs)
    response = client.post("/accounts/login/", {"username": user.get_username(), "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


__all__ = ["get_user_model", "PASSWORD"]
