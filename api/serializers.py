"""What the API reads and writes. Input is validated by the form's own fields (``applications.forms``):
the serializers' fields only describe it for the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from applications.forms import clean_application_data
from applications.models import LoanApplication
from batches.models import BatchJob
from scoring import schema


def _schema_field(field: schema.NumericField | schema.CategoricalField) -> serializers.Field:
    if isinstance(field, schema.CategoricalField):
        return serializers.ChoiceField(choices=list(field.choices), help_text=field.help_text)
    if field.integer:
        return serializers.IntegerField(
            min_value=int(field.min_value), max_value=int(field.max_value), help_text=field.help_text
        )
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=field.decimal_places,
        min_value=None,
        max_value=field.max_value,
        help_text=f"{field.help_text} ({'above' if field.min_exclusive else 'at least'} {field.min_value:g})",
        coerce_to_string=False,
    )


class _ApplicationInput(serializers.Serializer):
    """The ten inputs under the dataset's names and the optional reference (``LoanApplicationForm``'s rules)."""

    applicant_reference = serializers.CharField(required=False, allow_blank=True, max_length=64)
    confirmed_duplicate_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="After a 409 naming a possible duplicate: that earlier application's id, to store this one anyway.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object of the application's fields."]})
        unknown = sorted(set(data) - {*schema.INPUT_NAMES, "applicant_reference", "confirmed_duplicate_of"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        data = dict(data)
        confirmed = data.pop("confirmed_duplicate_of", None)
        if confirmed is not None and (isinstance(confirmed, bool) or not isinstance(confirmed, int) or confirmed < 1):
            raise serializers.ValidationError({"confirmed_duplicate_of": ["Give the earlier application's id."]})
        texts = {
            name: value if value is None or isinstance(value, str) else _as_text(value) for name, value in data.items()
        }
        cleaned, errors = clean_application_data(texts)
        if errors:
            raise serializers.ValidationError(errors)
        return {**cleaned, "confirmed_duplicate_of": confirmed}


def _as_text(value: Any) -> Any:
    """A JSON number as the form receives it typed; anything else (a list, a boolean) left for the form to refuse."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [value] if not isinstance(value, list) else value
    return repr(value) if isinstance(value, float) else str(value)


# The inputs' fields, one per schema input, declared by building the class (DRF collects declared fields
# from the class body); they describe the schema, the form's fields validate.
ApplicationInputSerializer = type(
    "ApplicationInputSerializer",
    (_ApplicationInput,),
    {
        "__doc__": _ApplicationInput.__doc__,
        "__module__": __name__,
        **{field.name: _schema_field(field) for field in schema.INPUT_FIELDS},
    },
)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(required=False)
    statement = serializers.CharField(required=False)
    feature = serializers.CharField()
    text = serializers.CharField()
    value_text = serializers.CharField(required=False)
    contribution = serializers.FloatField()


class ApplicationSerializer(serializers.ModelSerializer):
    officer = serializers.CharField(source="officer.get_username", read_only=True)
    reasons = ReasonSerializer(many=True, read_only=True)
    decision_record_id = serializers.SerializerMethodField()

    class Meta:
        model = LoanApplication
        fields = (
            "id",
            "applicant_reference",
            *schema.INPUT_NAMES,
            "status",
            "probability_of_default",
            "decision",
            "final_decision",
            "risk_label",
            "reasons",
            "model_version",
            "model_sha256",
            "decision_record_id",
            "loan_percent_income",
            "interest_burden",
            "officer",
            "created_at",
            "scored_at",
        )
        read_only_fields = fields

    def get_decision_record_id(self, application: LoanApplication) -> int | None:
        return self.context.get("decision_record_ids", {}).get(application.pk)


class DecisionRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    decision = serializers.CharField()
    probability_of_default = serializers.FloatField()
    model_version = serializers.CharField()
    record_hash = serializers.CharField()


class OverrideRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reviewer = serializers.CharField(source="reviewer.get_username")
    from_decision = serializers.CharField()
    to_decision = serializers.CharField()
    reason = serializers.CharField()


class CaseRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.get_username")
    action = serializers.CharField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()


class ApplicationDetailSerializer(ApplicationSerializer):
    decision_records = DecisionRecordSerializer(many=True, read_only=True, source="api_decision_records")
    overrides = OverrideRecordSerializer(many=True, read_only=True, source="api_overrides")
    case_records = CaseRecordSerializer(many=True, read_only=True, source="api_case_records")

    class Meta(ApplicationSerializer.Meta):
        fields = (
            *ApplicationSerializer.Meta.fields,
            "case_state",
            "case_version",
            "decision_records",
            "overrides",
            "case_records",
        )
        read_only_fields = fields


class CaseVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The case_version the action was decided on (409 if it changed).")


class CaseDecisionSerializer(CaseVersionSerializer):
    decision = serializers.ChoiceField(choices=["APPROVE", "DECLINE", "REFER"])
    reason_code = serializers.CharField(help_text="A reason code for this decision (the review page lists them).")
    explanation = serializers.CharField(help_text="Why; kept forever in the audit trail.")


class SecondApprovalSerializer(CaseVersionSerializer):
    confirm = serializers.BooleanField()
    reason_code = serializers.CharField()
    explanation = serializers.CharField()


# The input of each review action (``api.views.CaseAction``); the rules are ``reviews.services``'s.
CASE_ACTION_INPUTS = {
    "claim": CaseVersionSerializer,
    "release": CaseVersionSerializer,
    "decide": CaseDecisionSerializer,
    "second_approval": SecondApprovalSerializer,
}


class BatchUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="UTF-8 CSV in the dataset's schema (see the README).")


class BatchJobSerializer(serializers.ModelSerializer):
    officer = serializers.CharField(source="officer.get_username", read_only=True)
    progress = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = (
            "id",
            "file_name",
            "file_sha256",
            "status",
            "refusal",
            "officer",
            "created_at",
            "started_at",
            "finished_at",
            "progress",
            "links",
        )
        read_only_fields = fields

    def get_progress(self, job: BatchJob) -> dict[str, Any]:
        from batches.selectors import job_progress

        return job_progress(job=job)

    def get_links(self, job: BatchJob) -> dict[str, str]:
        from django.urls import reverse

        return {
            "self": reverse("api:batch-detail", args=[job.pk]),
            "results": reverse("api:batch-results", args=[job.pk]),
            "cancel": reverse("api:batch-cancel", args=[job.pk]),
            "page": reverse("batches:detail", args=[job.pk]),
        }
