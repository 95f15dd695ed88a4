"""API tokens: create (shown once), revoke, authenticate. Keyword-only services."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts import roles
from api.models import ApiToken

TOKEN_PREFIX = "scr_"
MAX_TOKEN_DAYS = 366


class TokenRefused(Exception):
    """A presented token that does not authenticate; the message says why (shown to the caller)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, user: Any, name: str, days: int, created_by: Any) -> tuple[ApiToken, str]:
    """A new token for ``user``, valid ``days`` days: ``(row, clear token)``; the clear token is never stored.

    Only an admin (``accounts.roles.can_manage_api_tokens``) may create one.
    """
    if not roles.can_manage_api_tokens(created_by):
        raise PermissionDenied("Only an admin may create API tokens.")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"A token lasts 1 to {MAX_TOKEN_DAYS} days.")
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100] or "API token",
        prefix=prefix,
        key_sha256=_digest(token),
        created_by=created_by,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    return row, token


def revoke_api_token(*, token: ApiToken, revoked_by: Any) -> ApiToken:
    """Revoke at once: the next request with it gets 401. Idempotent."""
    if not roles.can_manage_api_tokens(revoked_by):
        raise PermissionDenied("Only an admin may revoke API tokens.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=revoked_by
    )
    token.refresh_from_db()
    return token


def authenticate_token(*, token: str) -> ApiToken:
    """The live token row for a presented token; ``TokenRefused`` (saying why) otherwise."""
    parts = token.split("_")
    if len(parts) < 3 or not token.startswith(TOKEN_PREFIX) or len(parts[1]) != 12:
        raise TokenRefused("The token is malformed.")
    row = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if row is None or not hmac.compare_digest(row.key_sha256, _digest(token)):
        raise TokenRefused("The token is not valid.")
    if row.revoked_at is not None:
        raise TokenRefused("The token has been revoked.")
    now = timezone.now()
    if row.expires_at <= now:
        raise TokenRefused("The token has expired.")
    if not row.user.is_active:
        raise TokenRefused("The token's user is inactive.")
    # At most one write a minute per token: the stamp is for admins, not an access log.
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        with transaction.atomic():
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row
