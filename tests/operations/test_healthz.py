"""/healthz: green only when the database reads and writes and the model is verified."""

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
    assert body["status"] == "ok" and body["failed"] == []
    assert body["checks"]["database"]["ok"] is True
    model = body["checks"]["model"]
    assert model["ok"] is True and model["version"] and len(model["sha256"]) == 64
    assert Heartbeat.objects.count() == 0  # the probe write was rolled back


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
    assert body["status"] == "fail" and body["failed"] == ["model"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["model"] == {"ok": False, "error": "ModelUnavailable"}
    assert str(private_store) not in str(body)
    assert "healthz red: model: " in caplog.text
    # Put back: green again, no restart.
    shutil.move(moved, artifact)
    assert _health()[0] == 200


def test_red_when_the_artifact_is_corrupted(private_store):
    from scoring.model_cache import get_model

    artifact = private_store / get_model().version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:-100] + b"\0" * 100)
    status, body = _health()
    assert status == 503 and body["failed"] == ["model"]


def test_red_naming_the_database_when_it_is_unreachable(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    status, body = _health()
    assert status == 503
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    # The public response names no host; the log has the reason.
    assert "127.0.0.1" not in str(body) and "Connection refused" in caplog.text
    assert body["checks"]["model"]["ok"] is True
    monkeypatch.undo()
    assert _health()[0] == 200  # back without a restart


def test_red_when_the_database_reads_but_refuses_writes(monkeypatch, caplog):
    from operations import health

    def read_only(**kwargs):
        raise OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(health.Heartbeat.objects, "create", read_only)
    status, body = _health()
    assert status == 503 and body["failed"] == ["database"]
    assert "database: OperationalError: attempt to write a readonly database" in caplog.text


def test_both_red_at_once(monkeypatch, private_store):
    from scoring.model_cache import get_model

    (private_store / get_model().version / "model.joblib").unlink()
    monkeypatch.setattr(connection, "cursor", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    status, body = _health()
    assert status == 503 and body["failed"] == ["database", "model"]


def test_answers_json_when_the_database_is_down_even_with_a_session_cookie(monkeypatch):
    from accounts import roles
    from tests.support.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(role=roles.OFFICER))
    monkeypatch.setattr(connection, "cursor", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
