"""Template helpers for the workbench pages."""

from __future__ import annotations

from typing import Any

from django import template

from accounts import roles

register = template.Library()


@register.simple_tag
def user_role(user: Any) -> str:
    """The signed-in user's role for the navigation bar ("" if none)."""
    return roles.role_of(user) or ""


@register.filter
def percent(value: float | None, places: int = 2) -> str:
    """``0.12345`` -> ``"12.35%"``; a dash when there is no value."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(places)}f}%"


@register.simple_tag
def can_create(user: Any) -> bool:
    return roles.can_create(user)


@register.simple_tag
def can_view_any(user: Any) -> bool:
    return roles.can_view_any(user)


@register.simple_tag
def can_view_audit(user: Any) -> bool:
    return roles.can_view_audit(user)
