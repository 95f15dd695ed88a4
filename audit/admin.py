"""Admin for the audit records: read-only evidence, nothing can be added, changed or deleted.

Thin: every permission hook says no to writes; viewing follows the normal
``view_*`` permissions (auditors and admins hold them).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import (
    AccessEvent,
    AnonymousAccessTally,
    CaseRecord,
    DecisionRecord,
    OverrideRecord,
    RoleChangeRecord,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None  # no "delete selected"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field.name for field in self.model._meta.fields]


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "sequence",
        "created_at",
        "application",
        "officer",
        "decision",
        "probability_of_default",
        "model_version",
    )
    list_filter = ("decision", "model_version", "created_at")
    search_fields = (
        "=sequence",
        "=application__id",
        "application__applicant_reference",
        "officer__username",
        "record_hash",
    )
    date_hierarchy = "created_at"
    list_select_related = ("application", "officer")
    show_full_result_count = False


@admin.register(OverrideRecord)
class OverrideRecordAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "created_at", "application", "reviewer", "from_decision", "to_decision", "reason")
    list_filter = ("to_decision", "from_decision", "created_at")
    search_fields = ("=sequence", "=application__id", "reviewer__username", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("application", "reviewer")


@admin.register(CaseRecord)
class CaseRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "sequence",
        "created_at",
        "application",
        "actor",
        "action",
        "from_state",
        "to_state",
        "to_decision",
        "reason_code",
    )
    list_filter = ("action", "to_state", "reason_code", "created_at")
    search_fields = ("=sequence", "=application__id", "actor__username", "reason_code", "explanation")
    date_hierarchy = "created_at"
    list_select_related = ("application", "actor")
    show_full_result_count = False


@admin.register(RoleChangeRecord)
class RoleChangeRecordAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "created_at", "user", "action", "role", "actor_name", "channel")
    list_filter = ("action", "role", "channel", "created_at")
    search_fields = ("=sequence", "user__username", "actor_name")
    date_hierarchy = "created_at"
    list_select_related = ("user",)


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "username", "action", "target", "ip", "method", "path")
    list_filter = ("action", "created_at")
    search_fields = ("username", "target", "path", "ip")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AnonymousAccessTally)
class AnonymousAccessTallyAdmin(ReadOnlyAdmin):
    list_display = ("window_start", "ip", "action", "count", "dropped", "first_at", "last_at")
    list_filter = ("action", "window_start")
    search_fields = ("ip",)
    date_hierarchy = "window_start"
