"""Pages of batch files: upload, the job page with its live progress bar, cancel, the results CSV. Thin."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit.models import AccessEvent
from audit.services import log_access
from batches import selectors, services
from batches.forms import BatchUploadForm
from infrastructure.csv_export import csv_response


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


@login_required
@require_http_methods(["GET", "POST"])
def batch_upload(request: HttpRequest) -> HttpResponse:
    """``/batches/``: upload a file; the user's recent files below."""
    if not roles.can_create(request.user):
        _deny(request, "batches:upload")
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            job = services.create_batch_job(officer=request.user, file=upload.file, file_name=upload.name)
            return HttpResponseSeeOther(reverse("batches:detail", args=[job.pk]))
        status = 400
    jobs = selectors.visible_jobs(user=request.user)[:20]
    return render(request, "batches/upload.html", {"form": form, "jobs": jobs}, status=status)


@login_required
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(user=request.user, pk=pk)
    return render(
        request,
        "batches/detail.html",
        {
            "job": job,
            "progress": selectors.job_progress(job=job),
            "can_cancel": roles.can_cancel_batch(request.user, job) and not job.is_finished,
        },
    )


@login_required
@require_GET
def batch_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """The progress bar's data, polled by static/js/batch-progress.js."""
    job = selectors.job_get(user=request.user, pk=pk)
    return JsonResponse(selectors.job_progress(job=job))


@login_required
@require_POST
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(user=request.user, pk=pk)
    if not roles.can_cancel_batch(request.user, job):
        _deny(request, f"batch:{pk}:cancel")
    services.cancel_batch_job(job=job, user=request.user)
    return HttpResponseSeeOther(reverse("batches:detail", args=[job.pk]))


@login_required
@require_GET
def batch_results(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(user=request.user, pk=pk)
    log_access(user=request.user, action=AccessEvent.EXPORT, target=f"batch:{pk}", request=request)
    return csv_response(selectors.result_rows(job=job), filename=f"batch-{job.pk}-results.csv")
