"""The admin's user forms, with usernames that look like what they are.

Django's own username rule (letters, digits and ``@.+-_``) still applies;
this adds ``accounts.validators.VisibleTextValidator``, which also refuses
letters that render as nothing (Hangul fillers), on both the add and the
change page.
"""

from __future__ import annotations

from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

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
    pass
