"""Requests throttled per API token (``API_RATE_PER_TOKEN``, e.g. ``600/min``), in Django's cache."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class PerTokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"

    def get_cache_key(self, request, view):
        token = getattr(request, "api_token", None)
        if token is None:
            return None  # signed-in page users (the docs) are not API clients
        return self.cache_format % {"scope": self.scope, "ident": token.pk}
