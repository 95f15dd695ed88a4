"""Shared fixtures. Keep this small: module-specific fixtures live in their modules."""

from __future__ import annotations

import pytest

from applications import roles
from tests.builders import make_user


@pytest.fixture
def officer(db):
    return make_user(roles.OFFICER)


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    client.user = officer
    return client


@pytest.fixture
def client_for(db):
    """``client_for(role)`` -> a fresh logged-in test Client with ``.user`` set."""
    from django.test import Client

    def build(role: str | None, **kwargs):
        user = make_user(role, **kwargs)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return build


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing costs ~0.3 s per user; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
