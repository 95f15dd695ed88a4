"""How numbers, amounts and times read on screen: the one place for each rule.

Amounts carry thousands separators and the bank's currency
(``settings.BANK_CURRENCY``); times are shown in the bank's time zone
(``settings.TIME_ZONE``, from ``BANK_TIME_ZONE``) with the zone named, while
the database keeps UTC. The template filters in
``applications.templatetags.workbench`` and the view helpers call these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import dateformat, timezone

from scoring import schema

DASH = "—"
# A non-breaking space: "EUR 91,800.00" never wraps between code and digits.
NBSP = "\u00a0"


def percent(value: float | None, places: int = 2) -> str:
    """``0.12345`` -> ``"12.35%"``; a dash when there is no value."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(places)}f}%"


def number(value: int | float | Decimal | None, places: int = 0) -> str:
    """``1234567`` -> ``"1,234,567"``; a dash when there is no value."""
    if value is None or value == "":
        return DASH
    return f"{value:,.{int(places)}f}"


def money(value: int | float | Decimal | None) -> str:
    """``91800`` -> ``"USD 91,800.00"`` in the bank's currency; a dash when there is no value."""
    if value is None or value == "":
        return DASH
    return f"{settings.BANK_CURRENCY}{NBSP}{number(value, 2)}"


def unit_label(field: schema.NumericField | schema.CategoricalField | None) -> str:
    """The unit beside a form field: ``"EUR per year"`` for income, ``"years"`` for age."""
    if not isinstance(field, schema.NumericField):
        return ""
    if field.money:
        return f"{settings.BANK_CURRENCY} {field.unit}".strip()
    return field.unit


def input_value(field: schema.NumericField | schema.CategoricalField, value: Any, display: str = "") -> str:
    """One stored input as an officer reads it, with its unit (``display``: a category's label)."""
    if isinstance(field, schema.CategoricalField):
        return display or str(value)
    if value is None:
        return "not given"
    if field.money:
        text = money(value)
    else:
        text = number(value, 0 if field.integer else field.decimal_places)
        if field.decimal_places and not field.integer:
            # "6.5 years", "11.25%": no trailing zeros beyond what was typed.
            text = text.rstrip("0").rstrip(".") if "." in text else text
    if field.unit.startswith("%"):
        return f"{text}{field.unit}"
    return f"{text} {field.unit}" if field.unit else text


def reason_text(reason: Mapping[str, Any], inputs: Mapping[str, Any]) -> str:
    """A stored principal reason as shown.

    Coded reasons (models with a reason-code table) read "statement — the
    applicant's value". Older, uncoded reasons keep their stored text, except
    that money reasons say the amount in the bank's currency. What is stored
    (``scoring.explain``) is never changed: it is in the audit trail.
    """
    if reason.get("statement"):
        return f"{reason['statement']} — {reason.get('value_text', '')}".rstrip(" —")
    field = schema.FIELDS_BY_NAME.get(reason.get("feature", ""))
    if isinstance(field, schema.NumericField) and field.money and inputs.get(field.name) is not None:
        return f"{field.label} {money(inputs[field.name])}"
    return str(reason.get("text", ""))


def time_zone_name() -> str:
    """The bank's time zone as configured, e.g. ``"Europe/Paris"``."""
    return timezone.get_current_timezone_name()


def local_time(value: dt.datetime | None, *, seconds: bool = True) -> str:
    """A stored (UTC) time in the bank's zone, with the zone's abbreviation: ``"2026-01-06 00:30:00 CET"``."""
    if value is None:
        return DASH
    return dateformat.format(timezone.localtime(value), "Y-m-d H:i:s T" if seconds else "Y-m-d H:i T")


def day_start(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in the bank's time zone (date filters count the bank's days)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
