"""Which accounts are demo accounts, and whether they may be used.

``make run`` creates a demo officer with a printed password for local use.
A printed password is a published password, so with ``DEBUG`` off such an
account must not exist (a deploy check says so) and cannot sign in even if
a database copied from a laptop brought one along (the auth backend).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULT_DEMO_USERNAMES = ("demo-officer",)


def demo_usernames() -> tuple[str, ...]:
    return tuple(getattr(settings, "DEMO_ACCOUNT_USERNAMES", DEFAULT_DEMO_USERNAMES))


def is_demo_account(user: Any) -> bool:
    return getattr(user, "get_username", lambda: None)() in demo_usernames()


def demo_accounts_allowed() -> bool:
    return bool(settings.DEBUG)
