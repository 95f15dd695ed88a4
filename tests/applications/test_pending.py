"""Model unavailable: the application is kept as PENDING, the officer is told,
and ``manage.py score_pending`` scores it once the model is back."""

from __future__ import annotations

import io

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from applications.models import LoanApplication
from applications.services import score_pending_application
from scoring.model_cache import forget_loaded_models
from scoring.services import score_application
from tests.support.factories import application_form_data, scoring_inputs, submit_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_down(settings, tmp_path):
    """Point the engine at an empty model store: every score raises ModelUnavailable."""
    original = django_settings.MODELS_STORE_DIR
    settings.MODELS_STORE_DIR = tmp_path / "empty_store"
    forget_loaded_models()

    def restore():
        settings.MODELS_STORE_DIR = original
        forget_loaded_models()

    yield restore
    restore()


def test_submission_is_kept_as_pending_with_the_reason(officer, model_down):
    application = submit_form(officer=officer, data=application_form_data(applicant_reference="P-1"))
    stored = LoanApplication.objects.get(pk=application.pk)
    assert stored.status == LoanApplication.Status.PENDING
    assert stored.probability_of_default is None
    assert stored.decision == "" and stored.final_decision == ""
    assert "No active model" in stored.scoring_error
    # Derived features are still computed for the officer.
    assert stored.loan_percent_income == 12000 / 52000
    assert stored.interest_burden == 12000 * (11.25 / 100) / 52000


def test_officer_sees_a_clear_pending_message(officer_client, model_down):
    response = officer_client.post("/applications/new/", application_form_data(), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][1] == 303
    assert "saved as PENDING" in html
    assert 'data-testid="decision">PENDING<' in html
    assert "Not scored yet." in html
    assert LoanApplication.objects.filter(status="PENDING").count() == 1


def test_score_pending_command_scores_once_the_model_is_back(officer, model_down):
    first = submit_form(officer=officer, data=application_form_data())
    second = submit_form(officer=officer, data=application_form_data(person_age="45", loan_grade="E"))
    model_down()  # the model is back

    out = io.StringIO()
    call_command("score_pending", stdout=out)
    assert "Scored 2 pending application(s)" in out.getvalue()
    for application, data in (
        (first, application_form_data()),
        (second, application_form_data(person_age="45", loan_grade="E")),
    ):
        stored = LoanApplication.objects.get(pk=application.pk)
        expected = score_application(scoring_inputs(data))
        assert stored.status == LoanApplication.Status.SCORED
        assert stored.probability_of_default == expected.probability_of_default
        assert stored.decision == stored.final_decision == expected.decision
        assert stored.scoring_error == ""
        assert stored.scored_at is not None


def test_score_pending_fails_loudly_while_the_model_is_still_down(officer, model_down):
    submit_form(officer=officer, data=application_form_data())
    with pytest.raises(CommandError, match="Model unavailable"):
        call_command("score_pending", stdout=io.StringIO())
    assert LoanApplication.objects.get().status == LoanApplication.Status.PENDING


def test_scoring_an_already_scored_application_changes_nothing(officer):
    application = submit_form(officer=officer, data=application_form_data())
    before = LoanApplication.objects.get(pk=application.pk)
    again = score_pending_application(application=application)
    assert again.scored_at == before.scored_at
    assert again.probability_of_default == before.probability_of_default


def test_score_pending_with_nothing_to_do(db):
    out = io.StringIO()
    call_command("score_pending", stdout=out)
    assert "Scored 0 pending application(s)" in out.getvalue()


def test_score_pending_limit(officer, model_down):
    for _ in range(3):
        submit_form(officer=officer, data=application_form_data())
    model_down()
    call_command("score_pending", "--limit", "2", stdout=io.StringIO())
    assert LoanApplication.objects.filter(status="SCORED").count() == 2
    assert LoanApplication.objects.filter(status="PENDING").count() == 1


def test_pending_scoring_writes_one_audit_record(officer, model_down):
    from audit.models import DecisionRecord

    application = submit_form(officer=officer, data=application_form_data())
    assert not DecisionRecord.objects.filter(application_id=application.pk).exists()
    model_down()
    call_command("score_pending", stdout=io.StringIO())
    call_command("score_pending", stdout=io.StringIO())
    record = DecisionRecord.objects.get(application_id=application.pk)
    assert record.probability_of_default == LoanApplication.objects.get(pk=application.pk).probability_of_default


def test_pending_notice_says_what_happens_next_without_operator_details(officer_client, model_down):
    """The officer is told what happens next; no command names or server paths (issue #13, point 14)."""
    response = officer_client.post("/applications/new/", application_form_data(), follow=True)
    html = response.content.decode()
    assert "You do not need to enter it again" in html
    assert "decision will appear on this page" in html
    # The stored reason names the model store's path; it is for IT support, not the officer.
    assert "manage.py" not in html
    assert "empty_store" not in html and "ACTIVE is missing" not in html
    assert "make model" not in html


def test_the_periodic_scorer_scores_pending_applications_once_the_model_is_back(officer, model_down):
    """The schedule (migration applications/0008) run by django-q2's scheduler; tasks run synchronously here."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection
    from django_q.brokers import get_broker
    from django_q.models import Schedule, Success
    from django_q.scheduler import scheduler

    migration = importlib.import_module("applications.migrations.0008_pending_scorer_schedule")
    migration.add_schedule(apps, SimpleNamespace(connection=connection))  # a transactional test may have flushed it
    schedule = Schedule.objects.get(name=migration.NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("applications.tasks.score_pending", "I", 1)

    pending = submit_form(officer=officer, data=application_form_data(applicant_reference="P-9"))
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now())
    scheduler(broker=get_broker())  # model still down: the pass scores nothing and does not fail
    assert LoanApplication.objects.get(pk=pending.pk).status == "PENDING"
    assert "model unavailable: No active model" in Success.objects.latest("stopped").result

    model_down()  # the model is back
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now())
    scheduler(broker=get_broker())
    stored = LoanApplication.objects.get(pk=pending.pk)
    assert stored.status == "SCORED"
    assert stored.probability_of_default == score_application(scoring_inputs()).probability_of_default
    assert stored.decision_records.count() == 1
