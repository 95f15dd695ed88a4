"""Logs every refused request (HTTP 403) the views did not log themselves.

Views that refuse through their own path (the workbench's ``_deny``) write
the access event with a precise target; ``log_access`` marks the request so
this middleware does not write a second one. Everything else that ends in a
403 — a missing CSRF token, an admin page without permission, a
``PermissionDenied`` raised anywhere — is logged here.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.models import AccessEvent
from audit.services import log_access


class AccessDeniedLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403 and not getattr(request, "_audit_denial_logged", False):
            log_access(
                user=getattr(request, "user", None),
                action=AccessEvent.PERMISSION_DENIED,
                target=request.path[:255],
                request=request,
            )
        return response
