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


def can_create(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(ADD)


def can_view_any(user: Any) -> bool:
    """May open the history and application pages at all (own rows at least)."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(VIEW)


def can_view_all(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(VIEW_ALL)


def can_view(user: Any, application: Any) -> bool:
    if not can_view_any(user):
        return False
    return application.officer_id == user.pk or can_view_all(user)
