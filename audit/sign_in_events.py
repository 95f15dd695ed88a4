"""Sign-ins, sign-outs and failed sign-ins, written to the access log.

Django's auth announces these three events with signals from ``login()``,
``logout()`` and ``authenticate()``, whichever page calls them (ours, the
admin's). Receiving those signals is the one way to see every sign-in
without re-implementing Django's views, so these receivers are connected
explicitly in ``AuditConfig.ready`` and do nothing but append an event.
"""

from __future__ import annotations

from typing import Any

from audit.models import AccessEvent
from audit.services import log_access


def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    log_access(user=user, action=AccessEvent.LOGIN, request=request)


def record_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        log_access(user=user, action=AccessEvent.LOGOUT, request=request)


def record_login_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", "") or "")
    log_access(user=None, action=AccessEvent.LOGIN_FAILED, target=username[:255], request=request, username=username)
