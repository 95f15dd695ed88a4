"""Audit pages: reviewer overrides, the auditor's overview, decision export, access log.

Thin: a permission check (refusals are logged), one selector or service call,
a template.
"""

from __future__ import annotations

import csv
import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from audit import selectors
from audit.forms import OverrideForm
from audit.models import AccessEvent
from audit.permissions import can_override, can_view_audit
from audit.services import log_access, override_decision
from audit.verification import verify_audit_trail


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


def _require_auditor(request: HttpRequest, what: str) -> None:
    if not can_view_audit(request.user):
        _deny(request, what)


@login_required
@require_http_methods(["GET", "POST"])
def override_view(request: HttpRequest, pk: int) -> HttpResponse:
    """``/applications/<id>/override/``: a reviewer sets the final decision, with a reason."""
    from applications.models import LoanApplication

    application = LoanApplication.objects.select_related("officer").filter(pk=pk).first()
    if application is None:
        raise Http404("No such application.")
    if not can_override(request.user, application):
        _deny(request, f"override:application:{pk}")
    form = OverrideForm(request.POST or None, initial={"final_decision": application.final_decision})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                override_decision(
                    application=application,
                    reviewer=request.user,
                    final_decision=form.cleaned_data["final_decision"],
                    reason=form.cleaned_data["reason"],
                )
            except PermissionDenied:
                _deny(request, f"override:application:{pk}")
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"Final decision set to {form.cleaned_data['final_decision']}.")
                return HttpResponseSeeOther(reverse("applications:detail", args=[pk]))
        status = 400
    return render(
        request,
        "audit/override_form.html",
        {
            "application": application,
            "form": form,
            "overrides": selectors.overrides_for_application(application=application),
        },
        status=status,
    )


@login_required
@require_GET
def audit_home(request: HttpRequest) -> HttpResponse:
    """``/audit/``: verification status, chain heads, model versions, decision mix, override rates.

    The chain is verified live on every visit (≈1 s per 20,000 records);
    ``?replay=1`` also re-scores every decision.
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


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def decisions_csv(request: HttpRequest) -> StreamingHttpResponse:
    """``/audit/decisions.csv``: every decision record with every audit field."""
    _require_auditor(request, "audit:decisions_csv")
    log_access(user=request.user, action=AccessEvent.EXPORT, target="audit:decisions.csv", request=request)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in selectors.decision_csv_rows()),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="decision-records.csv"'
    return response


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
