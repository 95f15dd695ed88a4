"""Security headers on every page (login, workbench, admin, audit, every error page),
the HTTPS redirect, the proxy toggle, and templates free of inline script/style."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts import roles
from tests.support.factories import UserFactory
from tests.support.security import assert_security_headers, production_headers, scored_application

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production(settings):
    production_headers(settings)


def _client(user=None, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def test_login_page_and_anonymous_redirect():
    client = _client()
    assert_security_headers(client.get("/accounts/login/", secure=True))
    response = client.get("/applications/new/", secure=True)
    assert response.status_code == 302
    assert_security_headers(response)


def test_workbench_pages_for_an_officer():
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer)
    client = _client(officer)
    for url in (
        "/",
        "/applications/new/",
        "/applications/",
        f"/applications/{application.pk}/",
        "/applications/export.csv",
    ):
        response = client.get(url, secure=True)
        assert response.status_code in (200, 302), (url, response.status_code)
        assert_security_headers(response)


def test_audit_and_admin_pages():
    assert_security_headers(_client(UserFactory(role=roles.AUDITOR)).get("/audit/", secure=True))
    admin = UserFactory(role=roles.ADMIN, is_superuser=True)
    client = _client(admin)
    for url in ("/admin/", "/admin/applications/loanapplication/", "/admin/login/"):
        response = client.get(url, secure=True)
        assert response.status_code in (200, 302), (url, response.status_code)
        assert_security_headers(response)


def test_403_and_404_pages():
    client = _client(UserFactory(role=roles.OFFICER))
    forbidden = client.get("/audit/", secure=True)
    assert forbidden.status_code == 403
    assert_security_headers(forbidden)
    missing = client.get("/no-such-page/", secure=True)
    assert missing.status_code == 404
    assert_security_headers(missing)


def test_csrf_failure_page():
    client = _client(UserFactory(role=roles.OFFICER), enforce_csrf_checks=True)
    response = client.post("/applications/new/", {}, secure=True)
    assert response.status_code == 403
    assert_security_headers(response)


@pytest.mark.urls("tests.support.fault_urls")
def test_500_and_503_pages():
    client = _client(raise_request_exception=False)
    error = client.get("/test-faults/boom/", secure=True)
    assert error.status_code == 500
    assert_security_headers(error)
    down = client.get("/test-faults/database-down/", secure=True)
    assert down.status_code == 503
    assert_security_headers(down)


def test_lockout_page(settings):
    settings.AXES_FAILURE_LIMIT = 2
    user = UserFactory(role=roles.OFFICER)
    client = _client()
    for _ in range(2):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong-password-000"}, secure=True)
    locked = client.post("/accounts/login/", {"username": user.username, "password": "wrong-password-000"}, secure=True)
    assert locked.status_code == 429
    assert_security_headers(locked)


def test_healthz_carries_the_headers_too():
    assert_security_headers(_client().get("/healthz", secure=True))


def test_hsts_only_over_https():
    response = _client().get("/accounts/login/")
    assert "Strict-Transport-Security" not in response
    assert_security_headers(response, secure=False)


def test_plain_http_is_redirected_to_https_except_the_health_probe(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = _client()
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"
    assert client.get("/healthz").status_code == 200


def test_behind_a_tls_terminating_load_balancer(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = _client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert_security_headers(response)


def test_hsts_preload_toggle(settings):
    settings.SECURE_HSTS_PRELOAD = True
    response = _client().get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_templates_have_no_inline_script_or_style():
    """The CSP forbids inline code; a template with some would silently break."""
    problems = []
    for template in sorted(Path(django_settings.BASE_DIR, "templates").rglob("*.html")):
        text = template.read_text()
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                problems.append(f"{template.relative_to(django_settings.BASE_DIR)}: {what}: {match.group(0)!r}")
    assert problems == []


def _production_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "k3y-" + "q8Zr5tWv1xYb7nPc0mLd2sFg6hJk4aEo9uIy3" * 2,
            "DJANGO_ALLOWED_HOSTS": "credit.bank.example",
        }
    )
    if "DATABASE_URL" in os.environ:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.update(extra)
    return env


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=_production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (1 silenced)" in result.stdout  # security.W021, see docs/deploy-checks.md


@pytest.mark.slow
def test_check_deploy_flags_a_weakened_setting():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECURE_COOKIES="0")
    assert result.returncode != 0
    assert "security.W012" in result.stderr + result.stdout and "security.W016" in result.stderr + result.stdout


def test_production_defaults_follow_from_debug_off_alone():
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.X_FRAME_OPTIONS, "
        "s.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[1], s.LOGGING['handlers']['stdout']['formatter'])"
    )
    result = _manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "True",
        "DENY",
        "CompressedManifestStaticFilesStorage",
        "json",
    ]


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_every_page_with_applicant_data_is_no_store():
    officer = UserFactory(role=roles.OFFICER)
    application = scored_application(officer)
    reviewer = _client(UserFactory(role=roles.REVIEWER))
    auditor = _client(UserFactory(role=roles.AUDITOR))
    pages = [
        (_client(officer), f"/applications/{application.pk}/"),
        (_client(officer), "/applications/"),
        (_client(officer), "/applications/?format=csv"),
        (_client(officer), "/applications/export.csv"),
        (reviewer, f"/reviews/{application.pk}/"),
        (reviewer, "/reviews/"),
        (auditor, "/audit/"),
        (auditor, "/audit/decisions.csv"),
        (auditor, "/audit/access/"),
        (_client(officer), "/applications/999999/"),  # error pages too
        (_client(officer), "/audit/"),
    ]
    for client, url in pages:
        response = client.get(url, secure=True)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        assert _no_store(response), (url, response.get("Cache-Control"))
    response = reviewer.post(f"/reviews/{application.pk}/", {"decision": "", "explanation": ""}, secure=True)
    assert response.status_code == 400 and _no_store(response)


def test_static_files_stay_cacheable():
    response = _client().get("/static/css/app.css", secure=True)
    assert response.status_code == 200 and not _no_store(response)
