"""Reads for staff management."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model


def user_by_username(*, username: str) -> Any | None:
    """The user signing in with ``username`` (Django's own case-sensitive match), or ``None``."""
    return get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
