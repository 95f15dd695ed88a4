"""Every URL refuses a POST without a CSRF token, and GET changes nothing.

The walk covers every URL pattern of the project (login, logout, the
workbench, the review pages, the audit pages, every admin page), so a view added
later with ``csrf_exempt`` fails here without anyone remembering to add it.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from accounts import roles
from applications.models import LoanApplication
from audit.models import CaseRecord
from tests.support.factories import PASSWORD, UserFactory, application_form_data
from tests.support.security import scored_application

pytestmark = pytest.mark.django_db


def _named_patterns(patterns, namespace: str = "") -> list[tuple[str, list[str]]]:
    """(name, parameter names) of every named URL pattern, namespaces included."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += _named_patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.append((namespace + pattern.name, list(pattern.pattern.regex.groupindex)))
    return found


def _unnamed_paths(patterns, prefix: str = "") -> list[str]:
    paths = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            paths += _unnamed_paths(pattern.url_patterns, prefix + str(pattern.pattern))
        elif not pattern.name and "<" not in str(pattern.pattern) and "(" not in str(pattern.pattern):
            paths.append("/" + prefix + str(pattern.pattern))
    return paths


def _all_urls(application: LoanApplication) -> list[str]:
    samples = {
        "pk": application.pk,
        "object_id": str(application.pk),
        "id": application.pk,
        "app_label": "applications",
        "content_type_id": 1,
        "uidb64": "MQ",
        "token": "x-y",
        "name": "daily",  # monitoring:csv
        "proposal_id": 1,  # governance: approve, reject, withdraw
    }
    urls = set(_unnamed_paths(get_resolver().url_patterns))
    skipped = []
    for name, params in _named_patterns(get_resolver().url_patterns):
        try:
            urls.add(reverse(name, kwargs={param: samples[param] for param in params}))
        except (KeyError, NoReverseMatch):
            skipped.append(name)
    assert skipped == [], f"add sample values for: {skipped}"
    return sorted(urls)


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.label
        not in {
            "sessions.Session",
            "audit.AccessEvent",
            "audit.AnonymousAccessTally",  # the refusals themselves are logged
            "axes.AccessAttempt",
            "axes.AccessFailureLog",
            "axes.AccessLog",
        }
    }


def test_every_url_refuses_a_post_without_a_csrf_token():
    application = scored_application()
    superuser = UserFactory(role=roles.ADMIN, is_superuser=True)
    urls = _all_urls(application)
    assert {
        "/accounts/login/",
        "/accounts/logout/",
        "/applications/new/",
        f"/reviews/{application.pk}/",
        f"/reviews/{application.pk}/claim/",
        f"/reviews/{application.pk}/release/",
        "/admin/login/",
    } <= set(urls)
    assert sum(url.startswith("/admin/") for url in urls) > 20
    before = _row_counts()
    anonymous = Client(enforce_csrf_checks=True)
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(superuser)
    refused = []
    for url in urls:
        for client in (anonymous, signed_in):
            response = client.post(
                url,
                {
                    **application_form_data(),
                    "username": superuser.username,
                    "password": PASSWORD,
                    "decision": "DECLINE",
                    "reason_code": "DEC-AFFORD",
                    "explanation": "a long enough reason here",
                    "version": "0",
                    "confirmed": "yes",
                    "post": "yes",
                },
            )
            if url.startswith("/api/"):
                # The API takes tokens only (no cookie): a session is not a credential there (401);
                # the schema and docs pages, which do read a session, refuse a POST without the token (403).
                if response.status_code not in (401, 403):
                    refused.append((url, client is signed_in, response.status_code))
            elif response.status_code != 403 or b"CSRF" not in response.content:
                refused.append((url, client is signed_in, response.status_code))
    assert refused == []
    assert _row_counts() == before
    assert "_auth_user_id" not in anonymous.session  # the login POST did not sign in
    assert signed_in.get("/applications/new/").status_code == 200  # the logout POST did not sign out


def test_the_same_posts_work_with_a_token():
    """Control: the refusals above are the CSRF check, not a broken form."""
    officer = UserFactory(role=roles.OFFICER)
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/", {"username": officer.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    client.get("/applications/new/")
    token = client.cookies["csrftoken"].value
    response = client.post("/applications/new/", {**application_form_data(), "csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert LoanApplication.objects.count() == 1
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/applications/new/").status_code == 302


def test_get_to_logout_does_not_sign_out():
    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    response = client.get("/accounts/logout/")
    assert response.status_code == 405
    assert client.get("/applications/new/").status_code == 200


def test_get_to_new_with_form_data_stores_nothing():
    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    response = client.get("/applications/new/", application_form_data())
    assert response.status_code == 200
    assert LoanApplication.objects.count() == 0


def test_get_to_the_case_page_with_form_data_changes_nothing():
    application = scored_application()
    reviewer = UserFactory(role=roles.REVIEWER)
    client = Client()
    client.force_login(reviewer)
    target = "DECLINE" if application.final_decision != "DECLINE" else "APPROVE"
    response = client.get(
        f"/reviews/{application.pk}/",
        {
            "decision": target,
            "reason_code": "DEC-AFFORD",
            "explanation": "a long enough reason for the change",
            "version": "0",
            "confirmed": "yes",
        },
    )
    assert response.status_code == 200
    assert client.get(f"/reviews/{application.pk}/claim/").status_code == 405
    application.refresh_from_db()
    assert application.final_decision == application.decision and application.case_version == 0
    assert CaseRecord.objects.count() == 0


def test_no_view_is_csrf_exempt():
    """Except the API's: Django REST Framework exempts its views and checks CSRF itself where it reads a session.

    The /api/v1/ endpoints authenticate with a token in a header only, which a
    cross-site form cannot send; the schema and docs views also accept a
    session but are GET only, and DRF's SessionAuthentication enforces CSRF on
    any unsafe method.
    """
    from api.urls import urlpatterns as api_patterns

    api_views = {pattern.callback for pattern in api_patterns}
    exempt = []
    for pattern in get_resolver().url_patterns:
        for callback in _callbacks(pattern):
            if getattr(callback, "csrf_exempt", False) and callback not in api_views:
                exempt.append(callback)
    assert exempt == []
    for callback in api_views:
        authenticators = callback.view_class.authentication_classes
        names = {cls.__name__ for cls in (authenticators or [])}
        assert names <= {"ApiTokenAuthentication", "SessionAuthentication"}


def _callbacks(pattern):
    if isinstance(pattern, URLResolver):
        for inner in pattern.url_patterns:
            yield from _callbacks(inner)
    else:
        yield pattern.callback
