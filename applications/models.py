"""A loan application as an officer entered it, and what the model said.

The ten inputs keep the dataset's column names and take their types, choices
and ranges from ``scoring.schema``; the same ranges are also database
CHECK constraints, so no way of writing a row (ORM, admin, raw SQL through
Django's connection) can store a value the model was never meant to see.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from applications.validators import SchemaRangeValidator
from audit import lifecycle
from infrastructure.prefix_search import SearchKey
from scoring import results, schema


class CaseState(models.TextChoices):
    """Where an application stands (``audit.lifecycle`` defines the states and the moves between them)."""

    PENDING = lifecycle.PENDING, lifecycle.STATE_LABELS[lifecycle.PENDING]
    MODEL_FINAL = lifecycle.MODEL_FINAL, lifecycle.STATE_LABELS[lifecycle.MODEL_FINAL]
    IN_QUEUE = lifecycle.IN_QUEUE, lifecycle.STATE_LABELS[lifecycle.IN_QUEUE]
    CLAIMED = lifecycle.CLAIMED, lifecycle.STATE_LABELS[lifecycle.CLAIMED]
    AWAITING_SECOND = lifecycle.AWAITING_SECOND, lifecycle.STATE_LABELS[lifecycle.AWAITING_SECOND]
    DECIDED = lifecycle.DECIDED, lifecycle.STATE_LABELS[lifecycle.DECIDED]


# Open cases (IN_QUEUE, CLAIMED, AWAITING_2ND): exactly those with a ``queued_at``. The queue
# filters on this rather than on the states because SQLite uses a partial index only when the
# query's condition has no bound parameters, and ``IS NOT NULL`` has none (``IN (%s, ...)`` does).
OPEN_CASE = Q(queued_at__isnull=False)


def _whole_digits(field: schema.NumericField) -> int:
    return len(str(int(field.max_value)))


def _input_field(name: str) -> models.Field:
    """The model field for one schema input (never a hand-typed range)."""
    field = schema.FIELDS_BY_NAME[name]
    if isinstance(field, schema.CategoricalField):
        return models.CharField(
            field.label,
            max_length=max(len(value) for value in field.values),
            choices=field.choices,
            help_text=field.help_text,
        )
    common = {"help_text": field.help_text, "validators": [SchemaRangeValidator(name)]}
    if field.integer:
        return models.SmallIntegerField(field.label, **common)
    return models.DecimalField(
        field.label,
        max_digits=_whole_digits(field) + field.decimal_places,
        decimal_places=field.decimal_places,
        **common,
    )


def _range_constraints() -> list[models.CheckConstraint]:
    checks = []
    for field in schema.INPUT_FIELDS:
        if isinstance(field, schema.CategoricalField):
            condition = Q(**{f"{field.name}__in": field.values})
        else:
            low = "gt" if field.min_exclusive else "gte"
            condition = Q(**{f"{field.name}__{low}": field.min_value}) & Q(**{f"{field.name}__lte": field.max_value})
        checks.append(models.CheckConstraint(condition=condition, name=f"loanapp_{field.name}_range"))
    return checks


class LoanApplication(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending (not scored yet)"
        SCORED = "SCORED", "Scored"

    class Decision(models.TextChoices):
        APPROVE = results.APPROVE, "Approve"
        REVIEW = results.REVIEW, "Review"
        DECLINE = results.DECLINE, "Decline"

    class RiskLabel(models.TextChoices):
        SAFE = results.SAFE, "Safe"
        RISKY = results.RISKY, "Risky"

    # The case lifecycle (``applications.cases``): one current state per application.
    CaseState = CaseState

    # --- The ten inputs, under the dataset's column names ---------------------
    person_age = _input_field("person_age")
    person_income = _input_field("person_income")
    person_home_ownership = _input_field("person_home_ownership")
    person_emp_length = _input_field("person_emp_length")
    loan_intent = _input_field("loan_intent")
    loan_grade = _input_field("loan_grade")
    loan_amnt = _input_field("loan_amnt")
    loan_int_rate = _input_field("loan_int_rate")
    cb_person_default_on_file = _input_field("cb_person_default_on_file")
    cb_person_cred_hist_length = _input_field("cb_person_cred_hist_length")

    applicant_reference = models.CharField(
        "Applicant reference",
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The bank's own application number (optional), for finding it again.",
    )
    # No index of its own: ("officer", "-created_at") below serves every
    # lookup by officer, and one index less is one page less per commit.
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="loan_applications",
        db_index=False,
    )
    # A per-form token: a double click or a retried POST of the same form
    # stores one application, not two.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # The earlier application this one looked like a second entry of, which the
    # officer confirmed was a different application (services.submit_application).
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        db_index=False,
    )
    scored_at = models.DateTimeField(null=True, blank=True, editable=False)

    # --- A counter-offer (services.offer_counter_offer) ---------------------------
    # The amount the applicant asked for, when a reviewer offered a smaller one:
    # loan_amnt then holds the offered amount, scored as a new decision record.
    requested_loan_amnt = models.DecimalField(
        "Amount requested (before the counter-offer)",
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        editable=False,
    )
    counter_offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    counter_offered_at = models.DateTimeField(null=True, blank=True, editable=False)

    # --- Derived features, computed by scoring.features (full precision) -------
    loan_percent_income = models.FloatField(editable=False)
    interest_burden = models.FloatField(editable=False)

    # --- Outcome ------------------------------------------------------------------
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, editable=False)
    probability_of_default = models.FloatField(null=True, blank=True, editable=False)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True, editable=False)
    # The decision in force: the model's, until a reviewer overrides it (audit app).
    final_decision = models.CharField(max_length=8, choices=Decision.choices, blank=True, editable=False)
    risk_label = models.CharField(max_length=8, choices=RiskLabel.choices, blank=True, editable=False)
    reasons = models.JSONField(default=list, blank=True, editable=False)
    # Indexed with created_at (``loanapp_version_created``): the history filtered by version, newest first.
    model_version = models.CharField(max_length=64, blank=True, editable=False)
    model_sha256 = models.CharField("Model SHA-256", max_length=64, blank=True, editable=False)
    scoring_error = models.TextField(blank=True, editable=False)

    # --- Case lifecycle (applications.cases writes these; audit.CaseRecord chains each change) ---
    case_state = models.CharField(
        "Case state", max_length=12, choices=CaseState.choices, default=CaseState.PENDING, editable=False
    )
    # Bumped by every transition: a form carries the version it was rendered
    # for, so a stale form (the case moved on meanwhile) changes nothing.
    case_version = models.PositiveIntegerField(default=0, editable=False)
    # The reviewer holding the case and until when (CLAIMED only); an expired
    # claim may be taken over by anyone allowed to decide.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        editable=False,
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the case last entered the review queue (scored REVIEW, referred, or an approval
    # rejected), kept while it is open (claimed, awaiting a second approval); NULL once final.
    # The queue is ordered by it (longest waiting first) through its partial index.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The first reviewer's approval awaiting a second reviewer (AWAITING_SECOND only).
    proposed_decision = models.CharField(max_length=8, choices=Decision.choices, blank=True, editable=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        editable=False,
    )

    class Meta:
        ordering = ("-created_at", "-id")
        permissions = [
            ("view_all_loanapplications", "Can see every officer's applications"),
            ("override_decision", "Can decide review cases and override model decisions (never on own applications)"),
        ]
        indexes = [
            models.Index(fields=["officer", "-created_at"], name="loanapp_officer_created"),
            models.Index(fields=["status"], name="loanapp_status", condition=Q(status="PENDING")),
            # The review queue (reviews.selectors): open cases only, longest waiting
            # first. Partial, so it stays as small as the queue however many
            # applications are final, and costs nothing on the submit path of
            # APPROVE/DECLINE applications. officer_id too: the queue leaves out
            # each reviewer's own applications, and the navigation's count then
            # reads the index alone.
            models.Index(fields=["queued_at", "id", "officer"], name="loanapp_queue", condition=OPEN_CASE),
            # The history and the admin at a million applications (issue 16): each sort and the
            # model-version filter read their first and last page straight from an index, and the
            # reference search is a range on the upper-cased reference (infrastructure.prefix_search).
            models.Index(fields=["probability_of_default", "id"], name="loanapp_pd"),
            models.Index(fields=["loan_amnt", "id"], name="loanapp_amount"),
            models.Index(fields=["model_version", "created_at", "id"], name="loanapp_version_created"),
            models.Index(SearchKey("applicant_reference"), name="loanapp_reference_key"),
        ]
        constraints = [
            *_range_constraints(),
            models.CheckConstraint(condition=Q(status__in=["PENDING", "SCORED"]), name="loanapp_status_valid"),
            # A scored row always carries its whole outcome; a pending one none of it.
            models.CheckConstraint(
                condition=(
                    Q(
                        status="SCORED",
                        probability_of_default__gte=0,
                        probability_of_default__lte=1,
                        decision__in=results.DECISIONS,
                        final_decision__in=results.DECISIONS,
                        risk_label__in=results.RISK_LABELS,
                        scored_at__isnull=False,
                    )
                    & ~Q(model_version="")
                    & ~Q(model_sha256="")
                )
                | Q(status="PENDING", probability_of_default__isnull=True, decision="", final_decision=""),
                name="loanapp_outcome_complete",
            ),
        ]

    def __str__(self) -> str:
        label = self.applicant_reference or f"#{self.pk}"
        return f"Application {label}"

    # What scoring writes (services.submit_application / score_pending_application),
    # in the order the admin shows it.
    SCORE_FIELDS = (
        "status",
        "probability_of_default",
        "decision",
        "final_decision",
        "risk_label",
        "reasons",
        "model_version",
        "model_sha256",
        "scoring_error",
        "case_state",
        "queued_at",
        "loan_percent_income",
        "interest_burden",
        "scored_at",
    )

    # --- Validation -------------------------------------------------------------------
    def clean(self) -> None:
        """Rules that span several inputs, straight from ``scoring.schema``."""
        values = {
            "person_age": self.person_age,
            "person_emp_length": None if self.person_emp_length is None else float(self.person_emp_length),
            "cb_person_cred_hist_length": self.cb_person_cred_hist_length,
        }
        errors = schema.cross_field_errors(values)
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude=None) -> None:
        """Skip Django's Python-side re-check of the CHECK constraints.

        Each constraint is built from the same schema bounds the field
        validators apply, so the re-check could only agree; Django would run
        one SQL query per constraint to do it, on every submission. The
        database still enforces them on write.
        """

    # --- Convenience --------------------------------------------------------------
    @property
    def is_scored(self) -> bool:
        return self.status == self.Status.SCORED

    @property
    def is_counter_offer(self) -> bool:
        return self.requested_loan_amnt is not None

    @property
    def is_overridden(self) -> bool:
        return bool(self.final_decision) and self.final_decision != self.decision

    @property
    def probability_percent(self) -> float | None:
        if self.probability_of_default is None:
            return None
        return self.probability_of_default * 100

    def model_inputs(self) -> dict[str, int | float | str]:
        """The ten inputs as the scoring engine takes them."""
        inputs: dict[str, int | float | str] = {}
        for name in schema.INPUT_NAMES:
            value = getattr(self, name)
            inputs[name] = value if isinstance(value, str) else float(value)
        return inputs


OVERRIDDEN = ~Q(final_decision=F("decision")) & Q(status=LoanApplication.Status.SCORED)
