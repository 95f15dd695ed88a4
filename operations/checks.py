"""Deploy checks (``manage.py check --deploy``) for what Django cannot know.

``operations.E001``: a demo account (printed password, ``make run``) exists
and is active while ``DEBUG`` is off. Even though the auth backend refuses
it, an operator must remove it: a deploy must not carry known credentials.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError, InterfaceError

from accounts.demo import demo_usernames


@register(Tags.security, deploy=True)
def demo_account_absent(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.DEBUG:
        return []
    from django.contrib.auth import get_user_model

    User = get_user_model()
    try:
        present = list(
            User.objects.filter(**{f"{User.USERNAME_FIELD}__in": demo_usernames()}, is_active=True).values_list(
                User.USERNAME_FIELD, flat=True
            )
        )
    except (DatabaseError, InterfaceError):
        # Not migrated yet (or no database): then there is no account either.
        return []
    return [
        Error(
            f"The demo account {name!r} exists and is active while DEBUG is off.",
            hint=(
                "Demo accounts have printed passwords. Deactivate or delete it, e.g. "
                f'python manage.py shell -c "from django.contrib.auth import get_user_model; '
                f"get_user_model().objects.filter(username='{name}').update(is_active=False)\""
            ),
            id="operations.E001",
        )
        for name in present
    ]
