"""The user admin: roles listed and filtered, changed through staff.services, separation of duties."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts import roles
from audit.models import AccessEvent, RoleChangeRecord
from staff import services
from tests.support.audit import run_verify
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

USERS = "/admin/auth/user/"


def change_url(user) -> str:
    return f"{USERS}{user.pk}/change/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser():
    return UserFactory(role=None, username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_user():
    """An admin by role, not a superuser."""
    return UserFactory(role=roles.ADMIN, username="alma")


def form_data(user, *, groups=(), **extra) -> dict:
    """The change form as the browser posts it."""
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "roles": list(groups),
    }
    data.update(extra)
    return data


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_the_user_list_shows_each_users_roles(superuser):
    both = UserFactory(role=roles.OFFICER, username="olivia")
    both.groups.add(Group.objects.get(name=roles.REVIEWER))
    UserFactory(role=None, username="nemo")
    html = logged_in(superuser).get(USERS).content.decode()
    assert '<td class="field-role_list">officer, reviewer</td>' in html
    assert '<td class="field-role_list">superuser</td>' in html
    assert '<td class="field-role_list">—</td>' in html  # nemo


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (roles.REVIEWER, {"rhea", "olivia"}),
        (roles.AUDITOR, {"aude"}),
        (roles.ADMIN, {"alma"}),
        (roles.SUPERUSER, {"root"}),
        ("none", {"nemo"}),
    ],
)
def test_the_user_list_filters_by_role(superuser, admin_user, role, expected):
    UserFactory(role=roles.REVIEWER, username="rhea")
    UserFactory(role=roles.AUDITOR, username="aude")
    UserFactory(role=roles.OFFICER, username="olivia").groups.add(Group.objects.get(name=roles.REVIEWER))
    UserFactory(role=None, username="nemo")
    response = logged_in(admin_user).get(USERS, {"role": role})
    assert response.status_code == 200
    assert {user.username for user in response.context["cl"].result_list} == expected
    assert f'href="?role={role}"' in response.content.decode()


def test_a_non_superuser_admin_sees_no_superuser_box_and_cannot_edit_own_roles(admin_user):
    html = logged_in(admin_user).get(change_url(admin_user)).content.decode()
    assert 'name="is_superuser"' not in html and "Superuser status" not in html
    assert 'name="is_staff"' not in html and 'name="user_permissions"' not in html
    assert 'name="roles"' not in html and 'name="groups"' not in html
    assert '<div class="readonly">admin</div>' in html


def test_a_non_superuser_admin_edits_another_users_roles_as_checkboxes_without_a_superuser_box(admin_user):
    target = UserFactory(role=roles.OFFICER)
    html = logged_in(admin_user).get(change_url(target)).content.decode()
    assert 'name="is_superuser"' not in html and 'name="user_permissions"' not in html
    assert html.count('type="checkbox" name="roles"') == len(roles.ROLES)
    assert 'name="roles" value="officer" id="id_roles_0" checked>' in html
    assert 'name="roles" value="reviewer" id="id_roles_1">' in html


def test_a_non_superuser_admin_grants_and_revokes_a_role_recorded_with_their_name(admin_user):
    target = UserFactory(role=roles.OFFICER, username="otto")
    client = logged_in(admin_user)
    response = client.post(change_url(target), form_data(target, groups=[roles.REVIEWER]), follow=True)
    assert response.status_code == 200
    assert group_names(target) == {roles.REVIEWER}
    shown = [str(message) for message in response.context["messages"]]
    assert "Granted reviewer to otto; recorded in the audit trail." in shown
    assert "Revoked officer from otto; recorded in the audit trail." in shown
    records = list(RoleChangeRecord.objects.order_by("sequence"))
    assert [(r.action, r.role, r.actor, r.actor_name, r.channel) for r in records] == [
        ("grant", "reviewer", admin_user, "alma", "admin"),
        ("revoke", "officer", admin_user, "alma", "admin"),
    ]
    events = AccessEvent.objects.filter(action__in=[AccessEvent.ROLE_GRANTED, AccessEvent.ROLE_REVOKED])
    assert {(e.user_id, e.target, e.path) for e in events} == {
        (admin_user.pk, "reviewer to otto", change_url(target)),
        (admin_user.pk, "officer from otto", change_url(target)),
    }
    code, out, summary = run_verify()
    assert code == 0 and summary["role_changes_checked"] == 2, out


def test_saving_without_a_role_change_records_nothing(admin_user):
    target = UserFactory(role=roles.AUDITOR)
    response = logged_in(admin_user).post(change_url(target), form_data(target, groups=[roles.AUDITOR], first_name="A"))
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.first_name == "A" and not RoleChangeRecord.objects.exists()


def test_a_forged_superuser_box_from_a_non_superuser_admin_is_ignored(admin_user):
    target = UserFactory(role=roles.OFFICER)
    response = logged_in(admin_user).post(
        change_url(target), form_data(target, groups=[roles.OFFICER], is_superuser="on", is_staff="on")
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert not target.is_superuser and not target.is_staff
    assert not RoleChangeRecord.objects.exists()


def test_a_forged_role_change_on_their_own_account_is_ignored(admin_user):
    response = logged_in(admin_user).post(
        change_url(admin_user), form_data(admin_user, groups=[roles.ADMIN, roles.REVIEWER], is_superuser="on")
    )
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert group_names(admin_user) == {roles.ADMIN} and not admin_user.is_superuser
    assert not RoleChangeRecord.objects.exists()


def test_a_non_superuser_admin_saves_their_own_account_keeping_their_roles(admin_user):
    response = logged_in(admin_user).post(change_url(admin_user), form_data(admin_user, email="alma@bank.example"))
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.email == "alma@bank.example" and group_names(admin_user) == {roles.ADMIN}
    assert admin_user.is_staff and not RoleChangeRecord.objects.exists()


def test_a_non_superuser_admin_cannot_change_a_superusers_account(admin_user, superuser):
    client = logged_in(admin_user)
    page = client.get(change_url(superuser))
    assert page.status_code == 200 and 'type="submit" name="_save"' not in page.content.decode()  # view only
    assert client.post(change_url(superuser), form_data(superuser)).status_code == 403
    assert client.get(f"{USERS}{superuser.pk}/password/").status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_superuser and not RoleChangeRecord.objects.exists()


def test_the_service_refuses_what_the_forms_do_not_offer(admin_user, superuser):
    officer = UserFactory(role=roles.OFFICER)
    reviewer = UserFactory(role=roles.REVIEWER)
    refusals = [
        (dict(user=officer, role=roles.SUPERUSER, actor=admin_user), "Only a superuser may grant or revoke superuser"),
        (dict(user=admin_user, role=roles.REVIEWER, actor=admin_user), "You cannot change your own roles"),
        (dict(user=superuser, role=roles.AUDITOR, actor=admin_user), "Only a superuser may change a superuser's roles"),
        (dict(user=officer, role=roles.REVIEWER, actor=reviewer), "Only an admin may grant or revoke roles"),
    ]
    for arguments, message in refusals:
        with pytest.raises(services.RoleChangeRefused, match=message):
            services.grant_role(**arguments)
    with pytest.raises(services.RoleChangeRefused, match="You cannot change your own roles"):
        services.revoke_role(user=admin_user, role=roles.ADMIN, actor=admin_user)
    with pytest.raises(services.RoleChangeRefused):  # one refused change: none of the set is made
        services.set_roles(user=officer, wanted={roles.REVIEWER, roles.SUPERUSER}, actor=admin_user)
    assert group_names(officer) == {roles.OFFICER} and not officer.is_superuser
    assert not RoleChangeRecord.objects.exists()


def test_a_superuser_sees_the_superuser_box_and_makes_someone_superuser(superuser):
    target = UserFactory(role=roles.ADMIN, username="sam")
    client = logged_in(superuser)
    html = client.get(change_url(target)).content.decode()
    assert 'name="is_superuser"' in html and 'name="user_permissions"' not in html
    response = client.post(
        change_url(target), form_data(target, groups=[roles.ADMIN], is_superuser="on", is_staff="on")
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_superuser
    record = RoleChangeRecord.objects.get()
    assert (record.action, record.role, record.actor, record.channel) == ("grant", "superuser", superuser, "admin")


def test_a_superuser_may_change_their_own_roles(superuser):
    response = logged_in(superuser).post(
        change_url(superuser), form_data(superuser, groups=[roles.AUDITOR], is_superuser="on", is_staff="on")
    )
    assert response.status_code == 302
    assert group_names(superuser) == {roles.AUDITOR}
    assert RoleChangeRecord.objects.get().actor == superuser


def test_role_groups_are_read_only_in_the_admin(superuser, admin_user):
    group = Group.objects.get(name=roles.REVIEWER)
    for client in (logged_in(superuser), logged_in(admin_user)):
        page = client.get(f"/admin/auth/group/{group.pk}/change/")
        assert page.status_code == 200 and 'name="permissions"' not in page.content.decode()
        assert client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "boss"}).status_code == 403
        assert client.get("/admin/auth/group/add/").status_code == 403
    group.refresh_from_db()
    assert group.name == roles.REVIEWER


def test_accounts_are_deactivated_not_deleted(superuser, admin_user):
    target = UserFactory(role=roles.OFFICER)
    for client in (logged_in(superuser), logged_in(admin_user)):
        assert client.get(f"{USERS}{target.pk}/delete/").status_code == 403
        assert client.post(f"{USERS}{target.pk}/delete/", {"post": "yes"}).status_code == 403
        assert "delete_selected" not in client.get(USERS).content.decode()
    assert UserFactory._meta.model.objects.filter(pk=target.pk).exists()
