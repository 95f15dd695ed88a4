"""submit_application: validated, scored by the real engine, stored once with its audit record."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from applications.models import LoanApplication
from scoring.services import score_application
from tests.support.factories import application_form_data, scoring_inputs, submit_form

pytestmark = pytest.mark.django_db


def test_stores_application_with_exact_engine_outcome(officer):
    data = application_form_data(applicant_reference="REF-001")
    application = submit_form(officer=officer, data=data)

    expected = score_application(scoring_inputs(data))
    stored = LoanApplication.objects.get(pk=application.pk)
    assert stored.status == LoanApplication.Status.SCORED
    # Full float64 precision, bit for bit.
    assert stored.probability_of_default == expected.probability_of_default
    assert stored.decision == expected.decision
    assert stored.final_decision == expected.decision
    assert stored.risk_label == expected.risk_label
    assert stored.loan_percent_income == expected.loan_percent_income
    assert stored.interest_burden == expected.interest_burden
    assert stored.model_version == expected.model_version
    assert stored.model_sha256 == expected.model_sha256
    assert stored.reasons == [r.as_dict() for r in expected.reasons]
    assert stored.officer == officer
    assert stored.applicant_reference == "REF-001"
    assert stored.scored_at is not None and stored.scored_at.utcoffset().total_seconds() == 0
    assert stored.scoring_error == ""


def test_decimal_inputs_are_stored_as_entered(officer):
    application = submit_form(
        officer=officer, data=application_form_data(person_income="52000.55", loan_int_rate="7.9")
    )
    stored = LoanApplication.objects.get(pk=application.pk)
    assert str(stored.person_income) == "52000.55"
    assert str(stored.loan_int_rate) == "7.90"
    assert (
        stored.probability_of_default
        == score_application(
            scoring_inputs(application_form_data(person_income="52000.55", loan_int_rate="7.9"))
        ).probability_of_default
    )


def test_invalid_input_raises_validation_error_and_stores_nothing(officer):
    with pytest.raises(ValidationError) as caught:
        submit_form(officer=officer, data=application_form_data(person_age="12"))
    assert "person_age" in caught.value.message_dict
    assert LoanApplication.objects.count() == 0


def test_same_idempotency_key_stores_one_application(officer):
    key = "form-token-0123456789"
    first = submit_form(officer=officer, data=application_form_data(), idempotency_key=key)
    second = submit_form(officer=officer, data=application_form_data(), idempotency_key=key)
    assert first.pk == second.pk
    assert LoanApplication.objects.count() == 1


def test_without_idempotency_key_each_submission_is_stored(officer):
    submit_form(officer=officer, data=application_form_data())
    submit_form(officer=officer, data=application_form_data())
    assert LoanApplication.objects.count() == 2


def test_malformed_idempotency_key_is_refused(officer):
    with pytest.raises(ValidationError):
        submit_form(officer=officer, data=application_form_data(), idempotency_key="bad key with spaces")
    assert LoanApplication.objects.count() == 0


def test_another_users_token_is_refused(officer, client_for):
    from django.core.exceptions import PermissionDenied

    key = "form-token-abcdefghij"
    submit_form(officer=officer, data=application_form_data(), idempotency_key=key)
    other = client_for("officer").user
    with pytest.raises(PermissionDenied):
        submit_form(officer=other, data=application_form_data(), idempotency_key=key)
    assert LoanApplication.objects.count() == 1


def test_database_refuses_out_of_range_values_written_around_the_form(officer):
    """The CHECK constraints hold even for code that skips validation."""
    from django.db import IntegrityError, transaction

    application = submit_form(officer=officer, data=application_form_data())
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(person_age=12)
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(loan_grade="Z")


def test_each_scored_submission_writes_exactly_one_audit_record(officer):
    from audit.models import DecisionRecord

    key = "form-token-audit-0001"
    application = submit_form(officer=officer, data=application_form_data(), idempotency_key=key)
    submit_form(officer=officer, data=application_form_data(), idempotency_key=key)  # retried POST
    record = DecisionRecord.objects.get()
    assert record.application_id == application.pk
    assert record.probability_of_default == application.probability_of_default


def test_application_and_audit_record_commit_together(officer, monkeypatch):
    """If the audit write fails, the application is not stored either."""
    import applications.services as services

    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "append_decision_record", broken)
    with pytest.raises(RuntimeError):
        submit_form(officer=officer, data=application_form_data())
    assert LoanApplication.objects.count() == 0


def test_submit_path_query_budget(officer, django_assert_max_num_queries):
    """Lean: the duplicate checks (reference, same inputs), the serving state, the insert, the audit append and
    the application's latest-decision index (``audit.latest``).

    Nothing per field; the second application differs, so no duplicate warning is raised and confirmed.
    """
    submit_form(officer=officer, data=application_form_data())
    with django_assert_max_num_queries(10):
        submit_form(officer=officer, data=application_form_data(loan_amnt="9000", applicant_reference="BUDGET-2"))
