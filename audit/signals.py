"""Signal receivers: the access log's logins, and the audit roles' permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AccessEvent

# What each role may do in the audit app (added to the groups the
# applications app's data migration creates; never removes anything).
ROLE_AUDIT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "reviewer": ("override_decision",),
    "auditor": ("view_audit", "view_decisionrecord", "view_overriderecord", "view_accessevent"),
    "admin": ("view_audit", "override_decision", "view_decisionrecord", "view_overriderecord", "view_accessevent"),
}


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs: Any) -> None:
    from audit.services import log_access

    log_access(user=user, action=AccessEvent.LOGIN, request=request)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs: Any) -> None:
    from audit.services import log_access

    if user is not None:
        log_access(user=user, action=AccessEvent.LOGOUT, request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs: Any) -> None:
    from audit.services import log_access

    username = str(credentials.get("username", "") or "")
    log_access(user=None, action=AccessEvent.LOGIN_FAILED, target=username[:255], request=request, username=username)


def grant_role_permissions(sender, using: str = "default", apps=None, **kwargs: Any) -> None:
    """Give the role groups their audit permissions after every migrate.

    Runs after Django has created the permissions (auth's own post_migrate
    handler comes first) and after the test framework's flush, so the
    grants are always present. The groups themselves come from the
    applications app's data migration; permissions are only ever added.
    """
    from django.contrib.auth.models import Group, Permission

    for group_name, codenames in ROLE_AUDIT_PERMISSIONS.items():
        group = Group.objects.using(using).filter(name=group_name).first()
        if group is None:  # roles are created by applications' data migration
            continue
        permissions = Permission.objects.using(using).filter(content_type__app_label="audit", codename__in=codenames)
        group.permissions.add(*permissions)
