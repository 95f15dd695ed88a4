"""Pages of the workbench. Thin: permissions, forms, one service or selector call.

Every refusal goes through ``_deny`` so it is logged for auditors and shown
as the 403 page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts import roles
from applications import cases, formatting, notices, selectors
from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from applications.notices import adverse_action_notice, notice_html, notice_pdf, sha256_hex
from applications.services import (
    PENDING_MESSAGE,
    PossibleDuplicate,
    counter_offer,
    new_idempotency_key,
    offer_counter_offer,
    submit_application,
    what_if,
)
from applications.throttling import take_whatif_request
from audit import selectors as audit_selectors
from audit.models import AccessEvent
from audit.services import log_access
from audit.verification import ApplicationIntegrity, application_integrity, application_integrity_of
from infrastructure.csv_export import csv_response
from infrastructure.pagination import bounded_page
from scoring import schema
from scoring.exceptions import ModelUnavailable
from scoring.services import decision_band

PAGE_SIZE = 25


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _deny(request: HttpRequest, what: str) -> None:
    """Log a refused request for the auditors, then refuse it (403 page)."""
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


def _visible_application_or_404(request: HttpRequest, pk: int, what: str) -> LoanApplication:
    """The application if ``request.user`` may read it; otherwise 404, whether or not it exists.

    A 403 for another officer's application beside a 404 for a missing one
    would tell anyone which ids exist. The refusal of an existing row is
    still logged for the auditors.
    """
    try:
        return selectors.application_get(user=request.user, pk=pk)
    except Http404:
        if selectors.application_exists(pk=pk):
            log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
        raise


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/`` (and where sign-in lands): each role's first page (``accounts.roles.landing_page``)."""
    return redirect(roles.landing_page(request.user))


def _form_context(
    form: LoanApplicationForm, idempotency_key: str, duplicate: PossibleDuplicate | None = None
) -> dict[str, Any]:
    rows = []
    for name in (*schema.INPUT_NAMES, "applicant_reference"):
        field = schema.FIELDS_BY_NAME.get(name)
        rows.append({"bound": form[name], "unit": formatting.unit_label(field), "schema": field})
    loan_percent_income, interest_burden = form.derived_preview() if form.is_bound else (None, None)
    return {
        "form": form,
        "rows": rows,
        "idempotency_key": idempotency_key,
        "preview_loan_percent_income": loan_percent_income,
        "preview_interest_burden": interest_burden,
        "duplicate": duplicate,
    }


