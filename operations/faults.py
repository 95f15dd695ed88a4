"""Operational faults shown to people as a page, not a stack trace.

A database that is down or unreachable raises ``OperationalError`` or
``InterfaceError`` somewhere in a request. The officer gets the 503 page
(``errors/503.html``) saying plainly what happened and that what they were
submitting was not stored (the submission's transaction never committed, so
nothing half-written exists); the log gets one line. With
``CONN_HEALTH_CHECKS`` on, the next request after the database comes back
opens a fresh connection, so the site recovers without a restart.

Two entry points catch the error wherever it is raised:
``DatabaseUnavailableMiddleware.process_exception`` for views, and
``server_error`` (``handler500``) for errors raised in middleware (e.g.
loading the session), which Django turns into a 500 before any outer
middleware could see the exception.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

logger = logging.getLogger("operations.faults")

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = "30"


def database_unavailable_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """The 503 page for a database fault; logs one line, never the traceback."""
    detail = (str(error).strip().splitlines() or [""])[0][:200]
    logger.error(
        "database unavailable: %s %s -> 503 (%s: %s)",
        request.method,
        request.path,
        error.__class__.__name__,
        detail,
    )
    body = loader.render_to_string("errors/503.html", {"method": request.method})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database fault while loading the user, or in a view, into the 503 page.

    Goes right after ``AuthenticationMiddleware`` and before anything that
    reads ``request.user``: it loads the session and the user itself, so a
    database that is down is caught here with one log line, rather than in
    a later middleware where Django would log a traceback before
    ``handler500`` ran. The health check loads no user: it must answer
    even for a browser that sends a session cookie while the database is down.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != settings.HEALTH_CHECK_PATH and hasattr(request, "user"):
            try:
                request.user.is_authenticated  # noqa: B018 - loads the session and the user now
            except DATABASE_ERRORS as error:
                return database_unavailable_response(request, error)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the 503 page for database faults, the 500 page otherwise.

    Renders without a RequestContext so that the page itself cannot need
    the database that may have just failed.
    """
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_ERRORS):
        return database_unavailable_response(request, error)
    return HttpResponseServerError(loader.render_to_string("500.html"))
