"""Admin for the review workflow's settings: the reason-code list and each reviewer's delegated limit.

Thin. Reason codes are never deleted and their code never changes once created (case records quote
them); retire one by unticking ``active``. Permissions follow the role map (admins manage, auditors
read). The lead may later show the delegated limit inline on the user page; this ModelAdmin is its
own home until then.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from reviews.models import DelegatedLimit, ReasonCode


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "action", "label", "active", "position")
    list_filter = ("action", "active")
    search_fields = ("code", "label")
    ordering = ("action", "position", "code")
    actions = None  # no "delete selected"

    def get_readonly_fields(self, request: HttpRequest, obj: ReasonCode | None = None):
        return ("code", "action") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: ReasonCode | None = None) -> bool:
        return False


@admin.register(DelegatedLimit)
class DelegatedLimitAdmin(admin.ModelAdmin):
    list_display = ("user", "approval_limit", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: DelegatedLimit | None = None):
        return ("user", "updated_at") if obj is not None else ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj: DelegatedLimit | None = None) -> bool:
        # A limit is changed, not removed: removing would silently fall back to the default.
        return False
