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

Signing in stamps both (``stamp_login``, connected to Django's
``user_logged_in`` in ``accounts.apps``); Django's ``login()`` also rotates
the session key, so a session fixed before sign-in is worthless.

A database fault while loading the session or the user is turned into the
503 page by ``operations.faults.DatabaseUnavailableMiddleware``, which runs
just before this middleware and loads the user first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.sessions.backends import db as db_sessions
from django.db import router
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone

from infrastructure.rows import row_lookup

# The keys keep their first names so sessions opened before a deploy stay valid.
LOGIN_AT_KEY = "_ops_login_at"
ACTIVITY_KEY = "_ops_last_activity"
SESSION_EXPIRED_MESSAGE = "Your session has expired. Please sign in again."


class SessionStore(db_sessions.SessionStore):
    """Django's database session store; loading a session costs one precompiled SELECT.

    Every signed-in request loads its session; ``infrastructure.rows``
    compiles that SELECT once per process. Rows, expiry, signing and
    invalidation are Django's.
    """

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


def stamp_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = _now()
    request.session[LOGIN_AT_KEY] = now
    request.session[ACTIVITY_KEY] = now


class SessionTimeoutMiddleware:
    """Ends sessions that are idle too long or older than the absolute limit.

    Goes after ``AuthenticationMiddleware`` and ``MessageMiddleware``.
    Anonymous requests (login page) and the health check never create or
    write a session row; an anonymous request that still carries a session
    cookie gets the "session has expired" message (kept in the messages
    cookie, not in a session).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if request.path_info != settings.HEALTH_CHECK_PATH and user is not None:
            if user.is_authenticated:
                expired = self._check(request)
                if expired:
                    return expired
            elif self._cookie_outlived_its_session(request) and not self._signing_in(request):
                # The session ended without this middleware seeing it (expired
                # overnight, cleared by clearsessions): say so on the login page.
                messages.info(request, SESSION_EXPIRED_MESSAGE)
        return self.get_response(request)

    @staticmethod
    def _signing_in(request: HttpRequest) -> bool:
        """The sign-in form being posted: the message would only show after a successful sign-in."""
        return request.method == "POST" and request.path_info == resolve_url(settings.LOGIN_URL)

    @staticmethod
    def _cookie_outlived_its_session(request: HttpRequest) -> bool:
        """A session cookie came in but its session is gone.

        Loading the user has already loaded the session; a key that matched no
        row is forgotten (``SessionStore._get_session_from_db``). Signing out
        deletes the cookie, so this never fires after a deliberate sign-out.
        """
        session = getattr(request, "session", None)
        return (
            session is not None
            # Not the emptied cookie of a sign-out, should a client send it back.
            and bool(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
            and session.session_key is None
        )

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
