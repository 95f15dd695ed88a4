"""What the review workflow keeps besides the case itself: reason codes and delegated approval limits.

The case (its state, claim, proposal) lives on ``applications.LoanApplication`` and every change of
it is an ``audit.models.CaseRecord``; these two tables are the workflow's settings, managed in admin.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from audit import lifecycle


class ReasonCode(models.Model):
    """One entry of the fixed list a reviewer picks a reason from; each case record quotes its code and label.

    Kept in the database and managed in admin (seeded by migration ``0002``). A code is never deleted
    or renamed once created, since case records quote it: retire it by unticking ``active``.
    """

    class Action(models.TextChoices):
        APPROVE = "APPROVE", "Approve"
        DECLINE = "DECLINE", "Decline"
        REFER = lifecycle.REFER, "Refer (keep in review)"
        CONFIRM = lifecycle.CONFIRM, "Confirm a proposed approval"
        REJECT = lifecycle.REJECT, "Reject a proposed approval"

    code = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", "Capital letters, digits and hyphens only.")],
        help_text="Short and stable, e.g. DEC-AFFORD; quoted by every case record that uses it.",
    )
    action = models.CharField(max_length=8, choices=Action.choices, help_text="The decision this reason explains.")
    label = models.CharField(max_length=200, help_text="The statement shown to reviewers and recorded with the case.")
    active = models.BooleanField(default=True, help_text="Untick to stop offering it; records that used it keep it.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order within its action's list.")

    class Meta:
        ordering = ("action", "position", "code")

    def __str__(self) -> str:
        return f"{self.code}: {self.label}"


class DelegatedLimit(models.Model):
    """The largest loan amount one reviewer may approve alone; above it a second reviewer must confirm.

    Set per user in admin. A reviewer without a row gets ``settings.REVIEW_DEFAULT_APPROVAL_LIMIT``
    (0 by default: every approval of theirs needs a second reviewer).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="delegated_limit",
    )
    approval_limit = models.DecimalField(
        "Approval limit",
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Loan amount (the bank's currency) this reviewer may approve without a second reviewer.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("user__username",)
        constraints = [
            models.CheckConstraint(condition=models.Q(approval_limit__gte=0), name="reviews_limit_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.approval_limit}"
