"""API tokens in the admin: an admin creates a user's token (shown once, on the next page) and revokes it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model

from accounts import roles
from api.models import ApiToken
from api.services import MAX_TOKEN_DAYS, create_api_token, revoke_api_token


class ApiTokenCreateForm(forms.ModelForm):
    days = forms.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, initial=90, help_text="Days until it expires.")

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    )
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ("user", "name", "days") if obj is None else self.readonly_fields

    def has_add_permission(self, request):
        return roles.can_manage_api_tokens(request.user)

    def has_change_permission(self, request, obj=None):
        return False  # tokens are created and revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay, as a record

    def save_model(self, request, obj, form, change):
        token, clear = create_api_token(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            created_by=request.user,
        )
        obj.pk = token.pk
        obj.__dict__.update(token.__dict__)
        messages.warning(
            request,
            f"The token for {token.user.get_username()} is {clear} : copy it now, it is not shown again "
            "(only its SHA-256 is stored).",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            revoke_api_token(token=token, revoked_by=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")
