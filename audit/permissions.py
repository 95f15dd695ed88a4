"""Who may do what in the audit app (decided by permissions the role groups hold)."""

from __future__ import annotations

from typing import Any

VIEW_AUDIT = "audit.view_audit"
OVERRIDE = "audit.override_decision"


def can_view_audit(user: Any) -> bool:
    """Auditors and admins: the audit pages, the verification and the exports."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(VIEW_AUDIT)


def can_override(user: Any, application: Any) -> bool:
    """Reviewers (and admins), on scored applications somebody else entered."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and user.has_perm(OVERRIDE)
        and application.officer_id != user.pk
        and application.status == "SCORED"
    )
