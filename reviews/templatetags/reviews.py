"""Template helpers of the review workflow: the queue count in the navigation."""

from __future__ import annotations

from typing import Any

from django import template

from accounts import roles
from reviews import selectors

register = template.Library()


@register.simple_tag
def review_queue_count(user: Any) -> int | None:
    """Open cases ``user`` may act on, or ``None`` for someone who does not review (no link shown)."""
    if not roles.can_review(user):
        return None
    return selectors.open_case_count(user=user)
