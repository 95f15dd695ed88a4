"""Admin for LoanApplication: adding goes through the service and is scored;
scored applications are read-only and cannot be deleted."""

from __future__ import annotations

import pytest

from accounts import roles
from applications.models import LoanApplication
from scoring.services import score_application
from tests.support.factories import UserFactory, application_form_data, scoring_inputs, submit_form

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/applications/loanapplication/"


@pytest.fixture
def admin_client_(client_for):
    return client_for(roles.ADMIN)


@pytest.fixture
def scored(db):
    return submit_form(
        officer=UserFactory(role=roles.OFFICER, username="olivia"),
        data=application_form_data(applicant_reference="ADM-1"),
    )


def test_changelist_has_filters_search_and_a_date_filter(admin_client_, scored):
    response = admin_client_.get(CHANGELIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert "ADM-1" in html and "olivia" in html
    assert 'id="changelist-search"' in html
    assert "By final decision" in html and "By model version" in html
    # The date filter, not the date hierarchy (which lists the years with a DISTINCT over every row).
    assert "created_at__gte=" in html and "created_at__year=" not in html
    assert "Reference starting with what you type" in html
    assert _refs(admin_client_.get(CHANGELIST, {"q": "adm"})) == ["ADM-1"]  # a prefix, either case
    assert _refs(admin_client_.get(CHANGELIST, {"q": "DM-1"})) == []  # not a substring
    assert _refs(admin_client_.get(CHANGELIST, {"q": str(scored.pk)})) == ["ADM-1"]  # an application number


def _refs(response):
    return [obj.applicant_reference for obj in response.context["cl"].result_list]


def test_add_through_admin_is_scored_by_the_service(admin_client_):
    data = application_form_data(applicant_reference="VIA-ADMIN")
    response = admin_client_.post(CHANGELIST + "add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    application = LoanApplication.objects.get()
    expected = score_application(scoring_inputs(data))
    assert application.status == LoanApplication.Status.SCORED
    assert application.probability_of_default == expected.probability_of_default
    assert application.officer == admin_client_.user
    assert application.applicant_reference == "VIA-ADMIN"


def test_add_through_admin_refuses_bad_input_with_the_same_messages(admin_client_):
    response = admin_client_.post(CHANGELIST + "add/", application_form_data(person_income="0", loan_grade="Z"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["person_income"] == ["Must be above 0."]
    assert errors["loan_grade"] == ["Select a valid choice. Z is not one of the available choices."]
    assert LoanApplication.objects.count() == 0


def test_scored_application_is_read_only(admin_client_, scored):
    url = f"{CHANGELIST}{scored.pk}/change/"
    page = admin_client_.get(url)
    assert page.status_code == 200
    assert 'name="person_age"' not in page.content.decode()
    response = admin_client_.post(url, {**application_form_data(person_age="99", loan_grade="G")})
    assert response.status_code in (200, 302)
    stored = LoanApplication.objects.get(pk=scored.pk)
    assert stored.person_age == 31 and stored.loan_grade == "B"
    assert stored.probability_of_default == scored.probability_of_default


def test_scored_application_cannot_be_deleted(admin_client_, scored):
    url = f"{CHANGELIST}{scored.pk}/delete/"
    assert admin_client_.get(url).status_code == 403
    assert admin_client_.post(url, {"post": "yes"}).status_code == 403
    assert LoanApplication.objects.filter(pk=scored.pk).exists()


def test_no_bulk_delete_action(admin_client_, scored):
    html = admin_client_.get(CHANGELIST).content.decode()
    assert "delete_selected" not in html
    response = admin_client_.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [scored.pk]})
    assert LoanApplication.objects.filter(pk=scored.pk).exists()
    assert response.status_code in (200, 302)


def test_staff_officer_sees_only_their_own_in_admin(client, scored):
    from django.contrib.auth.models import Permission

    staff_officer = UserFactory(role=roles.OFFICER, is_staff=True)
    submit_form(officer=staff_officer, data=application_form_data(applicant_reference="MINE-ADM"))
    client.force_login(staff_officer)
    assert staff_officer.has_perm("applications.view_loanapplication")
    assert Permission.objects.filter(codename="view_loanapplication").exists()
    assert _refs(client.get(CHANGELIST)) == ["MINE-ADM"]
    assert client.get(f"{CHANGELIST}{scored.pk}/change/").status_code == 302  # "does not exist" redirect


@pytest.fixture
def pending(db, settings, tmp_path):
    """A PENDING application (stored while the model store was empty)."""
    from scoring.model_cache import forget_loaded_models

    original = settings.MODELS_STORE_DIR
    settings.MODELS_STORE_DIR = tmp_path / "empty_store"
    forget_loaded_models()
    try:
        application = submit_form(
            officer=UserFactory(role=roles.OFFICER), data=application_form_data(applicant_reference="PEND-1")
        )
    finally:
        settings.MODELS_STORE_DIR = original
        forget_loaded_models()
    assert application.status == LoanApplication.Status.PENDING
    return application


def test_a_pending_application_cannot_be_deleted_in_the_admin_either(admin_client_, pending):
    url = f"{CHANGELIST}{pending.pk}/delete/"
    assert admin_client_.get(url).status_code == 403
    assert admin_client_.post(url, {"post": "yes"}).status_code == 403
    assert LoanApplication.objects.filter(pk=pending.pk).exists()
    assert f"{pending.pk}/delete/" not in admin_client_.get(f"{CHANGELIST}{pending.pk}/change/").content.decode()


def test_the_database_refuses_to_delete_any_application(pending):
    from django.db import DatabaseError, connection, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM applications_loanapplication WHERE id = %s", [pending.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        LoanApplication.objects.filter(pk=pending.pk).delete()
    assert LoanApplication.objects.filter(pk=pending.pk).exists()
