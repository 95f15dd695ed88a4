"""The REST API's endpoints. Thin: roles from ``accounts.roles``, reads through selectors, writes through
the same services as the pages (``applications.services``, ``batches.services``)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import roles
from api import serializers as api_serializers
from api.problems import PROBLEM_CONTENT_TYPE, problem
from applications import selectors
from applications.models import LoanApplication
from applications.services import PossibleDuplicate, submit_application
from audit import selectors as audit_selectors
from audit.models import AccessEvent
from audit.services import log_access
from batches import selectors as batch_selectors
from batches import services as batch_services
from infrastructure.csv_export import csv_response
from reviews import services as review_services
from scoring.schema import INPUT_NAMES

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

PROBLEM = inline_serializer(
    "Problem",
    {
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "instance": serializers.CharField(required=False),
        "errors": serializers.ListField(
            child=inline_serializer(
                "FieldError", {"field": serializers.CharField(allow_null=True), "detail": serializers.CharField()}
            ),
            required=False,
        ),
    },
)
ERRORS = {
    400: OpenApiResponse(PROBLEM, description="Invalid input: each bad field named in `errors`."),
    401: OpenApiResponse(PROBLEM, description="No token, or an invalid, expired or revoked one."),
    403: OpenApiResponse(PROBLEM, description="The token's user may not do this."),
    404: OpenApiResponse(PROBLEM, description="No such object, or not one the user may see."),
    429: OpenApiResponse(PROBLEM, description="Too many requests for this token, or too many failed sign-ins."),
}


def _errors(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    return {(code, "application/problem+json"): ERRORS[code] for code in codes}


def _deny(request, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied("You may not do this.")


APPLICATION_PAGE = inline_serializer(
    "PaginatedApplicationList",
    {
        "next": serializers.URLField(allow_null=True, help_text="The next page (older), or null"),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page (newer), or null"),
        "results": api_serializers.ApplicationSerializer(many=True),
    },
)


class ApplicationCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _with_record_ids(applications: list[LoanApplication]) -> dict[str, Any]:
    return {
        "decision_record_ids": audit_selectors.latest_decision_record_ids(
            application_ids=[application.pk for application in applications]
        )
    }


class ApplicationListCreate(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="applications_list",
        summary="The decision history (the history page's filters), newest first, cursor-paginated",
        parameters=[
            OpenApiParameter("q", str, description="Reference contains"),
            OpenApiParameter("decision", str, enum=["APPROVE", "REVIEW", "DECLINE", "PENDING"]),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Entered on or after (bank's time zone)"),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Entered on or before (bank's time zone)"),
            OpenApiParameter("officer", int, description="Officer's user id (roles that see everyone's)"),
            OpenApiParameter("model_version", str),
            OpenApiParameter("overridden", str, enum=["yes", "no"]),
            OpenApiParameter("cursor", str, description="From the previous page's `next`/`previous`"),
            OpenApiParameter("page_size", int, description="At most 500; default 50"),
        ],
        responses={200: APPLICATION_PAGE, **_errors(400, 401, 403, 429)},
    )
    def get(self, request):
        if not roles.can_view_any(request.user):
            _deny(request, "api:applications")
        form = selectors.history_filter_form(user=request.user, data=request.query_params)
        params = {key: value for key, value in request.query_params.items() if key not in ("cursor", "page_size")}
        if params and not form.is_valid():
            raise exceptions.ValidationError(
                {name: [error["message"] for error in errors] for name, errors in form.errors.get_json_data().items()}
            )
        filters = form.filters()
        filters.pop("sort", None)
        queryset = selectors.application_list(user=request.user, filters=filters)
        paginator = ApplicationCursor()
        page = paginator.paginate_queryset(queryset, request, view=self)
        serializer = api_serializers.ApplicationSerializer(page, many=True, context=_with_record_ids(page))
        return paginator.get_paginated_response(serializer.data)

    @extend_schema(
        operation_id="applications_create",
        summary="Enter an application: validated, scored and stored as the form does",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location=OpenApiParameter.HEADER,
                description="1-40 of A-Z a-z 0-9 _ -. A retry with the same key and data returns the first result; the same key with different data is refused (409).",
            )
        ],
        request=api_serializers.ApplicationInputSerializer,
        responses={
            201: api_serializers.ApplicationSerializer,
            (409, "application/problem+json"): OpenApiResponse(
                PROBLEM,
                description="Idempotency-Key reused with different data; or a possible duplicate (a reference "
                "already in use, or the same inputs from the same user within 10 minutes): `duplicate_of` names the "
                "earlier application; send `confirmed_duplicate_of` with its id to store anyway.",
            ),
            **_errors(400, 401, 403, 429),
        },
    )
    def post(self, request):
        if not roles.can_create(request.user):
            _deny(request, "api:applications:create")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["Use 1 to 40 characters: letters, digits, '_' or '-'."]}
            )
        data = api_serializers.ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cleaned = data.validated_data
        stored_key = f"api{request.user.pk}-{key}" if key else None
        started = timezone.now()
        earlier = LoanApplication.objects.filter(idempotency_key=stored_key).first() if stored_key else None
        if earlier is not None:
            application = earlier
        else:
            try:
                application = submit_application(
                    officer=request.user,
                    cleaned_data=cleaned,
                    idempotency_key=stored_key,
                    confirmed_duplicate_of=cleaned.get("confirmed_duplicate_of"),
                )
            except PossibleDuplicate as duplicate:
                # The form's warning as a problem: nothing stored; the client confirms by sending the earlier id.
                body = problem(
                    status.HTTP_409_CONFLICT,
                    f"{duplicate.why} Nothing was stored; to store it anyway, send the same data with "
                    f'"confirmed_duplicate_of": {duplicate.earlier.pk}.',
                    instance=request.get_full_path(),
                )
                body["duplicate_of"] = duplicate.earlier.pk
                body["duplicate_of_url"] = f"/api/v1/applications/{duplicate.earlier.pk}/"
                return Response(body, status=status.HTTP_409_CONFLICT, content_type=PROBLEM_CONTENT_TYPE)
        if stored_key and _differs(application, cleaned):
            raise Conflict("This Idempotency-Key was already used with different data.")
        body = api_serializers.ApplicationSerializer(application, context=_with_record_ids([application])).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/applications/{application.pk}/"
        if application.created_at < started:
            response["Idempotent-Replayed"] = "true"
        return response


def _differs(application: LoanApplication, cleaned: dict[str, Any]) -> bool:
    if (application.applicant_reference or "") != (cleaned.get("applicant_reference") or ""):
        return True
    return any(getattr(application, name) != cleaned[name] for name in INPUT_NAMES)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


class ApplicationDetail(APIView):
    @extend_schema(
        operation_id="applications_retrieve",
        summary="One application with its decision records and overrides (its case history)",
        responses={200: api_serializers.ApplicationDetailSerializer, **_errors(401, 403, 404, 429)},
    )
    def get(self, request, pk: int):
        if not roles.can_view_any(request.user):
            _deny(request, f"api:application:{pk}")
        application = selectors.application_get(user=request.user, pk=pk)
        log_access(user=request.user, action=AccessEvent.VIEW_APPLICATION, target=f"application:{pk}", request=request)
        application.api_decision_records = list(audit_selectors.decision_records_for_application(application_id=pk))
        application.api_overrides = list(audit_selectors.overrides_for_application(application_id=pk))
        application.api_case_records = list(audit_selectors.case_records_for_application(application_id=pk))
        body = api_serializers.ApplicationDetailSerializer(application, context=_with_record_ids([application])).data
        return Response(body)


class CaseAction(APIView):
    """A reviewer's action on an application's case, through ``reviews.services`` with the page's rules.

    Each request carries the ``version`` of the case it was decided on (the
    detail's ``case_version``); a case that changed meanwhile, or a state that
    does not allow the action, is a 409 problem saying why, and nothing is recorded.
    """

    parser_classes = [JSONParser]
    action = ""

    def post(self, request, pk: int):
        application = selectors.application_get(user=request.user, pk=pk)
        if not roles.can_act_on_case(request.user, application):
            _deny(request, f"case:application:{pk}")
        data = api_serializers.CASE_ACTION_INPUTS[self.action](data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = values.pop("version")
        try:
            if self.action == "claim":
                review_services.claim_case(application_id=pk, reviewer=request.user, expected_version=version)
            elif self.action == "release":
                review_services.release_case(application_id=pk, reviewer=request.user, expected_version=version)
            elif self.action == "decide":
                review_services.decide_case(
                    application_id=pk, reviewer=request.user, expected_version=version, **values
                )
            else:
                review_services.answer_second_approval(
                    application_id=pk, reviewer=request.user, expected_version=version, **values
                )
        except review_services.CaseConflict as conflict:
            raise Conflict(str(conflict)) from None
        return ApplicationDetail().get(request, pk)


def _case_action(action: str, summary: str) -> type[CaseAction]:
    def post(self, request, pk: int):
        return CaseAction.post(self, request, pk)

    view = type(f"Case{action.title().replace('_', '')}", (CaseAction,), {"action": action, "post": post})
    view.post = extend_schema(
        operation_id=f"applications_case_{action}",
        summary=summary,
        request=api_serializers.CASE_ACTION_INPUTS[action],
        responses={
            200: api_serializers.ApplicationDetailSerializer,
            (409, "application/problem+json"): OpenApiResponse(
                PROBLEM, description="The case changed meanwhile, or its state does not allow this."
            ),
            **_errors(400, 401, 403, 404, 429),
        },
    )(view.post)
    return view


CaseClaim = _case_action("claim", "A reviewer claims a case from the queue (the page's rules)")
CaseRelease = _case_action("release", "The holder gives a claimed case back to the queue")
CaseDecide = _case_action(
    "decide", "APPROVE, DECLINE or REFER a case, or override a final model decision, with a reason code (four eyes)"
)
CaseSecondApproval = _case_action(
    "second_approval", "A second reviewer confirms or rejects a proposed approval, with a reason code"
)


class BatchCreate(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="batches_create",
        summary="Upload a CSV batch file; scored in the background (202), follow `links.self`",
        request={"multipart/form-data": api_serializers.BatchUploadSerializer},
        responses={202: api_serializers.BatchJobSerializer, **_errors(400, 401, 403, 429)},
    )
    def post(self, request):
        if not roles.can_create(request.user):
            _deny(request, "api:batches:create")
        data = api_serializers.BatchUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        job = batch_services.create_batch_job(officer=request.user, file=upload.file, file_name=upload.name)
        if job.status == job.Status.REFUSED:
            raise exceptions.ValidationError({"file": [job.refusal]})
        return Response(api_serializers.BatchJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class BatchDetail(APIView):
    @extend_schema(
        operation_id="batches_retrieve",
        summary="A batch file's status and progress (rows done of total, rate, time left)",
        responses={200: api_serializers.BatchJobSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request, pk: int):
        job = batch_selectors.job_get(user=request.user, pk=pk)
        return Response(api_serializers.BatchJobSerializer(job).data)


class BatchCancel(APIView):
    @extend_schema(
        operation_id="batches_cancel",
        summary="Cancel the rows not yet processed (stored rows stay)",
        request=None,
        responses={200: api_serializers.BatchJobSerializer, **_errors(401, 403, 404, 429)},
    )
    def post(self, request, pk: int):
        job = batch_selectors.job_get(user=request.user, pk=pk)
        if not roles.can_cancel_batch(request.user, job):
            _deny(request, f"batch:{pk}:cancel")
        with transaction.atomic():
            job = batch_services.cancel_batch_job(job=job, user=request.user)
        return Response(api_serializers.BatchJobSerializer(job).data)


class BatchResults(APIView):
    @extend_schema(
        operation_id="batches_results",
        summary="The results CSV: every input row in order with its outcome",
        responses={(200, "text/csv"): OpenApiTypes.STR, **_errors(401, 404, 429)},
    )
    def get(self, request, pk: int):
        job = batch_selectors.job_get(user=request.user, pk=pk)
        log_access(user=request.user, action=AccessEvent.EXPORT, target=f"batch:{pk}", request=request)
        return csv_response(batch_selectors.result_rows(job=job), filename=f"batch-{job.pk}-results.csv")
