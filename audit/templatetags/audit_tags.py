"""Template helpers so the application page can include the override panel as is."""

from __future__ import annotations

from typing import Any

from django import template

from audit import selectors
from audit.permissions import can_override

register = template.Library()


@register.simple_tag
def overrides_for(application: Any):
    if application is None or getattr(application, "pk", None) is None:
        return []
    return list(selectors.overrides_for_application(application=application))


@register.simple_tag
def may_override(user: Any, application: Any) -> bool:
    return application is not None and can_override(user, application)


@register.simple_tag
def decision_records_for(application: Any):
    """The application's decision records (one per scoring), oldest first."""
    if application is None or getattr(application, "pk", None) is None:
        return []
    return list(selectors.decision_records_for_application(application=application))
