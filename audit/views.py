"""Auditor's pages: the overview with verification, the decision export, the access log.

Thin: a permission check (refusals are logged), one selector or service call,
a template.
"""

from __future__ import annotations

import time

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import roles
from audit import selectors
from audit.models import AccessEvent
from audit.services import log_access
from audit.verification import verify_audit_trail
from infrastructure.csv_export import csv_response


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


def _require_auditor(request: HttpRequest, what: str) -> None:
    if not roles.can_view_audit(request.user):
        _deny(request, what)


@login_required
@require_GET
def audit_home(request: HttpRequest) -> HttpResponse:
    """``/audit/``: verification status, chain heads, model versions, decision mix, override rates.

    The chain is verified live on every visit, so the page's time grows with
    the trail; ``?replay=1`` also re-scores every decision.
    """
    _require_auditor(request, "audit:home")
    replay = request.GET.get("replay") == "1"
    started = time.perf_counter()
    summary = verify_audit_trail(replay=replay)
    elapsed = time.perf_counter() - started
    return render(
        request,
        "audit/home.html",
        {
            "summary": summary,
            "summary_json": summary.as_dict(),
            "elapsed": elapsed,
            "replay": replay,
            "heads": selectors.chain_heads(),
            "versions": selectors.model_versions_in_use(),
            "mix": selectors.decision_mix_by_version(),
            "rates": selectors.override_rates(),
        },
    )


@login_required
@require_GET
def decisions_csv(request: HttpRequest) -> StreamingHttpResponse:
    """``/audit/decisions.csv``: every decision record with every audit field."""
    _require_auditor(request, "audit:decisions_csv")
    log_access(user=request.user, action=AccessEvent.EXPORT, target="audit:decisions.csv", request=request)
    return csv_response(selectors.decision_csv_rows(), filename="decision-records.csv", end_marker=True)


@login_required
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    """``/audit/access/``: the access log, newest first, filterable by action and user."""
    _require_auditor(request, "audit:access_log")
    action = request.GET.get("action", "")[:32]
    username = request.GET.get("user", "")[:150]
    page = Paginator(selectors.access_events(action=action, username=username), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/access_log.html",
        {
            "page": page,
            "action": action,
            "username": username,
            "actions": selectors.access_actions(),
        },
    )
