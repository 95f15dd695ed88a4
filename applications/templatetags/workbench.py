"""Template helpers for the workbench pages.

Formatting filters only wrap ``applications.formatting``, where each rule lives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings

from accounts import roles
from applications import formatting
from audit import lifecycle
from audit.models import AccessEvent
from scoring import schema

register = template.Library()


@register.simple_tag
def user_role(user: Any) -> str:
    """The signed-in user's role for the navigation bar ("" if none)."""
    return roles.role_of(user) or ""


@register.filter
def percent(value: float | None, places: int = 2) -> str:
    """``0.12345`` -> ``"12.35%"``; a dash when there is no value."""
    return formatting.percent(value, places)


@register.filter
def number(value: int | float | Decimal | None, places: int = 0) -> str:
    """``1234567`` -> ``"1,234,567"``."""
    return formatting.number(value, places)


@register.filter
def money(value: int | float | Decimal | None) -> str:
    """``91800`` -> ``"USD 91,800.00"`` (the bank's currency)."""
    return formatting.money(value)


@register.filter
def when(value: dt.datetime | None, precision: str = "seconds") -> str:
    """A stored time in the bank's zone, zone named; ``|when:"minutes"`` drops the seconds."""
    return formatting.local_time(value, seconds=precision != "minutes")


@register.filter
def reason_text(reason: Mapping[str, Any], application: Any) -> str:
    """A principal reason as shown, amounts in the bank's currency."""
    return formatting.reason_text(reason, {name: getattr(application, name, None) for name in schema.INPUT_NAMES})


@register.filter
def access_action(action: str) -> str:
    """An access-log action code in words (``audit.models.AccessEvent.ACTION_LABELS``)."""
    return AccessEvent.action_label(action)


@register.filter
def case_state(state: str) -> str:
    """A case state code in words (``audit.lifecycle.STATE_LABELS``)."""
    return lifecycle.STATE_LABELS.get(state, state)


@register.filter
def case_action(action: str) -> str:
    """A case record's action in words (``audit.lifecycle.ACTION_LABELS``)."""
    return lifecycle.ACTION_LABELS.get(action, action)


@register.filter
def case_decision(choice: str) -> str:
    """A decision-form choice as the confirmation names it."""
    return {
        "APPROVE": "approve",
        "DECLINE": "decline",
        lifecycle.REFER: "refer (keep in review)",
        lifecycle.CONFIRM: "confirm the proposed approval",
        lifecycle.REJECT: "reject the proposed approval",
    }.get(choice, choice)


@register.filter
def age(delta: dt.timedelta) -> str:
    """How long a case has waited: ``"3 d 4 h"``, ``"5 h 12 min"``, ``"7 min"``."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.simple_tag
def time_zone_name() -> str:
    return formatting.time_zone_name()


@register.simple_tag
def can_create(user: Any) -> bool:
    return roles.can_create(user)


@register.simple_tag
def can_view_any(user: Any) -> bool:
    return roles.can_view_any(user)


@register.simple_tag
def can_view_audit(user: Any) -> bool:
    return roles.can_view_audit(user)


@register.simple_tag
def bank_currency() -> str:
    """The bank's ISO 4217 currency code (settings.BANK_CURRENCY)."""
    return settings.BANK_CURRENCY


@register.simple_tag
def can_view_monitoring(user: Any) -> bool:
    return roles.can_view_monitoring(user)
