"""Idle and absolute session timeouts, with a cheap write path.

``SESSION_SAVE_EVERY_REQUEST`` would rewrite the session row on every
request, a database write per page view that the submission path (hundreds
per second) cannot afford. Instead the session stores two timestamps:

* ``LOGIN_AT_KEY``: when the user signed in; after
  ``SESSION_ABSOLUTE_TIMEOUT`` seconds the session ends however busy it is,
  so a stolen session cookie stops working within a working day;
* ``ACTIVITY_KEY``: the last activity, rewritten only when it is more than
  ``SESSION_ACTIVITY_RESOLUTION`` seconds old (default 60), so an officer
  submitting every few seconds costs one session write a minute. After
  ``SESSION_IDLE_TIMEOUT`` seconds without a request the session ends.

Signing in stamps both (``user_logged_in``); Django's ``login()`` also
rotates the session key, so a session fixed before sign-in is worthless.

``SessionStore`` (``SESSION_ENGINE = "operations.sessions"``) is Django's
database store with the one read every request makes compiled once (see
``operations.rows``); rows, expiry and invalidation are Django's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends import db as db_sessions
from django.core import signing
from django.db import router
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from operations.faults import DATABASE_ERRORS, database_unavailable_response
from operations.rows import row_lookup

HEALTH_PATH = "/healthz"
LOGIN_AT_KEY = "_ops_login_at"
ACTIVITY_KEY = "_ops_last_activity"


class _VerifiedPayload:
    """A ``signing`` serializer that hands back the verified payload bytes as they are."""

    def loads(self, data: bytes) -> bytes:
        return data


# (session_data, SECRET_KEY, SECRET_KEY_FALLBACKS) -> the verified, decompressed JSON.
_verified_payloads: dict[tuple[str, str, tuple[str, ...]], bytes] = {}
_VERIFIED_PAYLOADS_MAX = 4096


class SessionStore(db_sessions.SessionStore):
    """Django's database session store; loading a session costs one precompiled SELECT.

    Verifying the row's signature (key derivation, HMAC, base64, zlib) is
    done once per distinct row content and key, not on every request: a
    pure function of those, remembered per worker. Every request still
    reads the row (expiry, logout and rotation are the database's), and
    still gets a fresh dict parsed from the verified JSON.
    """

    def decode(self, session_data: str) -> dict:
        cache_key = (session_data, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))
        payload = _verified_payloads.get(cache_key)
        if payload is None:
            try:
                payload = signing.loads(session_data, salt=self.key_salt, serializer=_VerifiedPayload)
            except Exception:
                # Django's own handling: "Session data corrupted" logged, empty session.
                return super().decode(session_data)
            if len(_verified_payloads) >= _VERIFIED_PAYLOADS_MAX:
                _verified_payloads.clear()
            _verified_payloads[cache_key] = payload
        try:
            return self.serializer().loads(payload)
        except Exception:
            return {}

    def _get_session_from_db(self):
        # As the parent: only a session that has not expired; otherwise forget the key.
        session = row_lookup(self.model, "session_key", ("expire_date__gt",)).get(
            self.session_key,
            timezone.now(),
            using=router.db_for_read(self.model),
        )
        if session is None:
            self._session_key = None
        return session


def _now() -> int:
    return int(time.time())


@receiver(user_logged_in, dispatch_uid="operations.sessions.stamp_login")
def stamp_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = _now()
    request.session[LOGIN_AT_KEY] = now
    request.session[ACTIVITY_KEY] = now


class SessionTimeoutMiddleware:
    """Ends sessions that are idle too long or older than the absolute limit.

    Goes after ``AuthenticationMiddleware`` and ``MessageMiddleware``.
    Anonymous requests (login page, health checks) are not touched, so they
    never create a session row.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            # The probe needs no user; with a session cookie (a browser) it
            # must still answer JSON when the database is down.
            return self.get_response(request)
        try:
            # First touch of request.user: loads the session and the user.
            user = getattr(request, "user", None)
            expired = self._check(request) if user is not None and user.is_authenticated else None
        except DATABASE_ERRORS as error:
            # Here rather than in handler500: one log line, no traceback.
            return database_unavailable_response(request, error)
        if expired:
            return expired
        if isinstance(user, LazyObject) and user._wrapped is not empty:
            # The user is loaded now; views get the object itself, as after
            # login() or logout(). Through the lazy wrapper every attribute
            # read (dozens per submission: roles, service, audit) took a
            # proxy call, ~2 µs each.
            request.user = user._wrapped
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        session = request.session
        now = _now()
        login_at = session.get(LOGIN_AT_KEY)
        last = session.get(ACTIVITY_KEY)
        if not isinstance(login_at, int) or not isinstance(last, int):
            # A session from before this middleware (or force_login): start the clocks now.
            session[LOGIN_AT_KEY] = login_at if isinstance(login_at, int) else now
            session[ACTIVITY_KEY] = now
            return None
        if now - login_at >= settings.SESSION_ABSOLUTE_TIMEOUT:
            return self._expire(request, "Your session reached its maximum length. Please sign in again.")
        if now - last >= settings.SESSION_IDLE_TIMEOUT:
            minutes = max(1, settings.SESSION_IDLE_TIMEOUT // 60)
            return self._expire(
                request, f"You were signed out after {minutes} minutes without activity. Please sign in again."
            )
        if now - last >= getattr(settings, "SESSION_ACTIVITY_RESOLUTION", 60):
            session[ACTIVITY_KEY] = now
        return None

    @staticmethod
    def _expire(request: HttpRequest, text: str) -> HttpResponse:
        logout(request)  # flushes the session row and rotates the key
        messages.info(request, text)
        login_url = resolve_url(settings.LOGIN_URL)
        next_path = request.get_full_path() if request.method == "GET" else ""
        if next_path:
            login_url = f"{login_url}?next={quote(next_path)}"
        return HttpResponseRedirect(login_url)
