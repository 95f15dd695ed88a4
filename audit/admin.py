"""Admin for the audit records: read-only evidence, nothing can be changed or deleted.

Thin: every permission hook says no to writes; viewing follows the normal
``view_*`` permissions (auditors and admins hold them). The one addition is
an outcome: the add form hands its fields to ``audit.services.record_outcome``,
the same service the import page and command use.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest

from accounts import roles
from audit import selectors
from audit.models import (
    AccessEvent,
    AnonymousAccessTally,
    CaseRecord,
    DecisionRecord,
    OutcomeRecord,
    OverrideRecord,
    RoleChangeRecord,
)
from audit.services import record_outcome
from infrastructure.pagination import BoundedCountPaginator, equal_as_range
from infrastructure.prefix_search import prefix_range, search_key
from scoring.results import APPROVE, DECLINE, REVIEW

HASH = re.compile(r"[0-9a-fA-F]{64}")


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


class DecisionFilter(admin.SimpleListFilter):
    """By the model's decision: three fixed values (the default filter would find them with a DISTINCT over every row)."""

    title = "decision"
    parameter_name = "decision"

    def lookups(self, request: HttpRequest, model_admin):
        return [(value, value) for value in (APPROVE, REVIEW, DECLINE)]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(decision=self.value()) if self.value() else queryset


class DecisionModelVersionFilter(admin.SimpleListFilter):
    """By model version; the choices from index seeks, not a DISTINCT over every record."""

    title = "model version"
    parameter_name = "model_version"

    def lookups(self, request: HttpRequest, model_admin):
        return [(version, version) for version in selectors.decision_model_versions()]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(equal_as_range("model_version", self.value())) if self.value() else queryset


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
    list_filter = (DecisionFilter, DecisionModelVersionFilter, "created_at")
    # Each kind of term on its own index (get_search_results); no date hierarchy (a DISTINCT over every record).
    search_fields = ("record_hash",)
    search_help_text = (
        "A record or application number, a record hash (all 64 characters), "
        "or an applicant reference starting with what you type."
    )
    list_select_related = ("application", "officer")
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def get_ordering(self, request: HttpRequest):
        if request.GET.get(DecisionModelVersionFilter.parameter_name):
            # Filtered to one version: ordered by it first, so (model_version, sequence) serves the page. Ordered by
            # sequence alone PostgreSQL walks the sequence index and skips the other version's records first.
            return ("model_version", "sequence")
        return ("sequence",)

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            number = int(term)
            return queryset.filter(Q(sequence=number) | Q(application_id=number)), False
        if HASH.fullmatch(term):
            return queryset.filter(record_hash=term.lower()), False
        # The application's reference on its own index (infrastructure.prefix_search), then its records.
        applications = DecisionRecord._meta.get_field("application").related_model._default_manager
        matching = applications.alias(**search_key("applicant_reference")).filter(
            prefix_range("applicant_reference_key", term)
        )
        return queryset.filter(application_id__in=matching.values("pk")), False


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


class OutcomeForm(forms.ModelForm):
    """Application, outcome and date; recorded by the service when the form is checked.

    Recording in ``clean`` puts the service's refusals beside the fields; the
    admin's add view runs in one transaction, so nothing stays recorded if a
    later step fails.
    """

    application_id = forms.IntegerField(label="Application id", min_value=1)
    outcome_choice = forms.ChoiceField(label="Outcome", choices=OutcomeRecord.OUTCOMES)
    date = forms.DateField(label="Outcome date", help_text="YYYY-MM-DD: when it was repaid in full or defaulted.")

    class Meta:
        model = OutcomeRecord
        fields: list[str] = []

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.record = record_outcome(
                application_id=cleaned["application_id"],
                outcome=cleaned["outcome_choice"],
                outcome_date=cleaned["date"],
                recorded_by=self.recorded_by,
                source="admin",
            )
        except ValidationError as error:
            mapping = {"outcome": "outcome_choice", "outcome_date": "date"}
            for field, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(mapping.get(field, field), message)
            return cleaned
        if self.record is None:
            raise ValidationError("This outcome is already the one recorded for that application.")
        return cleaned


@admin.register(OutcomeRecord)
class OutcomeRecordAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "created_at", "application", "outcome", "outcome_date", "recorded_by", "source")
    list_filter = ("outcome", "source", "outcome_date")
    search_fields = ("=sequence", "=application__id", "recorded_by__username")
    date_hierarchy = "created_at"
    list_select_related = ("application", "recorded_by")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return roles.can_record_outcomes(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return super().get_readonly_fields(request, obj) if obj is not None else []

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form = type("BoundOutcomeForm", (OutcomeForm,), {"recorded_by": request.user})
        kwargs["form"] = form
        kwargs["fields"] = ["application_id", "outcome_choice", "date"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return [(None, {"fields": ["application_id", "outcome_choice", "date"]})]
        return super().get_fieldsets(request, obj)

    def save_form(self, request: HttpRequest, form, change):
        return form.record

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        """Already appended by the form, through the service."""

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        """An outcome has no related rows."""
