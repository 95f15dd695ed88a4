"""Project-wide response policy that no single app owns."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (and ``private``, ``max-age=0``) on every response Django makes.

    Almost every page, export and error page of the workbench shows
    applicants' personal data or depends on who is signed in; a shared proxy
    or the browser's disk cache must keep none of it, and a page missed by a
    per-view decorator would be a leak. So it is the default for all of them,
    in one place, and a response that sets its own ``Cache-Control`` keeps it.
    Static files are answered by WhiteNoise before this middleware runs and
    stay cacheable (their names carry a content hash).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
