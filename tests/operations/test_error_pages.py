"""Operational faults are pages for people: 503 for a database that is down,
500/404/403 pages without stack traces, and recovery without a restart."""

from __future__ import annotations

import logging
import shutil

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

from accounts import roles
from applications.models import LoanApplication
from tests.support.factories import UserFactory, application_form_data

pytestmark = pytest.mark.django_db

DB_DOWN = "The database is not reachable right now"


def _officer_client() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(role=roles.OFFICER))
    assert client.get("/applications/new/").status_code == 200
    return client


def _refuse(*args, **kwargs):
    raise OperationalError("could not connect to server: Connection refused")


def _assert_no_internals(response) -> None:
    text = response.content.decode()
    for leak in ("Traceback", "OperationalError", "Connection refused", "hunter2", 'File "'):
        assert leak not in text


def test_database_down_before_the_view_gives_the_503_page(monkeypatch, caplog):
    """The session cannot even be loaded: the fault is raised in middleware."""
    client = _officer_client()
    monkeypatch.setattr(connection, "cursor", _refuse)
    with caplog.at_level(logging.ERROR):
        response = client.get("/applications/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert DB_DOWN in response.content.decode()
    _assert_no_internals(response)
    assert all(record.exc_info is None for record in caplog.records)  # no traceback logged
    lines = [record.getMessage() for record in caplog.records if record.name == "operations.faults"]
    assert len(lines) == 1 and lines[0].startswith("database unavailable: GET /applications/ -> 503")


def test_database_lost_during_a_submission_stores_nothing_and_says_so(monkeypatch, caplog):
    client = _officer_client()

    def lost(**kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr("applications.services.append_decision_record", lost)
    with caplog.at_level(logging.ERROR, logger="operations.faults"):
        response = client.post("/applications/new/", application_form_data())
    assert response.status_code == 503
    text = response.content.decode()
    assert DB_DOWN in text and "What you just submitted was not saved" in text
    _assert_no_internals(response)
    assert LoanApplication.objects.count() == 0  # the whole transaction rolled back
    assert any("database unavailable: POST /applications/new/" in r.getMessage() for r in caplog.records)


def test_recovery_without_a_restart(monkeypatch, settings):
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    client = _officer_client()
    monkeypatch.setattr(connection, "cursor", _refuse)
    assert client.get("/applications/new/").status_code == 503
    assert client.post("/applications/new/", application_form_data()).status_code == 503
    monkeypatch.undo()  # the database is back
    assert client.get("/applications/new/").status_code == 200
    response = client.post("/applications/new/", application_form_data())
    assert response.status_code == 303
    assert LoanApplication.objects.count() == 1


def test_handler500_turns_a_database_fault_raised_outside_a_view_into_the_503_page(rf):
    """Fallback for faults raised in middleware that Django converts before anyone can catch them."""
    from operations.faults import server_error

    request = rf.get("/applications/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and DB_DOWN in response.content.decode()
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(request)
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


@pytest.mark.urls("tests.support.fault_urls")
def test_database_error_in_a_view_gives_the_503_page():
    response = Client(raise_request_exception=False).post("/test-faults/database-down/")
    assert response.status_code == 503
    assert "What you just submitted was not saved" in response.content.decode()
    _assert_no_internals(response)


@pytest.mark.urls("tests.support.fault_urls")
def test_a_bug_gives_the_500_page_without_internals(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/test-faults/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert 'href="/static/css/app.css"' in response.content.decode()
    _assert_no_internals(response)


def test_404_page(settings):
    settings.DEBUG = False
    response = _officer_client().get("/applications/999999/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
    _assert_no_internals(response)


def test_403_page(settings):
    settings.DEBUG = False
    response = _officer_client().get("/audit/")
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


def test_model_missing_while_serving_keeps_the_application_as_pending(private_store):
    from scoring.model_cache import get_model

    artifact = private_store / get_model().version / "model.joblib"
    shutil.move(artifact, private_store / "away")
    client = _officer_client()
    response = client.post("/applications/new/", application_form_data(), follow=True)
    assert response.status_code == 200
    assert "saved as PENDING" in response.content.decode()
    assert LoanApplication.objects.get().status == LoanApplication.Status.PENDING
    assert Client().get("/healthz").status_code == 503
