"""Shared fixtures. Keep this small: module-specific fixtures live in their modules."""

from __future__ import annotations

import pytest

from accounts import roles
from tests.support.factories import UserFactory

# ``private_store``: a copy of the model store a test may damage.
pytest_plugins = ["tests.support.scoring"]


@pytest.fixture
def officer(db):
    return UserFactory(role=roles.OFFICER)


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
        user = UserFactory(role=role, **kwargs)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return build