def _form_page(
    request: HttpRequest, form: LoanApplicationForm, *, duplicate: PossibleDuplicate | None = None
) -> HttpResponse:
    # A fresh token each time: this rendering is a new form as far as retries go.
    # "Back" fetches a fresh form (and token) too: every page is no-store
    # (creditsite.middleware.NoStoreMiddleware).
    status = 409 if duplicate is not None else 200
    return render(
        request, "applications/new.html", _form_context(form, new_idempotency_key(), duplicate), status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def application_new(request: HttpRequest) -> HttpResponse:
    if not roles.can_create(request.user):
        _deny(request, "applications:new")
    if request.method == "GET":
        return _form_page(request, LoanApplicationForm())

    form = LoanApplicationForm(data=request.POST)
    if not form.is_valid():
        return _form_page(request, form)
    try:
        application = submit_application(
            officer=request.user,
            cleaned_data=form.cleaned_data,
            idempotency_key=request.POST.get("idempotency_key") or None,
            confirmed_duplicate_of=form.cleaned_data.get("confirm_duplicate_of"),
        )
    except PossibleDuplicate as duplicate:
        # Nothing stored: the same form comes back with the warning and a confirm button.
        return _form_page(request, form, duplicate=duplicate)
    except ValidationError as error:
        # Refused after the form (the token, or the engine): the messages go on the form.
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
        return _form_page(request, form)
    if application.status == LoanApplication.Status.PENDING:
        messages.warning(request, PENDING_MESSAGE)
    return HttpResponseSeeOther(reverse("applications:detail", args=[application.pk]))


WHATIF_UNAVAILABLE = "The scoring model is unavailable right now, so no what-if can be computed."
WHATIF_THROTTLED = "Too many what-if requests in the last minute; wait a moment and change a value again."


@login_required
@require_http_methods(["POST"])
def application_what_if(request: HttpRequest) -> JsonResponse:
    """``/applications/what-if/``: the probability and decision these inputs would get; nothing stored.

    Answers JSON for ``static/js/whatif.js``: 200 with the result, 400 with
    the form's messages per field, 429 over the per-user budget, 503 without
    a model.
    """
    if not roles.can_create(request.user):
        _deny(request, "applications:what_if")
    if not take_whatif_request(user=request.user):
        return JsonResponse({"ok": False, "message": WHATIF_THROTTLED}, status=429)
    form = LoanApplicationForm(data=request.POST)
    if not form.is_valid():
        errors = {field: [str(m) for m in messages_] for field, messages_ in form.errors.items()}
        return JsonResponse({"ok": False, "errors": errors, "message": "Check the highlighted values."}, status=400)
    try:
        result = what_if(cleaned_data=form.cleaned_data)
    except ModelUnavailable:
        return JsonResponse({"ok": False, "message": WHATIF_UNAVAILABLE}, status=503)
    return JsonResponse(
        {
            "ok": True,
            "probability_of_default": result.probability_of_default,
            "probability_text": formatting.percent(result.probability_of_default),
            "decision": result.decision,
            "outside_experience": [excursion.text for excursion in result.outside_experience],
            "model_version": result.model_version,
        }
    )


@login_required
@require_GET
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not roles.can_view_any(request.user):
        _deny(request, f"application:{pk}")
    application = _visible_application_or_404(request, pk, f"application:{pk}")
    log_access(user=request.user, action="view_application", target=f"application:{pk}", request=request)
    decision_records = list(audit_selectors.decision_records_for_application(application_id=application.pk))
    offer, offer_message = _counter_offer_or_message(application)
    may_what_if = roles.can_create(request.user) and application.is_scored
    overrides = list(audit_selectors.overrides_for_application(application_id=application.pk))
    case_records = list(audit_selectors.case_records_for_application(application_id=application.pk))
    # Checked from the records the page shows (not read a second time).
    integrity = application_integrity_of(
        application=application,
        decision_records=decision_records,
        override_records=overrides,
        case_records=case_records,
    )
    return render(
        request,
        "applications/detail.html",
        {
            "application": application,
            "counter_offer": offer,
            "counter_offer_message": offer_message,
            "printed_at": timezone.now(),
            "whatif_fixed": _whatif_fixed_inputs(application) if may_what_if else None,
            "inputs": _inputs_as_entered(application),
            "decision_records": decision_records,
            # Why the latest scoring was not decided automatically (scoring.experience), as recorded.
            "outside_experience": decision_records[-1].document.get("outside_experience", [])
            if decision_records
            else [],
            "notice_available": notices.notice_available(application),
            "state_text": cases.describe_state(application),
            "integrity": integrity,
            "band": _band(application, integrity),
            "overrides": overrides,
            "case_records": case_records,
            "can_act_on_case": roles.can_act_on_case(request.user, application),
            "can_offer": roles.can_act_on_case(request.user, application) and not application.is_counter_offer,
        },
    )


def _band(application: LoanApplication, integrity: ApplicationIntegrity | None) -> str:
    """The model decision's band with the cut-offs recorded with it (``scoring.services.decision_band``)."""
    if integrity is None or integrity.approve_below is None:
        return ""
    return decision_band(
        application.decision, approve_below=integrity.approve_below, decline_from=integrity.decline_from
    )


@login_required
@require_GET
def application_override(request: HttpRequest, pk: int) -> HttpResponse:
    """``/applications/<id>/override/``: the old override form's address; an override is a case decision now."""
    return redirect("reviews:case", pk=pk)


NOTICE_NOT_LOGGED = "The notice was not released because its making could not be recorded in the access log; try again."


def _notice_or_refusal(request: HttpRequest, pk: int, what: str) -> Any:
    """The application's adverse-action notice, or the page saying why there is none (409)."""
    if not roles.can_view_any(request.user):
        _deny(request, what)
    application = _visible_application_or_404(request, pk, what)
    records = list(audit_selectors.decision_records_for_application(application_id=application.pk))
    try:
        return adverse_action_notice(
            application=application,
            decision_records=records,
            overrides=list(audit_selectors.overrides_for_application(application_id=application.pk)),
            case_records=list(audit_selectors.case_records_for_application(application_id=application.pk)),
        )
    except ValidationError as refusal:
        return render(
            request,
            "applications/notice_refused.html",
            {"application": application, "message": refusal.messages[0]},
            status=409,
        )


def _released(request: HttpRequest, pk: int, kind: str, document: bytes, response: HttpResponse) -> HttpResponse:
    """Record who made which notice document (its SHA-256) before it leaves; refuse it if that fails."""
    event = log_access(
        user=request.user,
        action=AccessEvent.ADVERSE_ACTION_NOTICE,
        target=f"application:{pk} {kind} sha256:{sha256_hex(document)}",
        request=request,
    )
    if event is None:
        return render(request, "applications/notice_refused.html", {"message": NOTICE_NOT_LOGGED}, status=503)
    return response


@login_required
@require_GET
def application_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """``/applications/<id>/notice/``: the adverse-action notice as a page to print (no navigation)."""
    notice = _notice_or_refusal(request, pk, f"notice:application:{pk}")
    if isinstance(notice, HttpResponse):
        return notice
    document = notice_html(notice, pdf_link=reverse("applications:notice_pdf", args=[pk])).encode()
    return _released(request, pk, "html", document, HttpResponse(document, content_type="text/html; charset=utf-8"))


@login_required
@require_GET
def application_notice_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """``/applications/<id>/notice.pdf``: the same notice, same template, as a PDF download."""
    notice = _notice_or_refusal(request, pk, f"notice:application:{pk}")
    if isinstance(notice, HttpResponse):
        return notice
    document = notice_pdf(notice)
    response = HttpResponse(document, content_type="application/pdf")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in notice.reference.lstrip("#"))
    response["Content-Disposition"] = f'attachment; filename="adverse-action-notice-{name or pk}.pdf"'
    return _released(request, pk, "pdf", document, response)


