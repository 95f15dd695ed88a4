"""What serves, and the changes proposed to it.

``ServingState`` is the single source of truth for the model version and the
decision policy (cut-offs) new applications are scored with, once a governed
change has been approved; until then the model store's ``ACTIVE`` file names
the serving version with its manifest's cut-offs (the shipped default, and
what a fresh database serves). Only ``governance.services.approve_proposal``
writes it, in the transaction that appends the governance chain record.

``ChallengerState`` names the challenger, if any: a non-active version
that scores every new application in shadow (``governance.shadow``),
never deciding; set and removed only by an approved proposal.
``ChallengerScore`` is what it said about one application, beside what
the champion decided.

``ChangeProposal`` is a working table: a proposal waits here for a second
admin. Its status changes (pending -> approved / rejected / withdrawn);
how each one ended (approved, rejected, withdrawn) is in the hash-chained
``audit.GovernanceRecord``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ServingState(models.Model):
    """One row (id 1): the model version and policy in force, and a revision counter."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    model_version = models.CharField(max_length=64)
    policy_version = models.CharField(max_length=80)
    approve_below = models.FloatField()
    decline_from = models.FloatField()
    # Bumped by every approved change; what a process compares to notice one.
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.model_version} under {self.policy_version} (revision {self.revision})"


class ChangeProposal(models.Model):
    """A proposed activation of a model version or a new pair of cut-offs, awaiting a second admin."""

    class Kind(models.TextChoices):
        ACTIVATE_MODEL = "activate_model", "Activate model version"
        ADOPT_POLICY = "adopt_policy", "Adopt cut-offs"
        SET_CHALLENGER = "set_challenger", "Make challenger"
        REMOVE_CHALLENGER = "end_challenger", "Remove challenger"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Awaiting approval"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        WITHDRAWN = "WITHDRAWN", "Withdrawn"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_version = models.CharField(max_length=64)
    # Cut-offs: the manifest's for an activation, the proposed ones for a policy.
    approve_below = models.FloatField()
    decline_from = models.FloatField()
    note = models.TextField(blank=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The chained record of how the proposal ended (approved, rejected or withdrawn).
    record = models.OneToOneField(
        "audit.GovernanceRecord", on_delete=models.PROTECT, null=True, blank=True, related_name="proposal"
    )

    class Meta:
        ordering = ("-proposed_at", "-id")
        permissions = [("govern_models", "Can propose and approve model activations and cut-offs")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.model_version} ({self.get_status_display()})"

    @property
    def policy_version(self) -> str:
        """The version decisions will name once this cut-off proposal is approved."""
        return f"policy-{self.pk}"


class ChallengerState(models.Model):
    """One row (id 1): the challenger version scoring in shadow (empty: none), and a revision counter."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    model_version = models.CharField(max_length=64, blank=True)
    # As approved (so removing a challenger whose artifact broke since is still recorded with them).
    model_sha256 = models.CharField(max_length=64, blank=True)
    approve_below = models.FloatField(default=0.0)
    decline_from = models.FloatField(default=0.0)
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"challenger {self.model_version or 'none'} (revision {self.revision})"


class ChallengerScore(models.Model):
    """What the challenger said about one application, beside what the champion decided (shadow only).

    Written once, when the champion scored the application (form, API,
    batch file, pending scorer); never read by any decision. The champion's
    probability, decision and version are copied here as they were at that
    moment, so the comparison is of two answers given to the same inputs at
    the same time, even if the case is later overridden or re-scored. A
    challenger that could not score (artifact missing or tampered with) is a
    FAILED row with the reason, and the application went on without it.
    """

    class Status(models.TextChoices):
        SCORED = "SCORED", "Scored"
        FAILED = "FAILED", "Could not score"

    application = models.ForeignKey(
        "applications.LoanApplication", on_delete=models.PROTECT, related_name="challenger_scores"
    )
    model_version = models.CharField(max_length=64)
    model_sha256 = models.CharField(max_length=64, blank=True)
    policy_version = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=6, choices=Status.choices)
    probability_of_default = models.FloatField(null=True, blank=True)
    decision = models.CharField(max_length=8, blank=True)
    error = models.CharField(max_length=500, blank=True)
    champion_version = models.CharField(max_length=64)
    champion_policy_version = models.CharField(max_length=80, blank=True)
    champion_probability = models.FloatField()
    champion_decision = models.CharField(max_length=8)
    scored_at = models.DateTimeField()

    class Meta:
        ordering = ("-id",)
        # Covers the comparison's grouped count and its swap sets: one index range per challenger version.
        indexes = [
            models.Index(
                fields=("model_version", "status", "champion_decision", "decision", "application"),
                name="challenger_compare_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} on application {self.application_id}: {self.decision or self.status}"
