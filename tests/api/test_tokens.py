"""Token management by the user's admin: the admin page and the command; shown once, stored hashed."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts import roles
from api.models import ApiToken
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def _works(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/applications/").status_code


def test_the_admin_page_creates_a_token_shown_once_and_revokes_it(client, admin_user):
    officer = UserFactory(role=roles.OFFICER)
    client.force_login(admin_user)
    response = client.post(
        "/admin/api/apitoken/add/", {"user": officer.pk, "name": "core banking", "days": 30}, follow=True
    )
    assert response.status_code == 200
    token = re.search(r"(scr_[0-9a-f]{12}_[A-Za-z0-9_-]+)", response.content.decode()).group(1)
    row = ApiToken.objects.get()
    assert (
        row.user == officer
        and row.created_by == admin_user
        and row.key_sha256 == hashlib.sha256(token.encode()).hexdigest()
    )
    assert token not in str(ApiToken.objects.values().get())  # only the hash is stored
    assert token not in client.get(f"/admin/api/apitoken/{row.pk}/change/").content.decode()  # shown once
    assert _works(token) == 200
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.revoked_by == admin_user and _works(token) == 401


def test_only_admins_manage_tokens(client):
    reviewer = UserFactory(role=roles.REVIEWER, is_staff=True)
    client.force_login(reviewer)
    assert client.get("/admin/api/apitoken/add/").status_code == 403


def test_the_command_creates_lists_and_revokes(admin_user):
    UserFactory(username="feeder", role=roles.OFFICER)
    out = io.StringIO()
    call_command(
        "api_token",
        "--as",
        admin_user.username,
        "create",
        "--user",
        "feeder",
        "--name",
        "nightly",
        "--days",
        "7",
        stdout=out,
    )
    token = out.getvalue().strip().splitlines()[-1]
    assert _works(token) == 200
    listing = io.StringIO()
    call_command("api_token", "--as", admin_user.username, "list", stdout=listing)
    assert "feeder" in listing.getvalue() and "active" in listing.getvalue() and token not in listing.getvalue()
    call_command("api_token", "--as", admin_user.username, "revoke", token.split("_")[1], stdout=io.StringIO())
    assert _works(token) == 401
    officer = UserFactory(role=roles.OFFICER)
    with pytest.raises(CommandError, match="Only an admin"):
        call_command(
            "api_token", "--as", officer.username, "create", "--user", "feeder", "--name", "x", stdout=io.StringIO()
        )


def test_batch_files_through_the_api(api_for, django_capture_on_commit_callbacks):
    from tests.support.batches import batch_csv, varied_rows

    client = api_for(roles.OFFICER)
    refused = client.post("/api/v1/batches/", {"file": io.BytesIO(b"name,age\nx,1\n")}, format="multipart")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "file"
    assert "Unknown column" in refused.json()["errors"][0]["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/api/v1/batches/", {"file": io.BytesIO(batch_csv(varied_rows(4)))}, format="multipart")
    job = client.get(created.json()["links"]["self"]).json()
    assert job["status"] == "DONE" and job["progress"]["rows_stored"] == 4
    csv_text = b"".join(client.get(job["links"]["results"]).streaming_content).decode("utf-8-sig")
    assert csv_text.count("\n") == 5 and '"stored"' in csv_text
    other = api_for(roles.OFFICER)
    assert other.get(job["links"]["self"]).status_code == 404
    auditor = api_for(roles.AUDITOR)
    assert auditor.post(job["links"]["cancel"]).status_code == 403
    assert (
        auditor.post(
            "/api/v1/batches/", {"file": io.BytesIO(batch_csv(varied_rows(1)))}, format="multipart"
        ).status_code
        == 403
    )