@login_required
@require_http_methods(["POST"])
def application_counter_offer(request: HttpRequest, pk: int) -> HttpResponse:
    """``/applications/<id>/counter-offer/``: a reviewer offers the counter-offer, stored and scored in one step."""
    application = _visible_application_or_404(request, pk, f"counter_offer:application:{pk}")
    if not roles.can_act_on_case(request.user, application):
        _deny(request, f"counter_offer:application:{pk}")
    try:
        offered = offer_counter_offer(application=application, reviewer=request.user)
    except PermissionDenied:
        _deny(request, f"counter_offer:application:{pk}")
    except ValidationError as refusal:
        messages.error(request, refusal.messages[0])
    except ModelUnavailable:
        messages.error(request, "The scoring model is unavailable right now, so no counter-offer can be made.")
    else:
        messages.success(request, f"Counter-offer of {formatting.money(offered.loan_amnt)} stored and scored: APPROVE.")
    return HttpResponseSeeOther(reverse("applications:detail", args=[pk]))


def _counter_offer_or_message(application: LoanApplication) -> tuple[Any, str]:
    """The counter-offer for a REVIEW or DECLINE, or why there is none to show ("" for an approval)."""
    if not application.is_scored or application.final_decision == LoanApplication.Decision.APPROVE:
        return None, ""
    try:
        return counter_offer(application=application), ""
    except ModelUnavailable:
        return None, "The scoring model is unavailable right now, so no counter-offer can be computed."


def _whatif_fixed_inputs(application: LoanApplication) -> list[tuple[str, Any]]:
    """The inputs the application page's what-if keeps as entered (all but amount and rate)."""
    # A blank (possible outside the form, e.g. through the admin) stays blank: the page then asks for it.
    return [
        (name, "" if getattr(application, name) is None else getattr(application, name))
        for name in schema.INPUT_NAMES
        if name not in WHATIF_VARIED
    ]


WHATIF_VARIED = ("loan_amnt", "loan_int_rate")


def _inputs_as_entered(application: LoanApplication) -> list[tuple[str, str]]:
    """(label, value with unit) for each schema input, in schema order."""
    rows = []
    for field in schema.INPUT_FIELDS:
        display = getattr(application, f"get_{field.name}_display")() if field.kind == "categorical" else ""
        rows.append((field.label, formatting.input_value(field, getattr(application, field.name), display)))
    return rows


def _export_csv(request: HttpRequest, queryset) -> StreamingHttpResponse:
    log_access(user=request.user, action="export", target=request.GET.urlencode()[:500], request=request)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return csv_response(selectors.csv_rows(queryset), filename=f"applications-{stamp}.csv", end_marker=True)


def _list_page(request: HttpRequest, form, filters, *, status: int = 200) -> HttpResponse:
    queryset = selectors.application_list(user=request.user, filters=filters)
    # Bounded count and pages from either end: the same cost at a million applications as at a hundred.
    page = bounded_page(queryset, page=request.GET.get("page"), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    # The integrity flag beside each row: the page's applications against their own records (three queries).
    integrity = application_integrity(applications=page.object_list)
    return render(
        request,
        "applications/list.html",
        {
            "form": form,
            "page": page,
            "rows": [(app, integrity.get(app.pk)) for app in page.object_list],
            "query": query.urlencode(),
            "can_view_all": roles.can_view_all(request.user),
            # An empty page means "none yet" unless a filter (not just the order) narrowed it.
            "filtered": any(name != "sort" for name in filters),
        },
        status=status,
    )


def _export_or_form(request: HttpRequest, form) -> HttpResponse:
    """The CSV, or (a filter box refused) the history page with the message, and no file.

    The page ignores a refused box and lists the rest; a download cannot
    show why it holds more rows than asked for, so it is not sent.
    """
    filters = form.filters()
    if form.is_bound and not form.is_valid():
        return _list_page(request, form, filters, status=400)
    return _export_csv(request, selectors.application_list(user=request.user, filters=filters))


@login_required
@require_GET
def application_list(request: HttpRequest) -> HttpResponse:
    if not roles.can_view_any(request.user):
        _deny(request, "applications:list")
    form = selectors.history_filter_form(user=request.user, data=request.GET)
    if request.GET.get("format") == "csv":
        return _export_or_form(request, form)
    return _list_page(request, form, form.filters())


@login_required
@require_GET
def application_export(request: HttpRequest) -> HttpResponse:
    """``/applications/export.csv``: exactly the rows the same query lists."""
    if not roles.can_view_any(request.user):
        _deny(request, "applications:export")
    return _export_or_form(request, selectors.history_filter_form(user=request.user, data=request.GET))
