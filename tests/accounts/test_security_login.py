"""Sign-in: throttling and lockout (django-axes), a new session on login,
password rules, and demo accounts that cannot sign in with DEBUG off."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from accounts import roles
from tests.support.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-123"


def _login(client: Client, username: str, password: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_five_failures_lock_the_account_for_fifteen_minutes_with_a_clear_page(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    for attempt in range(4):
        response = _login(client, user.username, WRONG)
        assert response.status_code == 200, attempt  # the form again, with its error
    fifth = _login(client, user.username, WRONG)
    assert fifth.status_code == 429
    text = fifth.content.decode()
    assert "Sign-in temporarily locked" in text and "15 minutes" in text and "5 failed" in text
    # Locked: even the right password is refused, and no session is opened.
    right = _login(client, user.username, PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/applications/new/").status_code == 302  # still sent to login


def test_the_lockout_is_per_username_and_address(settings):
    victim = UserFactory(role=roles.OFFICER)
    other = UserFactory(role=roles.OFFICER)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        _login(attacker, victim.username, WRONG)
    assert _login(attacker, victim.username, PASSWORD).status_code == 429
    # The real officer, from their own desk, is not locked out by the attacker...
    assert _login(Client(REMOTE_ADDR="198.51.100.7"), victim.username, PASSWORD).status_code == 302
    # ...and the attacker's address is not locked for another account.
    assert _login(attacker, other.username, PASSWORD).status_code == 302


def test_the_lock_expires_after_the_cool_off(settings):
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    for _ in range(5):
        _login(client, user.username, WRONG)
    assert _login(client, user.username, PASSWORD).status_code == 429
    # Fifteen minutes and a second later (attempt times moved back instead of sleeping).
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=15, seconds=1)
    )
    assert _login(client, user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_failure_count():
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    for _ in range(4):
        _login(client, user.username, WRONG)
    assert _login(client, user.username, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert _login(client, user.username, WRONG).status_code == 200
    assert _login(client, user.username, PASSWORD).status_code == 302


def test_behind_a_load_balancer_the_forwarded_client_address_is_throttled(settings):
    """With one trusted proxy, officers behind the same balancer are told apart."""
    settings.TRUSTED_PROXY_COUNT = 1
    user = UserFactory(role=roles.OFFICER)
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    for _ in range(5):
        _login(attacker, user.username, WRONG)
    assert _login(attacker, user.username, PASSWORD).status_code == 429
    officer = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert _login(officer, user.username, PASSWORD).status_code == 302
    # A forged left-most entry does not escape the lock: the balancer's own entry counts.
    forged = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
    assert _login(forged, user.username, PASSWORD).status_code == 429


def test_admin_login_is_throttled_too():
    admin = UserFactory(role=roles.ADMIN, is_superuser=True)
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": admin.username, "password": WRONG})
    response = client.post("/admin/login/?next=/admin/", {"username": admin.username, "password": PASSWORD})
    assert response.status_code == 429


def test_sign_in_starts_a_new_session():
    """Session fixation: a session id known before sign-in is worthless after it."""
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    client.get("/accounts/login/")
    session = client.session
    session["planted"] = "by an attacker"
    session.save()
    before = session.session_key
    assert _login(client, user.username, PASSWORD).status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.get("/applications/new/").status_code == 200


def test_sign_out_ends_the_session_on_the_server():
    user = UserFactory(role=roles.OFFICER)
    client = Client()
    _login(client, user.username, PASSWORD)
    key = client.cookies["sessionid"].value
    assert client.post("/accounts/logout/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/applications/new/").status_code == 302


@pytest.mark.parametrize(
    "password, accepted",
    [
        ("short-pw-1", False),  # 10 characters
        ("12345678901234", False),  # numeric
        ("password123456", False),  # common
        ("tidal-basin-kettle-9", True),
    ],
)
def test_password_rules(password, accepted):
    user = get_user_model()(username="someone")
    if accepted:
        password_validation.validate_password(password, user)
    else:
        with pytest.raises(ValidationError):
            password_validation.validate_password(password, user)


def test_minimum_password_length_is_twelve():
    with pytest.raises(ValidationError, match="at least 12 characters"):
        password_validation.validate_password("abcdefghjk7", get_user_model()(username="x"))
    password_validation.validate_password("abcdefghjk7q", get_user_model()(username="x"))


# --- Demo accounts ----------------------------------------------------------------


def _demo_user():
    return UserFactory(role=roles.OFFICER, username="demo-officer")


def test_demo_account_cannot_sign_in_with_debug_off(settings):
    settings.DEBUG = False
    _demo_user()
    response = _login(Client(), "demo-officer", PASSWORD)
    assert response.status_code == 200  # the form again
    assert "_auth_user_id" not in response.client.session
    assert authenticate(username="demo-officer", password=PASSWORD) is None


def test_an_open_demo_session_ends_when_debug_goes_off(settings):
    settings.DEBUG = True
    demo = _demo_user()
    client = Client()
    assert _login(client, demo.username, PASSWORD).status_code == 302
    settings.DEBUG = False
    assert client.get("/applications/new/").status_code == 302


def test_demo_account_works_in_development(settings):
    settings.DEBUG = True
    _demo_user()
    assert _login(Client(), "demo-officer", PASSWORD).status_code == 302


def _deploy_check() -> str:
    from django.core.management.base import SystemCheckError

    out = io.StringIO()
    try:
        call_command("check", deploy=True, stdout=out, stderr=out)
    except SystemCheckError as error:
        return str(error)
    return out.getvalue()


def test_deploy_check_errors_while_a_demo_account_is_active(settings):
    settings.DEBUG = False
    demo = _demo_user()
    report = _deploy_check()
    assert "operations.E001" in report and "demo-officer" in report
    demo.is_active = False
    demo.save()
    assert "operations.E001" not in _deploy_check()


def test_create_demo_officer_refuses_with_debug_off(settings):
    from django.core.management import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("create_demo_officer", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="demo-officer").exists()


@pytest.mark.parametrize(
    "next_url", ["/accounts/login/", "/accounts/login/?next=/accounts/login/", "http://testserver/accounts/login/"]
)
def test_a_signed_in_user_sent_back_to_the_login_page_lands_on_the_home_page(next_url):
    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    response = client.get("/accounts/login/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"
