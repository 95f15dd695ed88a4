"""Roles: every workbench URL for every role, allowed or denied."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from accounts import roles
from applications.models import LoanApplication
from tests.support.factories import UserFactory, application_form_data, submit_form

pytestmark = pytest.mark.django_db

NO_ROLE = None
ALL_ROLES = (roles.OFFICER, roles.REVIEWER, roles.AUDITOR, roles.ADMIN, NO_ROLE)


@pytest.fixture
def others_application(db):
    return submit_form(
        officer=UserFactory(role=roles.OFFICER), data=application_form_data(applicant_reference="THEIRS")
    )


def _own_application(user):
    return LoanApplication.objects.create(
        officer=user,
        **{k: v for k, v in application_form_data(applicant_reference="MINE").items()},
        loan_percent_income=0.2,
        interest_burden=0.02,
    )


# (role, method, url, expected status). "{other}" is an application entered by another officer.
EXPECTED = [
    *[(role, "get", "/applications/new/", 200) for role in (roles.OFFICER, roles.REVIEWER, roles.ADMIN)],
    (roles.AUDITOR, "get", "/applications/new/", 403),
    (NO_ROLE, "get", "/applications/new/", 403),
    *[(role, "post", "/applications/new/", 303) for role in (roles.OFFICER, roles.REVIEWER, roles.ADMIN)],
    (roles.AUDITOR, "post", "/applications/new/", 403),
    (NO_ROLE, "post", "/applications/new/", 403),
    *[(role, "get", "/applications/", 200) for role in (roles.OFFICER, roles.REVIEWER, roles.AUDITOR, roles.ADMIN)],
    (NO_ROLE, "get", "/applications/", 403),
    *[
        (role, "get", "/applications/export.csv", 200)
        for role in (roles.OFFICER, roles.REVIEWER, roles.AUDITOR, roles.ADMIN)
    ],
    (NO_ROLE, "get", "/applications/export.csv", 403),
    (NO_ROLE, "get", "/applications/?format=csv", 403),
    # Another officer's application answers like a missing one (no existence leak).
    (roles.OFFICER, "get", "/applications/{other}/", 404),
    *[(role, "get", "/applications/{other}/", 200) for role in (roles.REVIEWER, roles.AUDITOR, roles.ADMIN)],
    (NO_ROLE, "get", "/applications/{other}/", 403),
    *[(role, "get", "/applications/{mine}/", 200) for role in (roles.OFFICER, roles.REVIEWER, roles.ADMIN)],
    (NO_ROLE, "get", "/applications/{mine}/", 403),
    # The admin site: only staff (admin role) get in; others are sent to its login.
    (roles.ADMIN, "get", "/admin/applications/loanapplication/", 200),
    (roles.ADMIN, "get", "/admin/applications/loanapplication/add/", 200),
    (roles.ADMIN, "get", "/admin/applications/loanapplication/{other}/change/", 200),
    *[
        (role, "get", "/admin/applications/loanapplication/", 302)
        for role in (roles.OFFICER, roles.REVIEWER, roles.AUDITOR, NO_ROLE)
    ],
    # "/" lands each role on the page it can use.
    *[(role, "get", "/", 302) for role in ALL_ROLES],
]


@pytest.mark.parametrize(
    ("role", "method", "url", "status"), EXPECTED, ids=[f"{r or 'norole'}-{m}-{u}" for r, m, u, _ in EXPECTED]
)
def test_every_url_for_every_role(client_for, others_application, role, method, url, status):
    client = client_for(role)
    mine = _own_application(client.user) if "{mine}" in url else None
    path = url.format(other=others_application.pk, mine=getattr(mine, "pk", 0))
    before = LoanApplication.objects.count()
    if method == "post":
        response = client.post(path, application_form_data())
    else:
        response = client.get(path)
    assert response.status_code == status, (role, path, response.status_code)
    if status == 403:
        assert "Not allowed" in response.content.decode()
        assert LoanApplication.objects.count() == before


@pytest.mark.parametrize(
    ("role", "target"),
    [
        (roles.OFFICER, "/applications/new/"),
        (roles.REVIEWER, "/reviews/"),
        (roles.ADMIN, "/reviews/"),
        (roles.AUDITOR, "/audit/"),
        (NO_ROLE, "/applications/"),
    ],
)
def test_root_lands_on_the_right_page(client_for, role, target):
    assert client_for(role).get("/")["Location"] == target


def test_officer_history_lists_only_their_own(client_for, others_application):
    client = client_for(roles.OFFICER)
    _own_application(client.user)
    listed = [app.applicant_reference for app in client.get("/applications/").context["page"].object_list]
    assert listed == ["MINE"]


@pytest.mark.parametrize("role", [roles.REVIEWER, roles.AUDITOR, roles.ADMIN])
def test_reviewers_auditors_and_admins_see_everyone(client_for, others_application, role):
    client = client_for(role)
    listed = [app.applicant_reference for app in client.get("/applications/").context["page"].object_list]
    assert "THEIRS" in listed


def test_denials_are_logged_for_auditors(client_for, others_application):
    from audit.models import AccessEvent

    client = client_for(roles.OFFICER)
    client.get(f"/applications/{others_application.pk}/")
    event = AccessEvent.objects.filter(action="permission_denied").latest("id")
    assert event.username == client.user.username
    assert event.target == f"application:{others_application.pk}"


def test_application_views_and_exports_are_logged(client_for, others_application):
    from audit.models import AccessEvent

    client = client_for(roles.AUDITOR)
    client.get(f"/applications/{others_application.pk}/")
    b"".join(client.get("/applications/export.csv?q=THE").streaming_content)
    actions = list(AccessEvent.objects.filter(username=client.user.username).values_list("action", "target"))
    assert ("view_application", f"application:{others_application.pk}") in actions
    assert ("export", "q=THE") in actions


def test_groups_exist_with_their_permissions(db):
    for role, perms in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert set(perms) == held, role
    assert not Group.objects.filter(permissions__codename="delete_loanapplication").exists()
    auditor = {p.codename for p in Group.objects.get(name=roles.AUDITOR).permissions.all()}
    assert not any(code.startswith(("add_", "change_", "delete_")) for code in auditor)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (roles.OFFICER, "officer"),
        (roles.REVIEWER, "reviewer"),
        (roles.AUDITOR, "auditor"),
        (roles.ADMIN, "admin"),
        (NO_ROLE, None),
    ],
)
def test_role_of(db, role, expected):
    assert roles.role_of(UserFactory(role=role)) == expected


def test_superuser_is_admin(db):
    user = UserFactory(role=NO_ROLE, is_superuser=True)
    assert roles.role_of(user) == roles.ADMIN
    assert roles.can_view_all(user) and roles.can_create(user)


def test_auditor_cannot_create_through_the_service_layer_of_the_page(client_for):
    client = client_for(roles.AUDITOR)
    response = client.post("/applications/new/", application_form_data())
    assert response.status_code == 403
    assert LoanApplication.objects.count() == 0


ALL_PERMS = (
    roles.ADD_APPLICATION,
    roles.VIEW_OWN_APPLICATIONS,
    roles.VIEW_ALL_APPLICATIONS,
    roles.CHANGE_APPLICATION,
    "applications.delete_loanapplication",
    "auth.view_user",
)


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("perm", ALL_PERMS)
def test_fast_permission_check_agrees_with_django(db, role, perm):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=UserFactory(role=role).pk)
    assert roles.has_permission(user, perm) == user.has_perm(perm)


def test_fast_permission_check_covers_direct_inactive_and_superuser(db):
    from django.contrib.auth.models import Permission

    direct = UserFactory(role=NO_ROLE)
    direct.user_permissions.add(Permission.objects.get(codename="view_loanapplication"))
    assert roles.has_permission(direct, roles.VIEW_OWN_APPLICATIONS) and not roles.has_permission(
        direct, roles.VIEW_ALL_APPLICATIONS
    )
    inactive = UserFactory(role=roles.ADMIN, is_active=False)
    assert not roles.has_permission(inactive, roles.VIEW_OWN_APPLICATIONS)
    superuser = UserFactory(role=NO_ROLE, is_superuser=True)
    assert roles.has_permission(superuser, roles.OVERRIDE_DECISION)


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (roles.OFFICER, {"New application": True, "History": True, "Audit": False, "Admin": False}),
        (roles.REVIEWER, {"New application": True, "History": True, "Audit": False, "Admin": False}),
        (roles.AUDITOR, {"New application": False, "History": True, "Audit": True, "Admin": False}),
        (roles.ADMIN, {"New application": True, "History": True, "Audit": True, "Admin": True}),
    ],
)
def test_navigation_offers_what_the_role_may_use(client_for, role, links):
    html = client_for(role).get("/applications/").content.decode()
    nav = html[html.index('<nav class="mainnav"') : html.index("</nav>")]
    for label, shown in links.items():
        assert (f">{label}</a>" in nav) == shown, (role, label)


def test_an_early_role_map_migration_applies_what_exists_then_and_the_live_map_completes_it():
    """accounts 0001 runs before the reviews app exists on a fresh database
    (whatever order the planner picks): it must apply the part of today's map
    that exists then instead of failing, and the live map is complete."""
    loader = MigrationLoader(connection)
    early_state = loader.project_state(("accounts", "0001_role_map"))
    assert "reviews" not in early_state.apps.app_configs

    roles.apply_role_map(apps=early_state.apps)  # no LookupError for the app that does not exist yet

    roles.apply_role_map()
    admin = Group.objects.get(name=roles.ADMIN)
    full = {f"{p.content_type.app_label}.{p.codename}" for p in admin.permissions.select_related("content_type")}
    assert full == set(roles.ROLE_PERMISSIONS[roles.ADMIN])


def test_one_query_answers_every_permission_question_of_a_request(db, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=UserFactory(role=roles.REVIEWER).pk)
    with django_assert_num_queries(1):
        answers = [roles.has_permission(user, perm) for perm in ALL_PERMS]
    assert answers == [user.has_perm(perm) for perm in ALL_PERMS] and any(answers)
    roles.forget_cached_roles(user)  # a role change: asked again, read again
    with django_assert_num_queries(1):
        roles.has_permission(user, ALL_PERMS[0])
