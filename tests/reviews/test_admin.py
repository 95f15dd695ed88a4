"""Reason codes and delegated limits are managed in admin by admins; auditors may read them; nobody deletes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts import roles
from reviews import services
from reviews.models import DelegatedLimit, ReasonCode
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_sets_a_reviewers_delegated_limit_and_it_applies():
    admin = login(UserFactory(role=roles.ADMIN))  # staff, not superuser: the role map's permissions
    reviewer = UserFactory(role=roles.REVIEWER)
    assert services.approval_limit(reviewer) == 0
    response = admin.post("/admin/reviews/delegatedlimit/add/", {"user": reviewer.pk, "approval_limit": "25000"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert services.approval_limit(reviewer) == Decimal("25000")
    limit = DelegatedLimit.objects.get(user=reviewer)
    response = admin.post(f"/admin/reviews/delegatedlimit/{limit.pk}/change/", {"approval_limit": "-1"})
    assert (
        response.status_code == 200 and "Ensure this value is greater than or equal to 0" in response.content.decode()
    )
    assert (
        admin.post(f"/admin/reviews/delegatedlimit/{limit.pk}/change/", {"approval_limit": "5000"}).status_code == 302
    )
    assert services.approval_limit(reviewer) == Decimal("5000")
    assert admin.get(f"/admin/reviews/delegatedlimit/{limit.pk}/delete/").status_code == 403


def test_an_admin_manages_reason_codes_but_cannot_delete_or_rename_them():
    admin = login(UserFactory(role=roles.ADMIN))
    response = admin.post(
        "/admin/reviews/reasoncode/add/",
        {
            "code": "DEC-FRAUD",
            "action": "DECLINE",
            "label": "Information found to be false",
            "active": "on",
            "position": 9,
        },
    )
    assert response.status_code == 302
    code = ReasonCode.objects.get(code="DEC-FRAUD")
    assert services.reason_code_for(code="DEC-FRAUD", action="DECLINE") == code
    # Retire it: the code and action stay as recorded; the label may be reworded.
    admin.post(
        f"/admin/reviews/reasoncode/{code.pk}/change/",
        {"code": "X", "action": "APPROVE", "label": "Information found to be false", "position": 9},
    )
    code.refresh_from_db()
    assert (code.code, code.action, code.active) == ("DEC-FRAUD", "DECLINE", False)
    assert admin.get(f"/admin/reviews/reasoncode/{code.pk}/delete/").status_code == 403
    bad = admin.post(
        "/admin/reviews/reasoncode/add/", {"code": "bad code", "action": "DECLINE", "label": "x", "position": 0}
    )
    assert bad.status_code == 200 and "Capital letters, digits and hyphens only." in bad.content.decode()


@pytest.mark.parametrize(("role", "status"), [(roles.AUDITOR, 200), (roles.REVIEWER, 302), (roles.OFFICER, 302)])
def test_who_else_sees_the_review_settings(role, status):
    user = UserFactory(role=role, is_staff=True)
    client = login(user)
    response = client.get("/admin/reviews/reasoncode/")
    assert response.status_code in ((status,) if status == 200 else (302, 403))
    if role == roles.AUDITOR:
        assert client.get("/admin/reviews/reasoncode/add/").status_code == 403
        assert (
            client.post("/admin/reviews/delegatedlimit/add/", {"user": user.pk, "approval_limit": "1"}).status_code
            == 403
        )
