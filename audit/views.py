"""Auditor's pages: the overview with verification, the decision export, the access log.

Thin: a permission check (refusals are logged), one selector or service call,
a template.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import roles
from audit import selectors, services
from audit.models import AccessEvent, VerificationRun
from audit.services import log_access
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
    """``/audit/``: the latest verification's result, chain heads, model versions, decision mix, override rates.

    Never verifies: it shows the latest stored run (and one in progress); auditors start a run
    from here (``start_verification``), the task queue runs it.
    """
    _require_auditor(request, "audit:home")
    run = selectors.latest_verification()
    full = run if run is not None and run.kind == VerificationRun.FULL else selectors.latest_full_verification()
    figures_run = run if run is not None and run.figures else None
    figures = figures_run.figures if figures_run is not None else {}
    return render(
        request,
        "audit/home.html",
        {
            "run": run,
            "chain_rows": selectors.verification_chain_rows(run) if run is not None else [],
            "decision_chain": (run.chains.get("decisions") or {}) if run is not None else {},
            "full_run": full,
            "in_progress": selectors.verification_in_progress(),
            "broken": selectors.latest_broken_verification(after=run),
            "heads": selectors.chain_heads(),
            # As of the latest run: counted with it, never on a page view (a million records).
            "figures_run": figures_run,
            "versions": selectors.model_versions_in_use(figures),
            "mix": selectors.decision_mix_by_version(figures),
            "rates": selectors.override_rates(figures),
        },
    )


@login_required
@require_POST
def start_verification(request: HttpRequest) -> HttpResponse:
    """``POST /audit/verify/``: queue a verification (``kind`` incremental, or full with replay); back to ``/audit/``."""
    _require_auditor(request, "audit:start_verification")
    full = request.POST.get("kind") == VerificationRun.FULL
    run, started = services.start_verification(
        kind=VerificationRun.FULL if full else VerificationRun.INCREMENTAL, replay=full, requested_by=request.user
    )
    if started:
        messages.success(
            request,
            "Full verification with replay queued: it runs in the background; this page shows its progress."
            if full
            else "Verification of the records added since the last checkpoint queued.",
        )
    else:
        messages.info(request, f"A verification is already {run.get_status_display()}; it was not started twice.")
    return redirect("audit:home")


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
