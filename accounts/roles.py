"""Roles: the one map of what each role may do, and the questions pages ask.

Four roles, each a Django group holding model permissions:

* ``officer``  enters applications and sees only their own;
* ``reviewer`` enters applications, sees everyone's, works the review queue:
  claims, decides and overrides cases somebody else entered, confirms or
  rejects another reviewer's approval (four eyes; ``reviews.services``);
* ``auditor``  reads everything, verifies and exports; changes nothing;
  with reviewers and admins, sees the monitoring pages;
* ``admin``    may do everything, including managing users and their roles,
  reason codes and delegated approval limits, and recording how loans
  turned out, except delete an application or a reason code: nobody may
  (the database refuses the first too).

``ROLE_PERMISSIONS`` is the only place this is written down. Migrations
apply it with ``apply_role_map`` (``accounts/migrations``); to change what a
role may do, edit the map and add a migration that calls ``apply_role_map``
again. Pages, templates and services ask the ``can_*`` helpers, all of which
go through ``has_permission``: there is no second permission path.
Superusers count as ``admin``.
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
# Superuser status is no group, but it is granted and revoked like a role
# (``staff.services``), and only by a superuser or from the shell.
SUPERUSER = "superuser"
GRANTABLE_ROLES: tuple[str, ...] = (*ROLES, SUPERUSER)

ADD_APPLICATION = "applications.add_loanapplication"
VIEW_OWN_APPLICATIONS = "applications.view_loanapplication"
VIEW_ALL_APPLICATIONS = "applications.view_all_loanapplications"
CHANGE_APPLICATION = "applications.change_loanapplication"
OVERRIDE_DECISION = "applications.override_decision"
VIEW_AUDIT = "audit.view_audit"
RECORD_OUTCOME = "audit.record_outcome"
VIEW_MONITORING = "monitoring.view_monitoring"
GOVERN_MODELS = "governance.govern_models"
MANAGE_API_TOKENS = "api.add_apitoken"
_API_TOKENS = ("api.add_apitoken", "api.change_apitoken", "api.view_apitoken")
_AUDIT_RECORDS = (
    "audit.view_decisionrecord",
    "audit.view_overriderecord",
    "audit.view_caserecord",
    "audit.view_rolechangerecord",
    "audit.view_accessevent",
    "audit.view_outcomerecord",
)
# The review workflow's settings: reason codes and delegated approval limits (admin).
_VIEW_REVIEW_SETTINGS = ("reviews.view_reasoncode", "reviews.view_delegatedlimit")
_MANAGE_REVIEW_SETTINGS = (
    *_VIEW_REVIEW_SETTINGS,
    "reviews.add_reasoncode",
    "reviews.change_reasoncode",
    "reviews.add_delegatedlimit",
    "reviews.change_delegatedlimit",
)
MANAGE_USERS = "auth.change_user"
_MANAGE_USERS = tuple(
    f"auth.{action}_{model}" for model in ("user", "group") for action in ("add", "change", "delete", "view")
)

# "app_label.codename" per role: the whole truth about roles.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OFFICER: (ADD_APPLICATION, VIEW_OWN_APPLICATIONS),
    REVIEWER: (ADD_APPLICATION, VIEW_OWN_APPLICATIONS, VIEW_ALL_APPLICATIONS, OVERRIDE_DECISION, VIEW_MONITORING),
    AUDITOR: (
        VIEW_OWN_APPLICATIONS,
        VIEW_ALL_APPLICATIONS,
        VIEW_AUDIT,
        *_AUDIT_RECORDS,
        *_VIEW_REVIEW_SETTINGS,
        VIEW_MONITORING,
    ),
    ADMIN: (
        ADD_APPLICATION,
        VIEW_OWN_APPLICATIONS,
        VIEW_ALL_APPLICATIONS,
        CHANGE_APPLICATION,
        OVERRIDE_DECISION,
        VIEW_AUDIT,
        *_AUDIT_RECORDS,
        *_MANAGE_USERS,
        *_API_TOKENS,
        *_MANAGE_REVIEW_SETTINGS,
        VIEW_MONITORING,
        RECORD_OUTCOME,
        GOVERN_MODELS,
    ),
}

# Shown in the navigation; the most powerful role wins when a user has several.
_RANK = {ADMIN: 0, REVIEWER: 1, AUDITOR: 2, OFFICER: 3}


def apply_role_map(*, apps: Any = None, using: str = "default") -> None:
    """Make each role group hold exactly the permissions ``ROLE_PERMISSIONS`` gives it.

    ``apps`` is a migration's historical registry (Django's live one when
    ``None``). Permissions are normally created after ``migrate`` finishes,
    too late for a fresh database, so they are created here first.
    Idempotent: creates missing groups, adds and removes permissions.
    """
    from django.apps import apps as live_apps
    from django.contrib.auth.management import create_permissions

    registry = apps or live_apps
    # In a migration, the historical registry holds only the apps and models
    # migrated so far: an early role-map migration applies the part of today's
    # map that exists then, and the later ones (each depending on the
    # migrations that add its permissions) complete it. Called live, every
    # permission must exist, so a misspelt one fails loudly.
    partial = apps is not None
    labels = {perm.split(".", 1)[0] for perms in ROLE_PERMISSIONS.values() for perm in perms}
    for label in sorted(labels):
        try:
            app_config = registry.get_app_config(label)
        except LookupError:
            if partial:
                continue
            raise
        # create_permissions skips an app without a models module, which a
        # migration's historical app config never has.
        had_models_module = getattr(app_config, "models_module", None)
        app_config.models_module = had_models_module or True
        create_permissions(app_config, apps=registry, verbosity=0, using=using)
        app_config.models_module = had_models_module

    group_model = registry.get_model("auth", "Group")
    permission_model = registry.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            try:
                wanted.append(
                    permission_model.objects.using(using).get(content_type__app_label=app_label, codename=codename)
                )
            except permission_model.DoesNotExist:
                if partial:
                    continue
                raise
        group.permissions.set(wanted)


def role_of(user: Any) -> str | None:
    """The user's role name for display, or ``None`` if they have none (cached on the user)."""
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


