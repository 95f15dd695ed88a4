"""django-csp's middleware with the policy string built once, not per response.

``csp.middleware.CSPMiddleware`` rebuilds the header from settings on every
response (about 60 µs here), which is a measurable share of a submission
at hundreds per second. The policy only varies when a view uses the
``csp_update``/``csp_replace``/``csp_exempt`` decorators or a template asks
for a nonce; those responses still go through django-csp unchanged. The
cache is keyed on the settings object, so tests that override
``CONTENT_SECURITY_POLICY`` see their policy.
"""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


class CachedCSPMiddleware(CSPMiddleware):
    _cached: tuple[int, int, str] | None = None

    def _static_policy(self) -> str:
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        key = (id(policy), id(report_only))
        cached = CachedCSPMiddleware._cached
        if cached is None or cached[:2] != key:
            cached = (*key, build_policy())
            CachedCSPMiddleware._cached = cached
        return cached[2]

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        simple = (
            getattr(request, "_csp_nonce", None) is None
            and not any(getattr(response, name, None) for name in _PER_RESPONSE)
            and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            and not (settings.CONTENT_SECURITY_POLICY or {}).get("EXCLUDE_URL_PREFIXES")
            and not (settings.DEBUG and response.status_code in (404, 500))
        )
        if not simple:
            return super().process_response(request, response)
        policy = self._static_policy()
        if policy and HEADER not in response:
            response[HEADER] = policy
        # Same guard as django-csp: a nonce asked for after the header was written is an error.
        request.csp_nonce = _NonceTooLate()
        return response


class _NonceTooLate:
    def __str__(self) -> str:
        CSPMiddleware._csp_nonce_post_response()
        return ""

    def __bool__(self) -> bool:
        return False
