"""Review-workflow fixtures: reviewers, and the seeded reason codes back after a transactional test's flush."""

from __future__ import annotations

import pytest

from accounts import roles
from reviews.reason_codes import seed_reason_codes
from tests.support.factories import UserFactory


@pytest.fixture(autouse=True)
def reason_codes(db):
    """The migration's reason codes (a flush by an earlier transactional test removes them)."""
    seed_reason_codes()


@pytest.fixture
def reviewer(db):
    return UserFactory(role=roles.REVIEWER)


@pytest.fixture
def second_reviewer(db):
    return UserFactory(role=roles.REVIEWER)