def forget_cached_roles(user: Any) -> None:
    """Drop what ``role_of`` and ``has_permission`` cached on this user object (after a role change)."""
    user.__dict__.pop("_role_cache", None)
    user.__dict__.pop("_role_permission_cache", None)


def _permissions_sql() -> str:
    """One query listing "app_label.codename" of every permission a user holds, directly or through a group."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_perms = user_model._meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta.db_table
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    named = (
        f"SELECT ct.app_label, p.codename FROM {Permission._meta.db_table} p "
        f"JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id "
    )
    return (
        f"{named}JOIN {user_perms} up ON up.permission_id = p.id WHERE up.user_id = %s "
        f"UNION {named}JOIN {group_perms} gp ON gp.permission_id = p.id "
        f"JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s"
    )


_PERMISSIONS_SQL: str | None = None


def has_permission(user: Any, perm: str) -> bool:
    """``user.has_perm(perm)`` under Django's ModelBackend rules, in one indexed query per request.

    Same answer as ModelBackend (active users only; superusers hold every
    permission; directly or through a group), without ModelBackend's two ORM
    queries: the names of every permission the user holds (a role's few) are
    read once and cached on the user object, i.e. for one request, whose pages
    ask several questions each (an application's page six).
    """
    global _PERMISSIONS_SQL
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    held: frozenset[str] | None = user.__dict__.get("_role_permission_cache")
    if held is None:
        if _PERMISSIONS_SQL is None:
            _PERMISSIONS_SQL = _permissions_sql()
        with connections[router.db_for_read(Permission)].cursor() as cursor:
            cursor.execute(_PERMISSIONS_SQL, [user.pk, user.pk])
            held = frozenset(f"{app_label}.{codename}" for app_label, codename in cursor.fetchall())
        user.__dict__["_role_permission_cache"] = held
    return perm in held


def held_roles(user: Any) -> list[str]:
    """Every role the user holds, in ``GRANTABLE_ROLES`` order (uses prefetched groups when there are some)."""
    names = {group.name for group in user.groups.all()}
    held = [role for role in ROLES if role in names]
    if user.is_superuser:
        held.append(SUPERUSER)
    return held


def can_manage_users(user: Any) -> bool:
    """Admins: may add users and grant or revoke roles (within ``staff.services``' separation of duties)."""
    return has_permission(user, MANAGE_USERS)


def can_create(user: Any) -> bool:
    """May enter new applications."""
    return has_permission(user, ADD_APPLICATION)


def can_view_any(user: Any) -> bool:
    """May open the history and application pages at all (own rows at least)."""
    return has_permission(user, VIEW_OWN_APPLICATIONS)


def can_view_all(user: Any) -> bool:
    """Sees every officer's applications, not only their own."""
    return has_permission(user, VIEW_ALL_APPLICATIONS)


def can_view_audit(user: Any) -> bool:
    """Auditors and admins: the audit pages, the verification and the exports."""
    return has_permission(user, VIEW_AUDIT)


def can_view_monitoring(user: Any) -> bool:
    """Auditors, reviewers and admins: the monitoring dashboard, drift, back-testing and fairness pages."""
    return has_permission(user, VIEW_MONITORING)


def can_record_outcomes(user: Any) -> bool:
    """Admins: record how loans turned out (admin form, CSV import page, command)."""
    return has_permission(user, RECORD_OUTCOME)


def can_review(user: Any) -> bool:
    """Works the review queue: claims, decides, overrides, confirms (never on their own applications)."""
    return has_permission(user, OVERRIDE_DECISION)


def can_act_on_case(user: Any, application: Any) -> bool:
    """Reviewers (and admins), on scored applications somebody else entered: four eyes.

    Whether the case's state allows a given action right now (claims,
    second approvals) is ``reviews.services``'s question; this is who may
    act on it at all.
    """
    return can_review(user) and application.officer_id != user.pk and application.status == "SCORED"


def landing_page(user: Any) -> str:
    """The URL name a signed-in user starts at (``/`` and after sign-in).

    Reviewers and admins: the review queue; auditors: the audit page;
    officers (and anyone else who may enter applications): the form;
    anyone else who may read applications: the history.
    """
    if can_review(user):
        return "reviews:queue"
    if can_view_audit(user):
        return "audit:home"
    if can_create(user):
        return "applications:new"
    return "applications:list"


def can_view_registry(user: Any) -> bool:
    """Auditors, reviewers and admins: the model registry and the cut-off simulator (read only)."""
    return has_permission(user, VIEW_MONITORING) or has_permission(user, GOVERN_MODELS)


def can_compare_challenger(user: Any) -> bool:
    """Auditors and admins: the champion/challenger comparison (its swap sets link to applications)."""
    return has_permission(user, VIEW_AUDIT) and has_permission(user, VIEW_ALL_APPLICATIONS)


def can_propose_model_change(user: Any) -> bool:
    """Admins: propose activating a model version (or rolling back to one) or adopting new cut-offs."""
    return has_permission(user, GOVERN_MODELS)


def can_decide_model_change(user: Any, proposal: Any) -> bool:
    """Admins other than the proposer: approve or reject a pending change (four eyes)."""
    return has_permission(user, GOVERN_MODELS) and proposal.proposed_by_id != user.pk


def can_withdraw_model_change(user: Any, proposal: Any) -> bool:
    """The proposer (still an admin) may withdraw their own pending proposal."""
    return has_permission(user, GOVERN_MODELS) and proposal.proposed_by_id == user.pk


def can_view_batch(user: Any, job: Any) -> bool:
    """A batch file's page and results: whoever uploaded it, and those who see every application."""
    return can_view_any(user) and (job.officer_id == user.pk or can_view_all(user))


def can_cancel_batch(user: Any, job: Any) -> bool:
    """Cancel a batch file: whoever uploaded it, or an admin."""
    return can_create(user) and (job.officer_id == user.pk or role_of(user) == ADMIN)


def can_manage_api_tokens(user: Any) -> bool:
    """Create and revoke users' API tokens: admins (who manage users)."""
    return has_permission(user, MANAGE_API_TOKENS)
