"""Granting and revoking roles, and creating staff accounts: the only ways roles change.

The ``manage.py`` commands and the admin both come here, so every change
obeys the same rules and leaves the same record. A role is one of
``accounts.roles.GRANTABLE_ROLES``: a role group, or superuser status.

Separation of duties, for changes made by a signed-in user (``actor``):

* only users who may manage users (the admin role, superusers) change roles;
* nobody but a superuser grants or revokes superuser status, or changes a
  superuser's roles;
* nobody but a superuser changes their own roles: an admin cannot widen
  their own access, nor quietly drop a role to hide what it did.

``actor=None`` means an operator at the server's shell (``manage.py``):
whoever can run it can already do anything, so no rule applies, and the
record names the operating-system account instead.

Each effective change is written, in the same transaction, as a chained
``RoleChangeRecord`` plus an access-log line (``audit.services``). Granting
a role already held or revoking one not held changes and records nothing.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest

from accounts import roles
from accounts.validators import VisibleTextValidator
from audit.models import RoleChangeRecord
from audit.services import append_role_change_record


class UnknownRole(ValueError):
    """A role name that is not in ``accounts.roles.GRANTABLE_ROLES``."""

    def __init__(self, role: str) -> None:
        super().__init__(f"Unknown role {role!r}: choose one of {', '.join(roles.GRANTABLE_ROLES)}.")


class RoleChangeRefused(PermissionDenied):
    """A role change that separation of duties forbids (a 403 when it reaches a view)."""


_ADMIN_SITE_ROLES = frozenset({roles.ADMIN, roles.SUPERUSER})


def _require_known(role: str) -> None:
    if role not in roles.GRANTABLE_ROLES:
        raise UnknownRole(role)


def check_role_change(*, actor: Any | None, user: Any, role: str) -> None:
    """Raise ``RoleChangeRefused`` unless ``actor`` may grant or revoke ``role`` for ``user``."""
    _require_known(role)
    if actor is None or actor.is_superuser:
        return
    if not roles.can_manage_users(actor):
        raise RoleChangeRefused("Only an admin may grant or revoke roles.")
    if actor.pk == user.pk:
        raise RoleChangeRefused("You cannot change your own roles: ask another admin.")
    if role == roles.SUPERUSER:
        raise RoleChangeRefused("Only a superuser may grant or revoke superuser status.")
    if user.is_superuser:
        raise RoleChangeRefused("Only a superuser may change a superuser's roles.")


def _actor_name(actor: Any | None) -> tuple[str, str]:
    """(name recorded, channel): the signed-in user in the admin, or the shell account running manage.py."""
    if actor is not None:
        return actor.get_username(), RoleChangeRecord.ADMIN_SITE
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        account = "unknown"
    return f"shell:{account}", RoleChangeRecord.COMMAND


def _change(*, user: Any, role: str, grant: bool, actor: Any | None, request: HttpRequest | None) -> bool:
    check_role_change(actor=actor, user=user, role=role)
    user_model = get_user_model()
    with transaction.atomic():
        # The row lock makes "already held?" and the change one step, so two
        # concurrent grants record one change, not two.
        locked = user_model.objects.select_for_update().get(pk=user.pk)
        held = set(roles.held_roles(locked))
        if (role in held) == grant:
            return False
        if role == roles.SUPERUSER:
            locked.is_superuser = grant
        elif grant:
            locked.groups.add(Group.objects.get(name=role))
        else:
            locked.groups.remove(Group.objects.get(name=role))
        held = held | {role} if grant else held - {role}
        if role in _ADMIN_SITE_ROLES:
            # The admin site is the admin role's workplace: the way in comes and goes with the role.
            locked.is_staff = bool(held & _ADMIN_SITE_ROLES)
        user_model.objects.filter(pk=locked.pk).update(is_superuser=locked.is_superuser, is_staff=locked.is_staff)
        actor_name, channel = _actor_name(actor)
        append_role_change_record(
            user=locked,
            action=RoleChangeRecord.GRANT if grant else RoleChangeRecord.REVOKE,
            role=role,
            actor=actor,
            actor_name=actor_name,
            channel=channel,
            request=request,
        )
    user.is_superuser, user.is_staff = locked.is_superuser, locked.is_staff
    roles.forget_cached_roles(user)
    return True


def grant_role(*, user: Any, role: str, actor: Any | None = None, request: HttpRequest | None = None) -> bool:
    """Give ``user`` the role; ``True`` if it changed, ``False`` if they held it already."""
    return _change(user=user, role=role, grant=True, actor=actor, request=request)


def revoke_role(*, user: Any, role: str, actor: Any | None = None, request: HttpRequest | None = None) -> bool:
    """Take the role from ``user``; ``True`` if it changed, ``False`` if they did not hold it."""
    return _change(user=user, role=role, grant=False, actor=actor, request=request)


def set_roles(
    *, user: Any, wanted: Iterable[str], actor: Any | None, request: HttpRequest | None = None
) -> list[tuple[str, str]]:
    """Make ``user`` hold exactly ``wanted``: each difference granted or revoked (and recorded) in one transaction.

    Returns the changes made as ``("grant" | "revoke", role)``. If any one is
    refused, none is made.
    """
    wanted = set(wanted)
    for role in wanted:
        _require_known(role)
    changes: list[tuple[str, str]] = []
    with transaction.atomic():
        held = set(roles.held_roles(get_user_model().objects.get(pk=user.pk)))
        # Grants first, in GRANTABLE_ROLES order, then revocations: the records read as the change was meant.
        for role in roles.GRANTABLE_ROLES:
            if role in wanted and role not in held:
                grant_role(user=user, role=role, actor=actor, request=request)
                changes.append((RoleChangeRecord.GRANT, role))
        for role in roles.GRANTABLE_ROLES:
            if role in held and role not in wanted:
                revoke_role(user=user, role=role, actor=actor, request=request)
                changes.append((RoleChangeRecord.REVOKE, role))
    return changes


def _candidate(*, username: str, email: str) -> Any:
    user_model = get_user_model()
    return user_model(**{user_model.USERNAME_FIELD: username}, email=email)


def validate_new_username(*, username: str, email: str = "") -> None:
    """Raise ``ValidationError`` unless the username is free and well formed (and the e-mail valid)."""
    candidate = _candidate(username=username, email=email)
    candidate.full_clean(exclude=["password"])
    VisibleTextValidator()(username)


def validate_new_password(*, password: str, username: str, email: str = "") -> None:
    """Raise ``ValidationError`` unless Django's password validators (settings) accept ``password`` for this account."""
    validate_password(password, user=_candidate(username=username, email=email))


def create_user(*, username: str, password: str, role: str, email: str = "") -> Any:
    """Create an active account holding ``role`` (from the shell), its grant recorded like any other; all or nothing."""
    _require_known(role)
    validate_new_username(username=username, email=email)
    validate_new_password(password=password, username=username, email=email)
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model(**{user_model.USERNAME_FIELD: username}, email=email, is_active=True)
        user.set_password(password)
        user.save()
        grant_role(user=user, role=role)
    return user
