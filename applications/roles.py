"""Roles: Django groups with model permissions, and the questions views ask.

Four roles (issue 4, point 3):

* ``officer``  enters applications and sees only their own;
* ``reviewer`` enters applications and sees everyone's (overrides: audit app);
* ``auditor``  reads everything and changes nothing;
* ``admin``    may do everything.

Views and selectors ask the helpers below rather than checking group names,
so what a role may do is decided once: by the permissions the data migration
gives each group (``ROLE_PERMISSIONS``). Superusers count as ``admin``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router

OFFICER = "officer"
REVIEWER = "reviewer"
AUDITOR = "auditor"
ADMIN = "admin"
ROLES: tuple[str, ...] = (OFFICER, REVIEWER, AUDITOR, ADMIN)

ADD = "applications.add_loanapplication"
VIEW = "applications.view_loanapplication"
VIEW_ALL = "applications.view_all_loanapplications"
CHANGE = "applications.change_loanapplication"
DELETE = "applications.delete_loanapplication"

# "app_label.codename" per role, for the ``applications`` app. Other apps
# (audit) grant their own permissions to these groups in their migrations.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OFFICER: (ADD, VIEW),
    REVIEWER: (ADD, VIEW, VIEW_ALL),
    AUDITOR: (VIEW, VIEW_ALL),
    ADMIN: (ADD, VIEW, VIEW_ALL, CHANGE, DELETE),
}

# Shown in the navigation; the most powerful role wins when a user has several.
_RANK = {ADMIN: 0, REVIEWER: 1, AUDITOR: 2, OFFICER: 3}


def role_of(user: Any) -> str | None:
    """The user's role name for display, or ``None`` if they have none.

    Cached on the user object, so a page asks the database at most once.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(user, "_role_cache", False)
    if cached is not False:
        return cached
    if user.is_superuser:
        role: str | None = ADMIN
    else:
        names = [name for name in user.groups.values_list("name", flat=True) if name in _RANK]
        role = min(names, key=_RANK.__getitem__) if names else None
    user._role_cache = role
    return role


def _permission_sql() -> str:
    """One query answering "does this user hold app_label.codename?".

    Table names come from the models, so a renamed table cannot go stale.
    """
    from django.contrib.auth import get_user_model

    user_perms = get_user_model()._meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = get_user_model()._meta.get_field("groups").remote_field.through._meta.db_table
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    return (
        f"SELECT 1 FROM {Permission._meta.db_table} p "
        f"JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id "
        "WHERE ct.app_label = %s AND p.codename = %s AND ("
        f" EXISTS (SELECT 1 FROM {user_perms} up WHERE up.permission_id = p.id AND up.user_id = %s)"
        f" OR EXISTS (SELECT 1 FROM {group_perms} gp JOIN {user_groups} ug ON ug.group_id = gp.group_id"
        "  WHERE gp.permission_id = p.id AND ug.user_id = %s)"
        ") LIMIT 1"
    )


_PERMISSION_SQL: str | None = None


def has_permission(user: Any, perm: str) -> bool:
    """``user.has_perm(perm)`` for Django's ModelBackend rules, in one query.

    Same answer as ModelBackend (active users only; superusers hold every
    permission; direct or through a group), but one indexed SQL statement
    instead of loading every permission the user holds through two ORM
    queries: this check runs on every submission, and the ORM version cost
    ~2 ms of the ~3 ms a worker may spend per request at the target load.
    The answer is cached on the user object, i.e. for one request.
    """
    global _PERMISSION_SQL
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cache: dict[str, bool] = user.__dict__.setdefault("_workbench_perm_cache", {})
    if perm not in cache:
        if _PERMISSION_SQL is None:
            _PERMISSION_SQL = _permission_sql()
        app_label, codename = perm.split(".", 1)
        with connections[router.db_for_read(Permission)].cursor() as cursor:
            cursor.execute(_PERMISSION_SQL, [app_label, codename, user.pk, user.pk])
            cache[perm] = cursor.fetchone() is not None
    return cache[perm]


def can_create(user: Any) -> bool:
    return has_permission(user, ADD)


def can_view_any(user: Any) -> bool:
    """May open the history and application pages at all (own rows at least)."""
    return has_permission(user, VIEW)


def can_view_all(user: Any) -> bool:
    return has_permission(user, VIEW_ALL)


def can_view(user: Any, application: Any) -> bool:
    if not can_view_any(user):
        return False
    return application.officer_id == user.pk or can_view_all(user)
