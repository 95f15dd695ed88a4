"""Per-user request budgets for pages that compute but store nothing (what-if).

A what-if runs the model on every keystroke pause; the budget keeps one
user (or a script with their session) from turning it into a free scoring
service or a load test. Fixed one-minute windows in Django's cache: with the
default local-memory cache the budget is per server process, so N processes
allow up to N times the budget; a shared cache (CACHES) makes it global.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


def take_whatif_request(*, user: Any) -> bool:
    """Count one what-if for ``user``; False when this minute's budget is spent."""
    window = int(time.time() // WINDOW_SECONDS)
    key = f"whatif:{user.pk}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        used = 1
    return used <= settings.WHATIF_REQUESTS_PER_MINUTE
