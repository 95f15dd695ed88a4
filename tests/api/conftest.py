"""API test clients: a user in a role holding a token an admin created for them."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import roles
from api.services import create_api_token
from tests.support.factories import UserFactory


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # rate and failed-sign-in counters
    yield
    cache.clear()


@pytest.fixture
def admin_user(db):
    return UserFactory(role=roles.ADMIN)


@pytest.fixture
def api_for(admin_user):
    """``api_for(role)`` -> an APIClient sending a fresh token of a new user in ``role`` (``.user``, ``.token``)."""

    def build(role: str | None, user=None):
        user = user or UserFactory(role=role)
        row, token = create_api_token(user=user, name="test system", days=30, created_by=admin_user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user, client.token, client.token_row = user, token, row
        return client

    return build
