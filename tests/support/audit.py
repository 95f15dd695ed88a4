"""Helpers for the audit tests: run the verification in-process, edit rows behind the ORM's back."""

from __future__ import annotations

import io
import json

from django.core.management import CommandError, call_command
from django.db import connection

from audit import db_triggers
from tests.support.factories import scored_application  # noqa: F401 - re-exported for the audit tests


def run_verify(*args: str) -> tuple[int, str, dict]:
    """Run ``verify_decisions`` in-process: (exit code, stdout, JSON summary of the last line)."""
    out = io.StringIO()
    code = 0
    try:
        call_command("verify_decisions", *args, stdout=out)
    except CommandError as error:
        code = error.returncode
    text = out.getvalue()
    return code, text, json.loads(text.strip().splitlines()[-1])


def drop_triggers() -> None:
    """Inside the test's transaction: rolled back (triggers restored) when the test ends."""
    db_triggers.drop(connection)


def raw(sql: str, params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def legacy_override(application, *, reviewer, to_decision: str, reason: str = "Legacy override."):
    """An override as the product recorded it before the case lifecycle (issue 14), with the row as migrated.

    ``OverrideRecord``s of that time must keep verifying; this writes one through
    ``audit.services.append_override_record`` and sets the application row the way
    ``applications.services.override_decision`` did and migrations ``applications.0006``/``0007`` then did.
    """
    from django.db import transaction

    from applications.models import LoanApplication
    from audit import lifecycle
    from audit.services import append_override_record, latest_decision_record

    with transaction.atomic():
        current = LoanApplication.objects.select_for_update().get(pk=application.pk)
        record = append_override_record(
            application_id=current.pk,
            decision_record=latest_decision_record(application_id=current.pk),
            reviewer=reviewer,
            from_decision=current.final_decision,
            to_decision=to_decision,
            reason=reason,
        )
        step = lifecycle.after_legacy_override(to_decision)
        LoanApplication.objects.filter(pk=current.pk).update(
            final_decision=step.final_decision,
            case_state=step.state,
            queued_at=current.scored_at if step.state in lifecycle.OPEN_STATES else None,
        )
    application.refresh_from_db()
    return record
