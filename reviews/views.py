"""Pages of the review workflow: the queue, a case's page (claim, decide, second approval), release.

Thin: the role check (refusals are logged for the auditors), a form, one service or selector call.
A refusal because the case moved on (``CaseConflict``) comes back as a message on the case's page,
showing its current state; nothing was recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from applications import cases, formatting
from applications import selectors as application_selectors
from applications.models import LoanApplication
from audit import lifecycle
from audit import selectors as audit_selectors
from audit.models import AccessEvent
from audit.services import log_access
from audit.verification import application_integrity_of
from reviews import selectors, services
from reviews.forms import DecisionForm, QueueFilterForm, SecondApprovalForm
from scoring import schema
from scoring.services import decision_band

PAGE_SIZE = 25


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """``/reviews/``: open cases the reviewer may act on, oldest first, with filters."""
    if not roles.can_review(request.user):
        _deny(request, "reviews:queue")
    form = QueueFilterForm(request.GET or None)
    filters = form.filters()
    page = Paginator(selectors.review_queue(user=request.user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    rows = [
        {
            "application": app,
            "state": cases.describe_state(app, now=now),
            "waiting": app.case_state == lifecycle.IN_QUEUE or not cases.claim_is_live(app, now=now),
            "age": now - app.queued_at,
        }
        for app in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reviews/queue.html",
        {"form": form, "page": page, "rows": rows, "query": query.urlencode(), "filtered": bool(filters)},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _case_or_refuse(request: HttpRequest, pk: int, what: str) -> LoanApplication:
    """The application if the user may act on its case; 404 if they may not even read it, else 403 (logged)."""
    try:
        application = application_selectors.application_get(user=request.user, pk=pk)
    except Http404:
        if application_selectors.application_exists(pk=pk):
            log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
        raise
    if not roles.can_act_on_case(request.user, application):
        _deny(request, what)
    return application


def _inputs(application: LoanApplication) -> list[tuple[str, str]]:
    rows = []
    for field in schema.INPUT_FIELDS:
        display = getattr(application, f"get_{field.name}_display")() if field.kind == "categorical" else ""
        rows.append((field.label, formatting.input_value(field, getattr(application, field.name), display)))
    return rows


def _case_page(request: HttpRequest, application: LoanApplication, form: Any, *, status: int = 200, **extra: Any):
    user = request.user
    now = timezone.now()
    state = application.case_state
    holds_claim = cases.claim_is_live(application, now=now) and application.claimed_by_id == user.pk
    second = state == lifecycle.AWAITING_SECOND
    overrides = list(audit_selectors.overrides_for_application(application_id=application.pk))
    case_records = list(audit_selectors.case_records_for_application(application_id=application.pk))
    # Checked from the records the page shows (not read a second time), as the application's page does.
    integrity = application_integrity_of(
        application=application,
        decision_records=audit_selectors.decision_records_for_application(application_id=application.pk),
        override_records=overrides,
        case_records=case_records,
    )
    context = {
        "application": application,
        "state_text": cases.describe_state(application, now=now),
        "inputs": _inputs(application),
        "integrity": integrity,
        "band": decision_band(
            application.decision, approve_below=integrity.approve_below, decline_from=integrity.decline_from
        )
        if integrity and integrity.approve_below is not None
        else "",
        "case_records": case_records,
        "overrides": overrides,
        "form": form,
        "second": second,
        "override": state == lifecycle.MODEL_FINAL,
        "may_claim": state == lifecycle.IN_QUEUE
        or (state == lifecycle.CLAIMED and not cases.claim_is_live(application, now=now)),
        "holds_claim": holds_claim,
        "may_decide": state == lifecycle.MODEL_FINAL or holds_claim,
        "may_answer": second and application.proposed_by_id != user.pk,
        "limit": services.approval_limit(user),
        **extra,
    }
    return render(request, "reviews/case.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def case(request: HttpRequest, pk: int) -> HttpResponse:
    """``/reviews/<id>/``: the application, its model decision and history, and the action the state allows.

    Deciding takes two POSTs: the first validates and shows what will happen (final, or awaiting a
    second reviewer and why), the second (``confirmed=yes``) records it.
    """
    what = f"case:application:{pk}"
    application = _case_or_refuse(request, pk, what)
    form_class = SecondApprovalForm if application.case_state == lifecycle.AWAITING_SECOND else DecisionForm
    if request.method == "GET":
        return _case_page(request, application, form_class(initial={"version": application.case_version}))
    form = form_class(request.POST)
    if not form.is_valid():
        return _case_page(request, application, form, status=400)
    data = form.cleaned_data
    if request.POST.get("confirmed") != "yes" or "edit" in request.POST:
        four_eyes = services.second_approval_reasons(
            application=application, reviewer=request.user, decision=data["decision"]
        )
        return _case_page(request, application, form, confirming="edit" not in request.POST, four_eyes=four_eyes)
    try:
        if form_class is SecondApprovalForm:
            record = services.answer_second_approval(
                application_id=pk,
                reviewer=request.user,
                expected_version=data["version"],
                confirm=data["decision"] == lifecycle.CONFIRM,
                reason_code=data["reason_code"],
                explanation=data["explanation"],
            )
        else:
            record = services.decide_case(
                application_id=pk,
                reviewer=request.user,
                expected_version=data["version"],
                decision=data["decision"],
                reason_code=data["reason_code"],
                explanation=data["explanation"],
            )
    except PermissionDenied:
        _deny(request, what)
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _case_page(request, application, form, status=400)
    except services.CaseConflict as conflict:
        messages.error(request, str(conflict))
        return HttpResponseSeeOther(reverse("reviews:case", args=[pk]))
    messages.success(request, _outcome_message(record))
    return HttpResponseSeeOther(reverse("reviews:case", args=[pk]))


def _outcome_message(record: Any) -> str:
    if record.action == lifecycle.PROPOSE:
        return "Approval recorded as a proposal: it awaits a second reviewer before it is final."
    if record.action == lifecycle.REFER:
        return "Referred: the case stays in the review queue."
    if record.action == lifecycle.REJECT:
        return "Approval rejected; the case is back where it was before the proposal."
    return f"Final decision: {record.to_decision}."


def _claim_action(request: HttpRequest, pk: int, service: Any, what: str, done: str, then: str) -> HttpResponse:
    _case_or_refuse(request, pk, what)
    try:
        service(application_id=pk, reviewer=request.user, expected_version=request.POST.get("version"))
    except PermissionDenied:
        _deny(request, what)
    except services.CaseConflict as conflict:
        messages.error(request, str(conflict))
        return HttpResponseSeeOther(reverse("reviews:case", args=[pk]))
    messages.success(request, done)
    return HttpResponseSeeOther(reverse(then, args=[pk]) if then == "reviews:case" else reverse(then))


@login_required
@require_POST
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Take the case (``settings.REVIEW_CLAIM_MINUTES``); then its page, to decide it."""
    minutes = services.claim_duration().total_seconds() // 60
    return _claim_action(
        request,
        pk,
        services.claim_case,
        f"claim:application:{pk}",
        f"You hold this case for {minutes:.0f} minutes; nobody else can decide it meanwhile.",
        "reviews:case",
    )


@login_required
@require_POST
def release(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the case back to the queue; then the queue."""
    return _claim_action(
        request,
        pk,
        services.release_case,
        f"release:application:{pk}",
        "Released: the case is back in the queue.",
        "reviews:queue",
    )
