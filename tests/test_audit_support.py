"""Shared helpers for the audit tests (no tests here)."""

from __future__ import annotations

import io
import json
from typing import Any

from django.core.management import CommandError, call_command
from django.db import connection

from applications import roles
from applications.services import submit_application
from audit import db_triggers
from tests.builders import make_user, valid_inputs


def scored_application(officer=None, **overrides: Any):
    officer = officer or make_user(roles.OFFICER)
    application = submit_application(officer=officer, data=valid_inputs(**overrides))
    assert application.status == "SCORED", application.scoring_error
    return application


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
