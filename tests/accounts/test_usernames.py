"""Usernames made in the admin: no invisible or control characters (look-alike accounts)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts import roles
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/auth/user/add/"
PASSWORD = "a-long-enough-password-42"


@pytest.fixture
def admin_client_(client_for):
    return client_for(roles.ADMIN)


@pytest.mark.parametrize(
    ("username", "named"),
    # Django's username field applies NFKC first, which turns U+3164 into U+1160.
    [("ad\u3164min", "U+1160 (HANGUL JUNGSEONG FILLER)"), ("officer\u115f", "U+115F (HANGUL CHOSEONG FILLER)")],
)
def test_a_look_alike_username_is_refused_with_a_message(admin_client_, username, named):
    response = admin_client_.post(
        ADD, {"username": username, "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["username"]
    assert any(named in error and "invisible or control character" in error for error in errors), errors
    assert not get_user_model().objects.filter(username=username).exists()


def test_renaming_to_a_look_alike_username_is_refused(admin_client_):
    user = UserFactory(role=roles.OFFICER, username="olivia")
    response = admin_client_.post(
        f"/admin/auth/user/{user.pk}/change/",
        {"username": "olivia\u3164", "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )
    assert response.status_code == 200
    assert "invisible or control character" in " ".join(response.context["adminform"].form.errors["username"])
    user.refresh_from_db()
    assert user.username == "olivia"


def test_an_ordinary_username_is_accepted(admin_client_):
    response = admin_client_.post(
        ADD, {"username": "new.officer", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else None
    assert get_user_model().objects.filter(username="new.officer").exists()
