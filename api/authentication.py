"""``Authorization: Bearer <token>``: per-user API tokens, with the pages' sign-in throttling.

Failed attempts are counted per client address (``accounts.client_ip``)
with the sign-in settings of the pages (``DJANGO_LOGIN_FAILURE_LIMIT``
failures lock the address out for ``DJANGO_LOGIN_LOCKOUT_MINUTES``), and
each is written to the audit access log as a failed sign-in. The counts
live in Django's cache: shared by every process when ``DJANGO_CACHE_URL``
names a shared cache (README, "Configuration").
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.client_ip import client_ip
from api.services import TokenRefused, authenticate_token
from audit.models import AccessEvent
from audit.services import log_access


class TooManyFailedSignIns(exceptions.Throttled):
    default_detail = "Too many failed sign-ins from this address; try again later."


def _failures_key(request) -> str:
    return f"api-auth-failures:{client_ip(request) or 'unknown'}"


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token: NotAuthenticated (401) if the view needs a user
        key = _failures_key(request)
        lockout_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
        if (cache.get(key) or 0) >= settings.AXES_FAILURE_LIMIT:
            raise TooManyFailedSignIns(wait=lockout_seconds)
        if len(header) != 2:
            self._failed(request, key, lockout_seconds)
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            token = authenticate_token(token=header[1].decode("ascii", errors="replace"))
        except TokenRefused as refusal:
            self._failed(request, key, lockout_seconds)
            raise exceptions.AuthenticationFailed(str(refusal)) from None
        request.api_token = token
        return token.user, token

    def _failed(self, request, key: str, lockout_seconds: int) -> None:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, lockout_seconds)
        log_access(user=None, action=AccessEvent.LOGIN_FAILED, target="api-token", request=request)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
