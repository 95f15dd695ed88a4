"""Aggregates the monitoring pages read, kept by ``monitoring.services.refresh_aggregates``.

The pages never scan the application or record tables (a million rows take
seconds): they read these small tables, which a periodic task brings up to
date from the append-only chains. Each chain is read from the sequence the
last refresh stopped at (``RefreshState``), so a refresh costs what arrived
since; the figures are as fresh as the last refresh, whose time every page
shows. These rows are derived data, recomputable from the chains at any
time (``refresh_monitoring --rebuild``), so they are ordinary updatable
tables, not audit records.
"""

from __future__ import annotations

from django.db import models


class RefreshState(models.Model):
    """How far each chain has been aggregated, and when (one row)."""

    name = models.CharField(primary_key=True, max_length=32)
    decision_sequence = models.BigIntegerField(default=0)
    override_sequence = models.BigIntegerField(default=0)
    case_sequence = models.BigIntegerField(default=0)
    outcome_sequence = models.BigIntegerField(default=0)
    # The last governance.ChallengerScore id counted in ChallengerTally.
    challenger_score_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("view_monitoring", "Can open the monitoring pages")]

    def __str__(self) -> str:
        return f"{self.name}: decisions to #{self.decision_sequence}, overrides to #{self.override_sequence}"


class DailyDecisions(models.Model):
    """Per day (the application's, in the bank's time zone) and model version: decisions and their mix.

    ``overridden`` counts the day's applications whose decision in force
    differs from the model's now (an override back to the model's decision
    takes it out again); ``outside_experience`` the day's decision records
    marked outside the model's experience (``DecisionRecord.outside_experience``).
    """

    day = models.DateField()
    model_version = models.CharField(max_length=64)
    decisions = models.BigIntegerField(default=0)
    approve = models.BigIntegerField(default=0)
    review = models.BigIntegerField(default=0)
    decline = models.BigIntegerField(default=0)
    overridden = models.BigIntegerField(default=0)
    # Decisions sent to REVIEW because an input was outside the model's training ranges (scoring.experience).
    outside_experience = models.BigIntegerField(default=0)
    probability_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "model_version"], name="monitoring_daily_one")]

    def __str__(self) -> str:
        return f"{self.day} {self.model_version}: {self.decisions} decisions"


class MonthlyBinCount(models.Model):
    """How many of a month's decisions fell in each training bin of one feature (``scoring.drift``).

    ``feature`` is an input, ``probability_of_default`` (the training
    deciles) or ``probability_histogram`` (the chart's fixed 5-point bins).
    """

    month = models.DateField()
    model_version = models.CharField(max_length=64)
    feature = models.CharField(max_length=40)
    bin = models.SmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "model_version", "feature", "bin"], name="monitoring_bin_one")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.model_version} {self.feature} bin {self.bin}: {self.count}"


class MonthlyGroupStats(models.Model):
    """Per month, model version and group of applicants (age band, home ownership): approvals and risk."""

    month = models.DateField()
    model_version = models.CharField(max_length=64)
    attribute = models.CharField(max_length=40)
    group = models.CharField(max_length=20)
    decisions = models.BigIntegerField(default=0)
    # The model's decision was APPROVE / the decision in force (after overrides) is APPROVE.
    approved = models.BigIntegerField(default=0)
    approved_final = models.BigIntegerField(default=0)
    probability_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "model_version", "attribute", "group"], name="monitoring_group_one"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.model_version} {self.attribute}={self.group}: {self.decisions} decisions"


class OutcomeSnapshot(models.Model):
    """Back-test and realised default rates, recomputed from every outcome at each refresh (one row)."""

    name = models.CharField(primary_key=True, max_length=32)
    computed_at = models.DateTimeField()
    outcomes = models.BigIntegerField(default=0)
    document = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.name}: {self.outcomes} outcomes at {self.computed_at}"


class ChallengerTally(models.Model):
    """Per challenger version, champion version, status and pair of decisions: shadow scores and probability sums.

    Counted by the periodic refresh from ``governance.ChallengerScore``
    (watermark ``RefreshState.challenger_score_id``), so the comparison page
    reads a dozen rows instead of every shadow score. Shadow scores are
    inserted while their decision record's chain head is locked
    (``applications.services``), so their ids are handed out in commit
    order and "every id above the watermark" never skips one that commits late.
    """

    model_version = models.CharField(max_length=64)
    champion_version = models.CharField(max_length=64)
    status = models.CharField(max_length=6)
    champion_decision = models.CharField(max_length=8)
    decision = models.CharField(max_length=8, blank=True)
    scores = models.BigIntegerField(default=0)
    champion_probability_sum = models.FloatField(default=0.0)
    challenger_probability_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("model_version", "champion_version", "status", "champion_decision", "decision"),
                name="challenger_tally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} {self.champion_decision}->{self.decision or self.status}: {self.scores}"
