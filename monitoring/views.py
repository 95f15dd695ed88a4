"""Monitoring pages: dashboard, drift, outcomes (back-test and import), fairness, and each chart's CSV.

Thin: a permission check (refusals are logged), the page's figures from
``monitoring.pages`` (aggregates only), a template. Reviewers, auditors
and admins may look; only admins may import outcomes.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts import roles
from audit.models import AccessEvent
from audit.services import import_outcomes_csv, log_access
from governance import selectors as governance_selectors
from infrastructure.csv_export import csv_response
from monitoring import challenger, pages, selectors
from monitoring.services import MIN_EACH_OUTCOME, MIN_OUTCOMES

IMPORT_MAX_BYTES = 10 * 1024 * 1024


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


def _require_monitoring(request: HttpRequest, what: str) -> None:
    if not roles.can_view_monitoring(request.user):
        _deny(request, what)


def _common(request: HttpRequest) -> dict:
    """What every monitoring page shows: the version chosen, how fresh the figures are, the drift banner."""
    return {
        "version": selectors.chosen_version(request.GET.get("version")),
        "versions": selectors.versions_in_use(),
        "freshness": selectors.freshness(),
        "alerts": selectors.drift_alerts(),
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/monitoring/``: volumes per day and week, decision mix, override rate, probability distribution, pending."""
    _require_monitoring(request, "monitoring:dashboard")
    context = _common(request)
    context.update(
        daily=pages.daily(),
        weekly=pages.weekly(),
        probability=pages.probability(context["version"]),
        pending=selectors.pending_count(),
        outside_experience=selectors.outside_experience_count(),
    )
    return render(request, "monitoring/dashboard.html", context)


@login_required
@require_GET
def drift_page(request: HttpRequest) -> HttpResponse:
    """``/monitoring/drift/``: PSI of every input and of the probability, per month, against the training bins."""
    _require_monitoring(request, "monitoring:drift")
    context = _common(request)
    context["drift"] = pages.drift_page(context["version"])
    return render(request, "monitoring/drift.html", context)


class OutcomeImportForm(forms.Form):
    file = forms.FileField(
        label="Outcome file (CSV)",
        help_text="Columns application_id, outcome (REPAID or DEFAULTED), outcome_date (YYYY-MM-DD); at most 10 MB.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise ValidationError("The file is larger than 10 MB: split it.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text; save it as CSV (UTF-8).") from None


@login_required
@require_GET
def outcomes_page(request: HttpRequest) -> HttpResponse:
    """``/monitoring/outcomes/``: per model version, predicted against realised once enough outcomes exist."""
    _require_monitoring(request, "monitoring:outcomes")
    context = _common(request)
    versions = selectors.backtest_versions()
    version = request.GET.get("version") if request.GET.get("version") in versions else context["version"]
    context.update(
        version=version,
        backtest_versions=versions,
        backtest=pages.backtest(version),
        may_import=roles.can_record_outcomes(request.user),
        minimum={"outcomes": MIN_OUTCOMES, "each": MIN_EACH_OUTCOME},
    )
    return render(request, "monitoring/outcomes.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def outcomes_import(request: HttpRequest) -> HttpResponse:
    """``/monitoring/outcomes/import/``: record outcomes from a CSV, all rows or none (admins)."""
    if not roles.can_record_outcomes(request.user):
        _deny(request, "monitoring:outcomes_import")
    errors: list[str] = []
    form = OutcomeImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = import_outcomes_csv(text=form.cleaned_data["file"], recorded_by=request.user, source="import")
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request,
                f"Recorded {result.recorded} outcome(s); {result.unchanged} row(s) were already recorded as given. "
                "The back-test includes them after the next refresh of the monitoring figures.",
            )
            return redirect("monitoring:outcomes")
    return render(request, "monitoring/outcomes_import.html", {"form": form, "errors": errors})


@login_required
@require_GET
def fairness_page(request: HttpRequest) -> HttpResponse:
    """``/monitoring/fairness/``: approval rates, mean probability, realised default and adverse impact by group."""
    _require_monitoring(request, "monitoring:fairness")
    context = _common(request)
    scope = request.GET.get("scope")
    context.update(
        scope_version=context["version"] if scope == "version" else None,
        fairness=pages.fairness(context["version"] if scope == "version" else None),
    )
    return render(request, "monitoring/fairness.html", context)


_CSV = {
    "daily": lambda version: pages.daily(days=None)["csv"],
    "weekly": lambda version: pages.weekly(weeks=None)["csv"],
    "probability": lambda version: pages.probability(version)["csv"],
    "drift": lambda version: pages.drift_page(version)["csv"],
    "backtest": lambda version: pages.backtest(version)["csv"],
    "fairness": lambda version: pages.fairness(None)["csv"],
    "fairness-version": lambda version: pages.fairness(version)["csv"],
}


@login_required
@require_GET
def chart_csv(request: HttpRequest, name: str) -> StreamingHttpResponse:
    """``/monitoring/<chart>.csv``: the numbers behind one chart (every day or week, not only those drawn)."""
    _require_monitoring(request, f"monitoring:{name}.csv")
    if name not in _CSV:
        raise Http404("No such chart.")
    version = selectors.chosen_version(request.GET.get("version"))
    if name == "backtest" and request.GET.get("version") in selectors.backtest_versions():
        version = request.GET.get("version")
    log_access(user=request.user, action=AccessEvent.EXPORT, target=f"monitoring:{name}.csv", request=request)
    suffix = f"-{version}" if version and name not in ("daily", "weekly", "fairness") else ""
    return csv_response(_CSV[name](version), filename=f"monitoring-{name}{suffix}.csv")


@login_required
@require_GET
def challenger_page(request: HttpRequest) -> HttpResponse:
    """``/governance/challenger/``: the champion's decisions against the challenger's shadow scores (admins, auditors)."""
    if not roles.can_compare_challenger(request.user):
        _deny(request, "governance:challenger")
    version = challenger.chosen_challenger(request.GET.get("version"))
    serving = governance_selectors.current_serving()
    now = governance_selectors.challenger_version()
    return render(
        request,
        "monitoring/challenger.html",
        {
            "serving": serving,
            "policy": governance_selectors.serving_policy(serving),
            "challenger": now,
            "may_compare": True,
            "challenger_now": now,
            "versions": challenger.compared_versions(),
            "comparison": challenger.comparison(version),
            "minimum": {"outcomes": MIN_OUTCOMES, "each": MIN_EACH_OUTCOME},
            "swap_limit": challenger.SWAP_LIST_LIMIT,
        },
    )
