"""The client's address, also behind trusted load balancers.

Behind a load balancer ``REMOTE_ADDR`` is the balancer, so locking out "this
IP" after failed logins would lock out every officer at once. Each trusted
proxy appends the address it received the request from to
``X-Forwarded-For``; with ``DJANGO_TRUSTED_PROXY_COUNT=N`` the N-th entry
from the right is the client's address as seen by the outermost trusted
proxy. Entries further left were written by the client and are ignored, so
they cannot be forged to dodge the lockout. With N=0 (the default) only
``REMOTE_ADDR`` is used.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        return remote
    return forwarded[-count]
