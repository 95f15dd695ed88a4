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
