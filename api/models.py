"""Per-user API tokens: stored hashed, with an expiry, revocable, shown once.

A token is ``scr_<prefix>_<secret>``: the prefix (public, indexed) finds the
row, the SHA-256 of the whole token is compared in constant time. The
token has 256 bits of randomness, so a plain SHA-256 (no salt, no slow
hash) is as strong as the token itself, and checking one costs microseconds
on every request. The clear token exists only in the response of the page
or command that created it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for (the system that uses it).")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_sha256 = models.CharField("SHA-256 of the token", max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} (scr_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
