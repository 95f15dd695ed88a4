"""Errors as RFC 9457 problem details (``application/problem+json``), each bad field named.

Every error the API answers goes through ``problem_exception_handler``:
``type`` (``about:blank``: the status says it), ``title``, ``status``,
``detail`` and ``instance``; a validation error adds ``errors``, one entry
per bad field (``{"field": ..., "detail": ...}``, ``field`` ``null`` for
the request as a whole). Django's own ``ValidationError``,
``PermissionDenied`` and ``Http404`` raised by services and selectors are
converted, so a service's refusal reaches the client the way it reaches the
form: as a message beside the field.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"


def _field_errors(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """Flatten DRF's error detail into ``[{"field": name or None, "detail": message}]``."""
    if isinstance(detail, dict):
        errors: list[dict[str, Any]] = []
        for name, value in detail.items():
            named = None if name in (NON_FIELD_ERRORS, "non_field_errors") else (f"{field}.{name}" if field else name)
            errors.extend(_field_errors(value, named))
        return errors
    if isinstance(detail, list):
        return [error for item in detail for error in _field_errors(item, field)]
    return [{"field": field, "detail": str(detail)}]


def problem(status: int, detail: str, *, instance: str = "", errors: list[dict[str, Any]] | None = None) -> dict:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return body


def problem_exception_handler(exc: Exception, context: dict) -> Any:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a fault, not bad input: Django's 500 page and a log line
    request = context.get("request")
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is not None and getattr(renderer, "format", "json") != "json":
        return response  # an HTML page of the API (the docs): the site's own error page
    instance = request.get_full_path() if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        fields = sorted({error["field"] for error in errors if error["field"]})
        detail = f"Invalid input in: {', '.join(fields)}." if fields else errors[0]["detail"]
        response.data = problem(response.status_code, detail, instance=instance, errors=errors)
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = problem(
            response.status_code, str(detail or HTTPStatus(response.status_code).phrase), instance=instance
        )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
