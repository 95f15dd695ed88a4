"""Queue tasks of the audit trail (run by the task queue's workers; see ``infrastructure.task_queue``)."""

from __future__ import annotations

from audit.models import VerificationRun
from audit.services import run_verification


def run_verification_job(run_id: int) -> str:
    """Run a verification an auditor queued on ``/audit/``; safe to run again (a redelivered task restarts it)."""
    run = VerificationRun.objects.get(pk=run_id)
    if run.status in (VerificationRun.PASSED, VerificationRun.FAILED):
        return f"verification {run_id} already {run.status}"
    summary = run_verification(run=run)
    return f"verification {run_id}: {'passed' if summary.ok else 'failed'}"
