"""Append-only audit records: decisions, overrides, access events.

Each record's full content lives in ``payload``, the canonical JSON that its
``record_hash`` is computed from (see ``audit.canonical``); the other columns
are copies for querying and display, and ``audit.verification`` checks that
they still agree with the payload. Records are never changed or deleted: the
ORM guard below raises, the admin is read-only, and database triggers
(``audit.db_triggers``, installed by migration) refuse UPDATE and DELETE.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models

from audit import canonical
from audit.exceptions import ImmutableRecordError


class AppendOnlyQuerySet(models.QuerySet):
    """A QuerySet on which every bulk write path refuses."""

    def _refuse(self, what: str):
        raise ImmutableRecordError(f"{self.model._meta.label} is append-only: {what} is refused.")

    def update(self, **kwargs):
        self._refuse("QuerySet.update()")

    def _update(self, values):
        self._refuse("an UPDATE")

    def delete(self):
        self._refuse("QuerySet.delete()")

    delete.alters_data = True
    delete.queryset_only = True

    def _raw_delete(self, using):
        self._refuse("a DELETE")

    def bulk_update(self, objs, fields, batch_size=None):
        self._refuse("bulk_update()")

    def update_or_create(self, *args, **kwargs):
        self._refuse("update_or_create()")

    async def aupdate(self, **kwargs):
        self._refuse("QuerySet.aupdate()")

    async def adelete(self):
        self._refuse("QuerySet.adelete()")


AppendOnlyManager = models.Manager.from_queryset(AppendOnlyQuerySet)


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never updated or deleted through the ORM."""

    objects = AppendOnlyManager()

    class Meta:
        abstract = True
        base_manager_name = "objects"
        default_manager_name = "objects"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecordError(f"{self._meta.label} is append-only: an existing record cannot be saved.")
        kwargs["force_insert"] = True
        kwargs.pop("force_update", None)
        kwargs.pop("update_fields", None)
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{self._meta.label} is append-only: records cannot be deleted.")


class ChainHead(models.Model):
    """The tip of one hash chain: locked to append, compared to the last record to verify.

    Appending takes this row with ``SELECT ... FOR UPDATE`` inside the
    caller's transaction, so concurrent writers — processes or servers on one
    PostgreSQL — queue here and each reads the head its predecessor wrote:
    no forks, no gaps. (SQLite's BEGIN IMMEDIATE serialises writers anyway.)
    Keeping the head also exposes a truncated tail, which the links alone
    cannot: the last record no longer matches the head.
    """

    DECISIONS = "decisions"
    OVERRIDES = "overrides"
    CASES = "cases"
    ROLE_CHANGES = "role_changes"
    OUTCOMES = "outcomes"
    GOVERNANCE = "governance"

    name = models.CharField(primary_key=True, max_length=32)
    sequence = models.BigIntegerField(default=0)
    record_hash = models.CharField(max_length=64, default=canonical.GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.name} head #{self.sequence}"


class ChainedRecord(AppendOnlyModel):
    """Fields every chained record shares."""

    sequence = models.BigIntegerField(unique=True, editable=False)
    previous_hash = models.CharField(max_length=64, unique=True, editable=False)
    record_hash = models.CharField(max_length=64, unique=True, editable=False)
    payload = models.TextField(editable=False, help_text="Canonical JSON the record hash is computed from.")
    created_at = models.DateTimeField(editable=False, db_index=True)

    class Meta(AppendOnlyModel.Meta):
        abstract = True
        ordering = ("sequence",)

    @cached_property
    def document(self) -> dict[str, Any]:
        return json.loads(self.payload)


