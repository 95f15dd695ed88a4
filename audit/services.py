"""Write side of the audit trail (HackSoft style: keyword-only services).

Skeleton: real signatures first so the workbench can integrate; bodies follow.
"""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def append_decision_record(*, application: Any, result: Any, officer: Any) -> Any:
    """Append one chained, immutable DecisionRecord for a scored application.

    Must be called inside the caller's ``transaction.atomic()`` so that the
    application row and its audit record commit or roll back together.
    Returns the new ``audit.models.DecisionRecord``.
    """
    return None


def log_access(*, user: Any, action: str, target: str = "", request: HttpRequest | None = None) -> Any:
    """Append one AccessEvent (who, when, what, IP, path). Never raises on a bad request."""
    return None
