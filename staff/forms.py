"""The admin's user forms, with usernames that look like what they are.

Django's own username rule (letters, digits and ``@.+-_``) still applies;
this adds ``accounts.validators.VisibleTextValidator``, which also refuses
letters that render as nothing (Hangul fillers), on both the add and the
change page.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import roles
from accounts.validators import VisibleTextValidator


class _VisibleUsernameMixin:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields.get("username")  # type: ignore[attr-defined]
        if username is not None:
            username.validators.append(VisibleTextValidator())


class UserCreationForm(_VisibleUsernameMixin, AdminUserCreationForm):
    pass


class UserEditForm(_VisibleUsernameMixin, UserChangeForm):
    """The change form; ``roles`` is a plain field that the admin hands to ``staff.services.set_roles``.

    Not the model's ``groups`` field, so that no form save can change a role
    behind the service's back.
    """

    roles = forms.MultipleChoiceField(
        choices=[(role, role) for role in roles.ROLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Roles",
        help_text="What each role may do is fixed in accounts/roles.py. Every grant and revocation is recorded in the audit trail.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "roles" in self.fields:
            self.fields["roles"].initial = [role for role in roles.held_roles(self.instance) if role in roles.ROLES]
