"""Idle and absolute session timeouts, and the cheap write path (one session
write a minute at most), via accounts.sessions.SessionTimeoutMiddleware."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import roles
from accounts import sessions as timeouts
from tests.support.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, start: int = 1_800_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timeouts, "_now", clock)
    return clock


@pytest.fixture
def signed_in(clock):
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _row(client: Client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def test_sign_in_stamps_the_login_and_activity_times(signed_in, clock):
    data = _row(signed_in).get_decoded()
    assert data[timeouts.LOGIN_AT_KEY] == clock.now
    assert data[timeouts.ACTIVITY_KEY] == clock.now


def test_idle_session_is_ended(signed_in, clock, settings):
    assert settings.SESSION_IDLE_TIMEOUT == 30 * 60
    clock.now += 29 * 60
    assert signed_in.get("/applications/new/").status_code == 200
    clock.now += 30 * 60  # idle since the last request
    key = signed_in.cookies["sessionid"].value
    response = signed_in.get("/applications/new/?x=1")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/applications/new/%3Fx%3D1"
    assert not Session.objects.filter(session_key=key).exists()
    page = signed_in.get(response["Location"])
    assert "signed out after 30 minutes without activity" in page.content.decode()
    assert signed_in.get("/applications/new/").status_code == 302


def test_activity_keeps_the_session_alive(signed_in, clock):
    for _ in range(5):
        clock.now += 20 * 60
        assert signed_in.get("/applications/new/").status_code == 200


def test_absolute_timeout_ends_even_a_busy_session(signed_in, clock, settings):
    assert settings.SESSION_ABSOLUTE_TIMEOUT == 10 * 60 * 60
    for _ in range(9 * 4 + 3):  # 9 h 45 min of activity every 15 minutes
        clock.now += 15 * 60
        assert signed_in.get("/applications/new/").status_code == 200
    clock.now += 15 * 60
    response = signed_in.get("/applications/new/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "maximum length" in signed_in.get(response["Location"]).content.decode()


def test_a_post_after_the_timeout_is_not_acted_on(signed_in, clock):
    from applications.models import LoanApplication
    from tests.support.factories import application_form_data

    clock.now += 31 * 60
    response = signed_in.post("/applications/new/", application_form_data())
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert LoanApplication.objects.count() == 0


def test_the_session_row_is_written_at_most_once_a_minute(signed_in, clock):
    """Keeps the submission path free of a session write per request."""
    first = _row(signed_in)
    for _ in range(10):
        clock.now += 5
        assert signed_in.get("/applications/new/").status_code == 200
    after_50s = _row(signed_in)
    assert after_50s.session_data == first.session_data and after_50s.expire_date == first.expire_date
    clock.now += 15
    signed_in.get("/applications/new/")
    assert _row(signed_in).get_decoded()[timeouts.ACTIVITY_KEY] == clock.now


def test_a_session_without_stamps_gets_them_instead_of_being_dropped(clock):
    """Sessions opened another way (force_login, before an upgrade) start their clocks now."""
    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    assert client.get("/applications/new/").status_code == 200
    data = _row(client).get_decoded()
    assert data[timeouts.LOGIN_AT_KEY] == data[timeouts.ACTIVITY_KEY] == clock.now


def test_anonymous_requests_create_no_session(clock):
    client = Client()
    client.get("/accounts/login/")
    client.get("/healthz")
    assert Session.objects.count() == 0


def test_cookie_flags(settings, signed_in):
    cookie = signed_in.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_ABSOLUTE_TIMEOUT


def test_cookies_are_secure_in_production(settings):
    """Production values (DEBUG off) are checked in test_security_headers; here the flag itself."""
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    client.get("/accounts/login/", secure=True)
    assert client.cookies["csrftoken"]["secure"] is True
    client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, secure=True)
    assert client.cookies["sessionid"]["secure"] is True


def test_login_page_says_the_session_expired_when_its_row_is_gone(signed_in, clock):
    """A session cookie whose session no longer exists (expired overnight, cleared by
    clearsessions) leads to a login page that says why (issue #13, point 14)."""
    _row(signed_in).delete()
    response = signed_in.get("/applications/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert "Your session has expired. Please sign in again." in response.content.decode()


def test_login_page_after_signing_out_does_not_talk_of_expiry(signed_in):
    response = signed_in.post("/accounts/logout/", follow=True)
    assert "expired" not in response.content.decode()


def test_signing_in_again_with_a_stale_cookie_does_not_say_expired_afterwards(signed_in):
    """The sign-in form posted with the old cookie: the officer is signed in, not told it expired."""
    username = get_user_model().objects.get().username
    _row(signed_in).delete()
    response = signed_in.post("/accounts/login/", {"username": username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/applications/new/"
    assert "expired" not in response.content.decode()
