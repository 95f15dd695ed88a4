"""staff.services beyond the commands and the admin: the user object in hand, concurrent grants."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts import roles
from audit.models import RoleChangeRecord
from staff import services
from tests.support.audit import run_verify
from tests.support.factories import RoleGroupFactory, UserFactory


@pytest.mark.django_db
def test_the_user_object_in_hand_answers_with_its_new_role_at_once():
    user = UserFactory(role=roles.OFFICER)
    assert not roles.can_view_audit(user) and roles.role_of(user) == roles.OFFICER  # both now cached
    services.grant_role(user=user, role=roles.AUDITOR)
    assert roles.can_view_audit(user) and roles.role_of(user) == roles.AUDITOR
    services.revoke_role(user=user, role=roles.AUDITOR)
    assert not roles.can_view_audit(user) and roles.role_of(user) == roles.OFFICER


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_grants_of_one_role_make_one_change_and_one_record():
    # An earlier transactional test's flush removes the migrations' role groups: put them back.
    RoleGroupFactory(name=roles.REVIEWER)
    user = UserFactory(role=None, username="twice")
    start = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def grant() -> None:
        try:
            start.wait(5)
            results.append(services.grant_role(user=UserFactory._meta.model.objects.get(pk=user.pk), role="reviewer"))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection: the test database is dropped afterwards

    threads = [threading.Thread(target=grant) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert RoleChangeRecord.objects.filter(user=user).count() == 1
    assert run_verify()[0] == 0
