"""``/healthz``: what a load balancer polls to decide whether to send traffic here.

Green only when this process can do its job: the database answers a read
and accepts a write (an insert into ``Heartbeat`` inside a savepoint that is
rolled back, so health checks leave no rows and take the write lock only
for an instant), and the scoring model is loaded and its SHA-256 verified.
No login, no session, no redirect; a few milliseconds. The endpoint is
public, so the answer is ``{"status": "ok"}`` (200) or ``{"status": "fail"}``
(503) and nothing more: no model version or hash, no database vendor, not
even which check failed. Which check is red, and why (the reason can name
hosts and file paths), goes to the log, which operators read; the serving
model's version and hash are logged when each worker starts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError, InterfaceError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from governance.selectors import scoring_arguments
from operations.models import Heartbeat
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model

logger = logging.getLogger("operations.health")


class _Rollback(Exception):
    """Raised inside the savepoint to undo the probe write."""


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        try:
            with transaction.atomic():
                Heartbeat.objects.create(at=timezone.now())
                raise _Rollback
        except _Rollback:
            pass
    except (DatabaseError, InterfaceError) as error:
        detail = (str(error).strip().splitlines() or [""])[0][:200]
        return {"ok": False, "error": error.__class__.__name__, "_detail": f"{error.__class__.__name__}: {detail}"}
    return {"ok": True}


def check_model() -> dict[str, Any]:
    try:
        # The version that serves: the approved one the database names, else ACTIVE.
        version = scoring_arguments().get("model_version")
    except (DatabaseError, InterfaceError):
        version = None  # the database check reports it; still check the model ACTIVE names
    try:
        get_model(version)  # loaded and its SHA-256 verified, or ModelUnavailable
    except ModelUnavailable as error:
        return {"ok": False, "error": "ModelUnavailable", "_detail": f"ModelUnavailable: {error}"}
    return {"ok": True}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    checks = {"database": check_database(), "model": check_model()}
    failed = [name for name, result in checks.items() if not result["ok"]]
    if failed:
        logger.warning(
            "healthz red: %s (%.1f ms)",
            "; ".join(f"{name}: {checks[name]['_detail']}" for name in failed),
            (time.perf_counter() - started) * 1000,
        )
        return JsonResponse({"status": "fail"}, status=503)
    return JsonResponse({"status": "ok"})