class DecisionRecord(ChainedRecord):
    """What the model said for one application, under which model and policy, for whom."""

    application = models.ForeignKey(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        related_name="decision_records",
        editable=False,
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    probability_of_default = models.FloatField(editable=False)
    # Not indexed: three values, a third of the rows each; no query is
    # narrowed by it (the admin's filter walks the sequence order anyway),
    # and every record would pay for it at commit.
    decision = models.CharField(max_length=8, editable=False)
    approve_below = models.FloatField(editable=False)
    decline_from = models.FloatField(editable=False)
    # Indexed with sequence (``decision_version_sequence``): the admin's list filtered by version.
    model_version = models.CharField(max_length=64, editable=False)
    model_sha256 = models.CharField("Model SHA-256", max_length=64, editable=False)
    # The application was outside the model's training ranges, so REVIEW (scoring.experience).
    outside_experience = models.BooleanField(default=False, db_default=False, editable=False)

    class Meta(ChainedRecord.Meta):
        permissions = [("view_audit", "Can open the audit pages, verify the chain and export")]
        indexes = [models.Index(fields=["model_version", "sequence"], name="decision_version_sequence")]

    def __str__(self) -> str:
        return f"Decision #{self.sequence} ({self.decision}, application {self.application_id})"

    @property
    def inputs(self) -> dict[str, Any]:
        return self.document["inputs"]

    @property
    def features(self) -> dict[str, Any]:
        return canonical.decode_features(self.document["features"])

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return [
            {**reason, "contribution": canonical.decode_float(reason.get("contribution"))}
            for reason in self.document["reasons"]
        ]


class OverrideRecord(ChainedRecord):
    """A reviewer's change of an application's final decision: who, when, from, to, why.

    Its own chain (not interleaved with decisions): the two record kinds
    have different fields and writers, an override never waits behind the
    officers' submissions for the chain lock, and each chain verifies on its
    own. The payload binds each override to the decision record it overrides
    (its hash), so the two chains cannot be re-paired silently.
    """

    application = models.ForeignKey(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        related_name="override_records",
        editable=False,
    )
    decision_record = models.ForeignKey(
        DecisionRecord,
        on_delete=models.PROTECT,
        related_name="overrides",
        editable=False,
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    from_decision = models.CharField(max_length=8, editable=False)
    to_decision = models.CharField(max_length=8, editable=False)
    reason = models.TextField(editable=False)

    def __str__(self) -> str:
        return (
            f"Override #{self.sequence}: {self.from_decision} → {self.to_decision} (application {self.application_id})"
        )


class CaseRecord(ChainedRecord):
    """One transition of an application's case: who, when, which action, from and to which state and decision, why.

    The lifecycle (``audit.lifecycle``) replaced overrides in issue 14: every claim, release,
    decision, referral, proposal for a second approval and the second reviewer's answer is one record
    here. Own chain, like overrides (different fields and writers; reviewers never wait behind officers'
    submissions). Each record's payload carries the hash of the decision record the case rests on, and
    ``version`` (the case's transition count after it), so verification can replay a case's records
    through ``audit.lifecycle.next_step`` and compare the application row with the result.
    ``OverrideRecord`` stays for the overrides written before; nothing writes new ones.
    """

    application = models.ForeignKey(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        related_name="case_records",
        editable=False,
    )
    decision_record = models.ForeignKey(
        DecisionRecord,
        on_delete=models.PROTECT,
        related_name="case_records",
        editable=False,
        db_index=False,  # only read by id from a case record, never looked up by it
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    action = models.CharField(max_length=8, editable=False)
    from_state = models.CharField(max_length=12, editable=False)
    to_state = models.CharField(max_length=12, editable=False)
    # The decision in force before and after (LoanApplication.final_decision).
    from_decision = models.CharField(max_length=8, editable=False)
    to_decision = models.CharField(max_length=8, editable=False)
    # An approval awaiting a second reviewer after this record (PROPOSE), else "".
    proposed_decision = models.CharField(max_length=8, blank=True, editable=False)
    reason_code = models.CharField(max_length=16, blank=True, editable=False)
    reason_label = models.CharField(max_length=200, blank=True, editable=False)
    explanation = models.TextField(blank=True, editable=False)
    version = models.PositiveIntegerField(editable=False)

    def __str__(self) -> str:
        return f"Case #{self.sequence}: {self.action} {self.from_state} → {self.to_state} (application {self.application_id})"


class RoleChangeRecord(ChainedRecord):
    """One role granted to or revoked from a user: who, by whom, through what, when.

    Chained (its own chain, like overrides) because a role is the key to
    everything else: a grant erased from a plain table would leave an
    officer who approved loans looking like a reviewer with no trace. Role
    changes are rare, so the chain lock costs nothing. ``actor`` is empty
    when the change came from ``manage.py`` (someone with shell access);
    ``actor_name`` then names the operating-system account that ran it.
    """

    GRANT = "grant"
    REVOKE = "revoke"
    COMMAND = "command"
    ADMIN_SITE = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    action = models.CharField(max_length=8, editable=False, choices=[(GRANT, "granted"), (REVOKE, "revoked")])
    role = models.CharField(max_length=32, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    actor_name = models.CharField(max_length=150, editable=False)
    channel = models.CharField(
        max_length=8, editable=False, choices=[(COMMAND, "manage.py command"), (ADMIN_SITE, "admin site")]
    )

    def __str__(self) -> str:
        return f"Role change #{self.sequence}: {self.role} {self.get_action_display()} (user {self.user_id})"


class OutcomeRecord(ChainedRecord):
    """How a loan turned out: repaid or defaulted, on which date, recorded by whom and how.

    Its own chain, like overrides: outcomes arrive months after decisions,
    from loan servicing (admin, CSV import, command), and must be as
    tamper-evident as the decisions they are measured against. The payload
    binds each outcome to the hash of the decision record in force when it
    was recorded. An outcome is never edited: a correction is a later
    record, and the latest one per application is the one that counts.
    """

    REPAID = "REPAID"
    DEFAULTED = "DEFAULTED"
    OUTCOMES = ((REPAID, "Repaid"), (DEFAULTED, "Defaulted"))
    # How it came in: the admin form, the CSV import page, the command.
    SOURCES = ("admin", "import", "command")

    application = models.ForeignKey(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        related_name="outcome_records",
        editable=False,
    )
    decision_record = models.ForeignKey(
        DecisionRecord,
        on_delete=models.PROTECT,
        related_name="outcomes",
        editable=False,
    )
    outcome = models.CharField(max_length=9, choices=OUTCOMES, editable=False)
    outcome_date = models.DateField(editable=False, help_text="When the loan was repaid in full or defaulted.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    source = models.CharField(max_length=16, editable=False)

    class Meta(ChainedRecord.Meta):
        permissions = [("record_outcome", "Can record how a loan turned out")]

    def __str__(self) -> str:
        return f"Outcome #{self.sequence}: {self.outcome} on {self.outcome_date} (application {self.application_id})"


class LatestDecision(models.Model):
    """Each application's latest decision record and latest outcome: an index of the chains, not a record.

    Decision records are append-only (no "latest" flag can be set on one), so
    which record is an application's latest lives here, one row per
    application, written in the same transaction as the record by the
    services that append decision records (``audit.latest.advance_latest_decisions``) and
    outcomes (``record_outcome``). It lets the cut-off simulator
    (``governance.simulator``) aggregate over an index instead of reading
    every record. ``verify_decisions`` recomputes it from the chains and
    reports any row that disagrees (``audit.latest.mismatched_applications``).
    """

    application = models.OneToOneField(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="+",
        editable=False,
    )
    # No foreign key constraint: the index must never stand in the way of the chain's own checks (a record
    # deleted behind the triggers' back is reported by verification, the index row with it).
    decision_record = models.OneToOneField(
        DecisionRecord, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", editable=False
    )
    # Copies of the latest decision record's columns.
    model_version = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(editable=False)
    probability_of_default = models.FloatField(editable=False)
    # How many decision records the application has: over 1, an earlier one may be the latest of a period.
    decision_records = models.PositiveIntegerField(editable=False)
    # The latest outcome record's outcome, "" while none.
    outcome = models.CharField(max_length=9, blank=True, editable=False)

    class Meta:
        indexes = [
            # The simulator counts a model's applications by outcome and probability band: index ranges
            # covering every column read, the period's times filtered within them.
            models.Index(
                fields=["model_version", "outcome", "probability_of_default", "created_at", "application"],
                name="latest_version_outcome_pd",
            ),
            models.Index(
                fields=["application"], condition=models.Q(decision_records__gt=1), name="latest_several_records"
            ),
        ]

    def __str__(self) -> str:
        return f"Latest decision of application {self.application_id}: record {self.decision_record_id}"


class AccessEvent(AppendOnlyModel):
    """Who did what, when, from where: logins, failures, denials, views, exports.

    Not hash-chained (it is written on every application page view and must
    stay cheap), but append-only with the same ORM guard and triggers.
    """

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PERMISSION_DENIED = "permission_denied"
    VIEW_APPLICATION = "view_application"
    EXPORT = "export"
    ADVERSE_ACTION_NOTICE = "adverse_action_notice"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    # How the auditor's page names each action; the stored code stays short and stable.
    ACTION_LABELS = {
        LOGIN: "Signed in",
        LOGIN_FAILED: "Failed sign-in",
        LOGOUT: "Signed out",
        PERMISSION_DENIED: "Refused: not allowed",
        VIEW_APPLICATION: "Viewed an application",
        EXPORT: "Exported CSV",
        ADVERSE_ACTION_NOTICE: "Made an adverse-action notice",
        ROLE_GRANTED: "Granted a role",
        ROLE_REVOKED: "Revoked a role",
    }

    created_at = models.DateTimeField(editable=False, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    # Kept as typed: a failed login names a user who may not exist.
    username = models.CharField(max_length=150, blank=True, editable=False)
    action = models.CharField(max_length=32, db_index=True, editable=False)
    target = models.CharField(max_length=255, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    method = models.CharField(max_length=8, blank=True, editable=False)
    path = models.CharField(max_length=500, blank=True, editable=False)

    class Meta(AppendOnlyModel.Meta):
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.target}"

    @classmethod
    def action_label(cls, action: str) -> str:
        """``"view_application"`` -> ``"Viewed an application"``; an unknown code as stored."""
        return cls.ACTION_LABELS.get(action, action)


# Anonymous access events stored one by one per (client address, action,
# hour); the rest are only counted. 20 keeps every failed sign-in of a
# normal lockout (5) with room to spare, and bounds a flood to 21 rows an hour
# per client and action.
ANONYMOUS_EVENTS_PER_WINDOW = 20


class AnonymousAccessTally(models.Model):
    """How many anonymous access events one client caused in one window, beyond those stored singly.

    Anyone can make the site refuse a request (a POST without a CSRF token,
    a failed sign-in, a locked-out one), and each refusal used to be one
    permanent, undeletable ``AccessEvent``: one client could grow the table
    by hundreds of rows a second. ``audit.services.log_access`` now stores
    the first ``ANONYMOUS_EVENTS_PER_WINDOW`` anonymous events of each
    (client address, action, hour) as ``AccessEvent`` rows and counts every
    one here: one row per client, action and hour, whatever the flood.
    Signed-in users' events are always stored one by one.

    Not append-only: ``count`` and ``last_at`` are updated in place (that is
    the point); rows are never deleted by the product.
    """

    window_start = models.DateTimeField(editable=False)
    action = models.CharField(max_length=32, editable=False)
    # "" when the address is unknown (a NULL would not be unique).
    ip = models.CharField("IP address", max_length=45, blank=True, editable=False)
    count = models.PositiveIntegerField(default=0, editable=False)
    first_at = models.DateTimeField(editable=False)
    last_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ("-window_start", "action", "ip")
        constraints = [
            models.UniqueConstraint(fields=["window_start", "action", "ip"], name="audit_anontally_one_per_window")
        ]

    def __str__(self) -> str:
        return f"{self.window_start:%Y-%m-%d %H:00} {self.ip or '-'} {self.action} x{self.count}"

    @property
    def stored(self) -> int:
        """How many of these events were also stored as ``AccessEvent`` rows."""
        return min(self.count, ANONYMOUS_EVENTS_PER_WINDOW)

    @property
    def dropped(self) -> int:
        """How many were only counted here."""
        return self.count - self.stored


class GovernanceRecord(ChainedRecord):
    """A governed change: a model version activated (or rolled back to), new cut-offs adopted, a challenger
    set or removed (it scores in shadow, never deciding), or a proposal rejected or withdrawn (no effect).

    Its own chain (``governance``), like role changes: which model and
    which cut-offs decided a loan is as much the auditor's business as the
    decision itself, and a change erased from a plain table would leave
    decisions that look like nobody chose their policy. One record per
    approved proposal, naming both people (four eyes: the proposer and a
    different approver); ``governance.services`` decides, this only records.
    ``policy_version`` is what decision records made afterwards name;
    verification with replay reads the cut-offs of each policy from here.
    """

    ACTIVATE_MODEL = "activate_model"
    ADOPT_POLICY = "adopt_policy"
    # A challenger scores in shadow only: its records name no policy any decision is made under.
    SET_CHALLENGER = "set_challenger"
    REMOVE_CHALLENGER = "end_challenger"  # fits the 16-character column
    # A proposal closed without effect: rejected by another admin, or withdrawn by its proposer. Chained too, so
    # the trail shows every proposal's end, not only the ones that changed something. For these two,
    # ``approved_by`` is whoever closed the proposal (the proposer, for a withdrawal).
    REJECT = "reject"
    WITHDRAW = "withdraw"
    ACTIONS = (
        (ACTIVATE_MODEL, "model activated"),
        (ADOPT_POLICY, "cut-offs adopted"),
        (SET_CHALLENGER, "challenger set"),
        (REMOVE_CHALLENGER, "challenger removed"),
        (REJECT, "proposal rejected"),
        (WITHDRAW, "proposal withdrawn"),
    )
    # The actions that change what decides; only their policies are ones decision records may name.
    SERVING_ACTIONS = (ACTIVATE_MODEL, ADOPT_POLICY)

    action = models.CharField(max_length=16, choices=ACTIONS, editable=False)
    model_version = models.CharField(max_length=64, editable=False)
    model_sha256 = models.CharField("Model SHA-256", max_length=64, editable=False)
    policy_version = models.CharField(max_length=80, editable=False)
    approve_below = models.FloatField(editable=False)
    decline_from = models.FloatField(editable=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )

    def __str__(self) -> str:
        return f"Governance #{self.sequence}: {self.get_action_display()} {self.model_version} {self.policy_version}"


class VerificationRun(models.Model):
    """One verification of the audit trail: what it covered, how far it got, what it found.

    Not a chained record: it is the result of checking them, updated while the run goes on
    (progress) and once when it ends. A passed run's ``checkpoints`` (per chain: the last record
    it verified, id, sequence and hash) are where the next incremental run starts; ``/audit/``
    shows the latest finished run and never verifies inline.
    """

    INCREMENTAL = "incremental"
    FULL = "full"
    KINDS = ((INCREMENTAL, "new records since the last checkpoint"), (FULL, "every record"))
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    # The run itself broke (the database went away, a worker was killed): no verdict on the trail.
    ERROR = "error"
    STATUSES = ((QUEUED, "queued"), (RUNNING, "running"), (PASSED, "passed"), (FAILED, "failed"), (ERROR, "error"))

    kind = models.CharField(max_length=12, choices=KINDS)
    replay = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=STATUSES, default=QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # "web" (an auditor on /audit/) or "command" (manage.py verify_decisions).
    channel = models.CharField(max_length=8, default="command")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress: records walked so far, of the records the chains held when the run started.
    records_total = models.BigIntegerField(default=0)
    records_done = models.BigIntegerField(default=0)
    records_checked = models.BigIntegerField(default=0)
    applications_checked = models.BigIntegerField(default=0)
    replayed = models.BigIntegerField(default=0)
    problem_count = models.PositiveIntegerField(default=0)
    # Per chain: {"checked", "problems", "from_sequence", "last_id", "last_sequence", "last_hash", "ok"}.
    chains = models.JSONField(default=dict)
    # The first problems in words, each {"text", "application_id"} (the latter when one is named).
    problems = models.JSONField(default=list)
    # verify_decisions' JSON summary.
    summary = models.JSONField(default=dict)
    # The audit page's aggregates as of this run (audit.selectors.trail_figures): decision counts per
    # model version and decision, override counts per reviewer and version.
    figures = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["status", "-finished_at"], name="audit_verifyrun_status_fin")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} verification #{self.pk}: {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.PASSED, self.FAILED, self.ERROR)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def percent_done(self) -> int:
        if not self.records_total:
            return 100 if self.finished else 0
        return min(100, int(100 * self.records_done / self.records_total))
