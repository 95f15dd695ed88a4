"""operations.sessions.SessionStore.decode: Django's result, signature checked once per row content and key."""

from __future__ import annotations

import logging

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore

from operations import sessions
from operations.sessions import SessionStore

DATA = {
    "_auth_user_id": "7",
    "_auth_user_backend": "operations.auth_backends.ProductionModelBackend",
    "_auth_user_hash": "ab" * 32,
    "_ops_login_at": 1_800_000_000,
    "nested": {"list": [1, 2]},
}


@pytest.fixture(autouse=True)
def empty_cache():
    sessions._verified_payloads.clear()
    yield
    sessions._verified_payloads.clear()


def test_decodes_what_django_encodes_and_verifies_once(monkeypatch):
    encoded = DjangoSessionStore().encode(DATA)
    assert SessionStore().decode(encoded) == DATA == DjangoSessionStore().decode(encoded)
    calls = []
    real_loads = sessions.signing.loads
    monkeypatch.setattr(sessions.signing, "loads", lambda *a, **k: calls.append(1) or real_loads(*a, **k))
    for _ in range(3):
        assert SessionStore().decode(encoded) == DATA
    assert calls == []  # verified on the first decode above, remembered since


def test_each_decode_is_a_fresh_dict():
    encoded = DjangoSessionStore().encode(DATA)
    first = SessionStore().decode(encoded)
    first["nested"]["list"].append(3)
    first["_auth_user_id"] = "8"
    assert SessionStore().decode(encoded) == DATA


def test_tampered_data_is_an_empty_session_and_logged(caplog):
    encoded = DjangoSessionStore().encode(DATA)
    tampered = encoded[:-3] + ("AAA" if not encoded.endswith("AAA") else "BBB")
    with caplog.at_level(logging.WARNING, logger="django.security.SuspiciousSession"):
        assert SessionStore().decode(tampered) == {}
    assert "Session data corrupted" in caplog.text
    assert SessionStore().decode(encoded) == DATA


def test_a_new_secret_key_is_not_fooled_by_the_remembered_verification(settings):
    encoded = DjangoSessionStore().encode(DATA)
    assert SessionStore().decode(encoded) == DATA
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-key-" + "x" * 50
    assert SessionStore().decode(encoded) == {}
    settings.SECRET_KEY_FALLBACKS = [old_key]  # rotation: the old key still verifies
    assert SessionStore().decode(encoded) == DATA


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(sessions, "_VERIFIED_PAYLOADS_MAX", 3)
    for number in range(10):
        assert SessionStore().decode(DjangoSessionStore().encode({"n": number})) == {"n": number}
        assert len(sessions._verified_payloads) <= 3
