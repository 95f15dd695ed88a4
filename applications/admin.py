"""Admin for loan applications: a read-mostly view of the evidence.

Adding goes through ``services.submit_application`` (validated by the same
form, scored, audited); once stored, the inputs and the outcome are read-only,
and no application can be deleted, pending or scored (the database refuses
it too: migration 0005).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from applications import selectors
from applications.forms import LoanApplicationAdminForm, schema_formfield
from applications.models import LoanApplication
from applications.services import PENDING_MESSAGE, submit_application
from infrastructure.pagination import BoundedCountPaginator, equal_as_range
from scoring import schema

# Everything scoring wrote, then who entered it and when.
OUTCOME_FIELDS = (
    *LoanApplication.SCORE_FIELDS,
    "officer",
    "created_at",
    # A confirmed possible duplicate, and a counter-offer (issue 15).
    "duplicate_of",
    "requested_loan_amnt",
    "counter_offered_by",
    "counter_offered_at",
)


class ModelVersionFilter(admin.SimpleListFilter):
    """By model version; the choices come from index seeks (a DISTINCT over every row would read them all)."""

    title = "model version"
    parameter_name = "model_version"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(version, version) for version in selectors.model_versions()]

    def queryset(self, request: HttpRequest, queryset):
        if self.value():
            return queryset.filter(equal_as_range("model_version", self.value()))
        return queryset


@admin.register(LoanApplication)
class LoanApplicationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "applicant_reference",
        "created_at",
        "officer",
        "final_decision",
        "decision",
        "case_state",
        "pd_percent",
        "model_version",
        "status",
    )
    list_display_links = ("id", "applicant_reference")
    list_filter = ("status", "case_state", "final_decision", "decision", "risk_label", ModelVersionFilter, "created_at")
    # A reference prefix on its index, or an application number (get_search_results). No date
    # hierarchy: it lists the years present with a DISTINCT over every row; the date filter does not.
    search_fields = ("applicant_reference",)
    search_help_text = "Reference starting with what you type (upper or lower case alike), or an application number."
    list_select_related = ("officer",)
    list_per_page = 50
    # "More than 10,000" instead of COUNT(*) over every row on every page (infrastructure.pagination).
    paginator = BoundedCountPaginator
    show_full_result_count = False
    form = LoanApplicationAdminForm
    ordering = ("-created_at", "-id")

    @admin.display(description="PD", ordering="probability_of_default")
    def pd_percent(self, obj: LoanApplication) -> str:
        value = obj.probability_percent
        return "—" if value is None else f"{value:.2f}%"

    def get_ordering(self, request: HttpRequest):
        if request.GET.get(ModelVersionFilter.parameter_name):
            # Filtered to one version: ordered by it first, so its own index serves the page (see the history).
            return ("-model_version", *self.ordering)
        return self.ordering

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = selectors.reference_starts_with(queryset, term)
        if term.isdigit():
            matches = matches | queryset.filter(pk=int(term))
        return matches, False

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs: Any):
        # The admin's own callback would replace the form's schema-aware
        # fields; keep them, so admin and page show the same messages.
        if db_field.name in schema.INPUT_NAMES:
            return schema_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # --- What each user sees ----------------------------------------------------
    def get_queryset(self, request: HttpRequest):
        # The same rule as the pages: officers see only their own.
        return selectors.visible_applications(user=request.user).order_by(*self.ordering)

    def get_form(self, request: HttpRequest, obj: LoanApplication | None = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            # The add form checks for duplicates as the signed-in user (LoanApplicationAdminForm.clean).
            form = type(form.__name__, (form,), {"officer": request.user})
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: LoanApplication | None = None):
        if obj is None:
            return ()
        # Stored inputs are the evidence a decision rests on: never edited.
        return (*schema.INPUT_NAMES, "applicant_reference", *OUTCOME_FIELDS)

    def get_fieldsets(self, request: HttpRequest, obj: LoanApplication | None = None):
        inputs = (None, {"fields": ("applicant_reference", *schema.INPUT_NAMES)})
        if obj is None:
            return (inputs, ("Duplicates", {"fields": ("store_anyway",)}))
        return (inputs, ("Outcome", {"fields": OUTCOME_FIELDS}))

    def has_delete_permission(self, request: HttpRequest, obj: LoanApplication | None = None) -> bool:
        # Never, whatever the status: a bank keeps every application it
        # received, pending ones included, and the database refuses the
        # DELETE anyway (migration 0005).
        return False

    # --- Adding goes through the service ------------------------------------
    def save_form(self, request: HttpRequest, form: LoanApplicationAdminForm, change: bool) -> Any:
        if change:
            return super().save_form(request, form, change)
        try:
            application = submit_application(
                officer=request.user,
                cleaned_data=form.cleaned_data,
                confirmed_duplicate_of=form.duplicate_of.pk if form.duplicate_of is not None else None,
            )
        except ValidationError as error:
            # The form already passed the same validation; this is the scorer
            # disagreeing, which must not be swallowed.
            raise ValueError(f"Application refused after validation: {error}") from error
        if application.status == LoanApplication.Status.PENDING:
            self.message_user(request, PENDING_MESSAGE, messages.WARNING)
        return application

    def save_model(self, request: HttpRequest, obj: LoanApplication, form: Any, change: bool) -> None:
        if change:
            # Nothing on the change page is editable; refuse rather than write.
            return
        # Already stored (and scored) by submit_application in save_form.

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)
