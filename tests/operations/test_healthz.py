"""/healthz: green only when the database reads and writes and the model is verified.

The answer is public, so it says up or down and nothing else (no model
version or hash, no database vendor); which check failed, and why, is in
the log for the operators.
"""

from __future__ import annotations

import shutil

import pytest
from django.db import OperationalError, connection
from django.test import Client

from operations.models import Heartbeat

pytestmark = pytest.mark.django_db


def _health() -> tuple[int, dict]:
    response = Client().get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return response.status_code, response.json()


def test_green_when_database_and_model_are_fine():
    status, body = _health()
    assert status == 200
    assert body == {"status": "ok"}
    assert Heartbeat.objects.count() == 0  # the probe write was rolled back


def test_an_anonymous_answer_names_no_model_hash_or_database():
    from scoring.model_cache import get_model

    model = get_model()
    text = Client().get("/healthz").content.decode()
    assert model.version not in text and model.sha256 not in text
    assert "sqlite" not in text and "postgresql" not in text and "vendor" not in text


def test_needs_no_login_and_opens_no_session():
    client = Client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_red_naming_the_model_when_its_artifact_is_removed(private_store, caplog):
    from scoring.model_cache import get_model

    version = get_model().version
    artifact = private_store / version / "model.joblib"
    moved = private_store / "model.joblib.away"
    shutil.move(artifact, moved)
    status, body = _health()
    assert status == 503
    assert body == {"status": "fail"}
    assert "healthz red: model: ModelUnavailable" in caplog.text and "database:" not in caplog.text
    # Put back: green again, no restart.
    shutil.move(moved, artifact)
    assert _health()[0] == 200


def test_red_when_the_artifact_is_corrupted(private_store):
    from scoring.model_cache import get_model

    artifact = private_store / get_model().version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:-100] + b"\0" * 100)
    status, body = _health()
    assert status == 503 and body == {"status": "fail"}


def test_red_naming_the_database_when_it_is_unreachable(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    status, body = _health()
    assert status == 503 and body == {"status": "fail"}
    # The public response names nothing; the log has the check and the reason.
    assert "healthz red: database: OperationalError" in caplog.text and "Connection refused" in caplog.text
    assert "model:" not in caplog.text
    monkeypatch.undo()
    assert _health()[0] == 200  # back without a restart


def test_red_when_the_database_reads_but_refuses_writes(monkeypatch, caplog):
    from operations import health

    def read_only(**kwargs):
        raise OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(health.Heartbeat.objects, "create", read_only)
    status, body = _health()
    assert status == 503 and body == {"status": "fail"}
    assert "database: OperationalError: attempt to write a readonly database" in caplog.text


def test_both_red_at_once(monkeypatch, private_store, caplog):
    from scoring.model_cache import get_model

    (private_store / get_model().version / "model.joblib").unlink()
    monkeypatch.setattr(connection, "cursor", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    status, body = _health()
    assert status == 503 and body == {"status": "fail"}
    assert "healthz red: database: OperationalError: down; model: " in caplog.text


def test_answers_json_when_the_database_is_down_even_with_a_session_cookie(monkeypatch):
    from accounts import roles
    from tests.support.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    monkeypatch.setattr(connection, "cursor", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}
