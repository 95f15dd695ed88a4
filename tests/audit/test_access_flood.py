"""Anonymous requests cannot grow the permanent access log without bound.

Each (client address, action, hour) keeps its first few anonymous events
individually and counts the rest in one tally row; signed-in users' events
stay individual.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import roles
from audit.models import AccessEvent, AnonymousAccessTally
from audit.services import ANONYMOUS_EVENTS_PER_WINDOW
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

FLOOD = 300


def _rows() -> int:
    return AccessEvent.objects.count() + AnonymousAccessTally.objects.count()


def test_an_anonymous_flood_adds_a_bounded_number_of_rows():
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9")
    padding = "x" * 480
    for _ in range(FLOOD):
        assert client.post(f"/healthz?{padding}").status_code == 403  # no CSRF token
    events = AccessEvent.objects.filter(action="permission_denied", ip="203.0.113.9")
    assert events.count() == ANONYMOUS_EVENTS_PER_WINDOW < FLOOD
    assert _rows() <= ANONYMOUS_EVENTS_PER_WINDOW + 1
    tally = AnonymousAccessTally.objects.get(ip="203.0.113.9", action="permission_denied")
    assert tally.count == FLOOD  # nothing is lost: the rest is counted
    assert tally.dropped == FLOOD - ANONYMOUS_EVENTS_PER_WINDOW


def test_failed_sign_ins_after_the_lockout_are_counted_not_stored_one_by_one():
    user = UserFactory(role=roles.OFFICER)
    client = Client(REMOTE_ADDR="198.51.100.4")
    for _ in range(60):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong-password-123"})
    stored = AccessEvent.objects.filter(action="login_failed", ip="198.51.100.4")
    assert stored.count() == ANONYMOUS_EVENTS_PER_WINDOW
    assert stored.first().username == user.username  # the individual events name who was tried
    assert AnonymousAccessTally.objects.get(ip="198.51.100.4", action="login_failed").count == 60


def test_another_client_still_gets_its_own_events():
    for address in ("192.0.2.1", "192.0.2.2"):
        client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
        for _ in range(ANONYMOUS_EVENTS_PER_WINDOW + 5):
            client.post("/healthz")
    for address in ("192.0.2.1", "192.0.2.2"):
        assert AccessEvent.objects.filter(ip=address).count() == ANONYMOUS_EVENTS_PER_WINDOW


def test_signed_in_users_events_stay_individual():
    client = Client()
    officer = UserFactory(role=roles.OFFICER)
    client.force_login(officer)
    for _ in range(ANONYMOUS_EVENTS_PER_WINDOW + 10):
        assert client.get("/audit/").status_code == 403
    assert AccessEvent.objects.filter(user=officer, action="permission_denied").count() == (
        ANONYMOUS_EVENTS_PER_WINDOW + 10
    )
    assert not AnonymousAccessTally.objects.exists()
