"""Users and roles in the admin: roles listed and filterable, changed only through ``staff.services``.

* The user list shows each user's roles and filters by role.
* The change page offers the roles as checkboxes; saving grants and revokes
  the difference through ``staff.services.set_roles``, so every change is
  recorded in the audit trail and obeys separation of duties. Superuser
  status goes the same way.
* A user who is not a superuser sees no superuser or staff box, cannot
  edit their own roles (shown read-only) and cannot change a superuser's
  account at all (they could otherwise set its password and become one).
* Direct per-user permissions are not offered: roles (``accounts.roles``)
  are the one way to hold a permission.
* Accounts are deactivated, not deleted (no delete button or action).
* Role groups are read-only: what a role may do is ``ROLE_PERMISSIONS``,
  applied by migration, not something edited in a form.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts import roles
from audit.models import RoleChangeRecord
from staff import services
from staff.forms import UserCreationForm, UserEditForm

User = get_user_model()
NO_ROLE = "none"


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(role, role) for role in roles.GRANTABLE_ROLES] + [(NO_ROLE, "no role")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == roles.SUPERUSER:
            return queryset.filter(is_superuser=True)
        if value in roles.ROLES:
            return queryset.filter(groups__name=value).distinct()
        if value == NO_ROLE:
            return queryset.exclude(Q(is_superuser=True) | Q(groups__name__in=roles.ROLES))
        return queryset


def _own_account(request: HttpRequest, obj: Any) -> bool:
    return obj is not None and obj.pk == request.user.pk


if admin.site.is_registered(User):
    admin.site.unregister(User)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    add_form = UserCreationForm
    form = UserEditForm
    list_display = ("username", "role_list", "first_name", "last_name", "email", "is_active", "last_login")
    list_filter = (RoleFilter, "is_active")
    readonly_fields = ("role_list",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def role_list(self, user: Any) -> str:
        return ", ".join(roles.held_roles(user)) or "—"

    def _access_fields(self, request: HttpRequest, obj: Any) -> tuple[str, ...]:
        if request.user.is_superuser:
            return ("is_active", "is_staff", "is_superuser", "roles")
        if _own_account(request, obj):
            return ("is_active", "role_list")
        return ("is_active", "roles")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        if obj is None:
            return self.add_fieldsets
        access = self._access_fields(request, obj)
        return (
            (None, {"fields": ("username", "password")}),
            ("Personal info", {"fields": ("first_name", "last_name", "email")}),
            ("Access", {"fields": access}),
            ("Important dates", {"fields": ("last_login", "date_joined")}),
        )

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "roles" not in self._access_fields(request, obj):
            # A declared field stays in a ModelForm whatever ``fields`` says: remove it, so that
            # saving one's own account neither offers nor posts a role change.
            form = type(form.__name__, (form,), {"roles": None})
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Accounts are deactivated, never deleted: decisions, overrides and the access log point at
        # them, and a deleted account's roles would vanish without a revocation on record.
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Superuser status changes only in save_related, through the service.
        obj.is_superuser = bool(form.initial.get("is_superuser", False)) if change else False
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        held = set(roles.held_roles(user))
        wanted = set(held)
        if "roles" in form.cleaned_data:
            wanted = (held - set(roles.ROLES)) | set(form.cleaned_data["roles"])
        if "is_superuser" in form.cleaned_data:
            wanted.discard(roles.SUPERUSER)
            if form.cleaned_data["is_superuser"]:
                wanted.add(roles.SUPERUSER)
        if wanted == held:
            return
        changes = services.set_roles(user=user, wanted=wanted, actor=request.user, request=request)
        for action, role in changes:
            verb = "Granted" if action == RoleChangeRecord.GRANT else "Revoked"
            self.message_user(
                request,
                f"{verb} {role} {'to' if action == RoleChangeRecord.GRANT else 'from'} {user.get_username()}; "
                "recorded in the audit trail.",
                messages.SUCCESS,
            )


@admin.register(Group)
class RoleGroupAdmin(GroupAdmin):
    """Read-only: a role's permissions come from ``accounts.roles.ROLE_PERMISSIONS`` (by migration)."""

    filter_horizontal = ()
    readonly_fields = ("name", "permissions")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
