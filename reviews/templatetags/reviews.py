"""Template helpers of the review workflow: the queue count in the navigation."""

from __future__ import annotations

from typing import Any, NamedTuple

from django import template

from accounts import roles
from reviews import selectors

register = template.Library()


class QueueCount(NamedTuple):
    """The navigation's badge: ``text`` shown ("7", or "99+" past the limit), ``label`` read out."""

    text: str
    label: str


@register.simple_tag
def review_queue_count(user: Any) -> QueueCount | None:
    """Open cases ``user`` may act on, or ``None`` for someone who does not review (no link shown)."""
    if not roles.can_review(user):
        return None
    limit = selectors.NAV_COUNT_LIMIT
    count = selectors.open_case_count(user=user, limit=limit)
    if count > limit:
        return QueueCount(f"{limit}+", f"more than {limit} open cases")
    return QueueCount(str(count), f"{count} open case{'' if count == 1 else 's'}")
