"""Issue 15.5: duplicates are caught before they are stored; a confirmation is recorded."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from accounts import roles
from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from applications.services import DUPLICATE_WINDOW, PossibleDuplicate, submit_application
from audit.models import DecisionRecord
from tests.support.factories import UserFactory, application_form_data

pytestmark = pytest.mark.django_db


def _cleaned(**overrides):
    form = LoanApplicationForm(data=application_form_data(**overrides))
    assert form.is_valid(), form.errors
    return form.cleaned_data


def _submit(officer, confirmed=None, key=None, **overrides):
    return submit_application(
        officer=officer, cleaned_data=_cleaned(**overrides), idempotency_key=key, confirmed_duplicate_of=confirmed
    )


def test_a_reference_in_use_is_a_warning_and_nothing_is_stored():
    first = _submit(UserFactory(role=roles.OFFICER), applicant_reference="APP-1001")
    other_officer = UserFactory(role=roles.OFFICER)
    with pytest.raises(PossibleDuplicate) as caught:
        _submit(other_officer, applicant_reference="APP-1001", loan_amnt="5000")
    assert caught.value.earlier == first
    assert caught.value.why == f"The reference APP-1001 is already used by application #{first.pk}."
    assert LoanApplication.objects.count() == 1 and DecisionRecord.objects.count() == 1


def test_confirmed_duplicate_is_stored_with_the_confirmation_recorded():
    officer = UserFactory(role=roles.OFFICER)
    first = _submit(officer, applicant_reference="APP-1001")
    second = _submit(officer, confirmed=first.pk, applicant_reference="APP-1001")
    assert second.pk != first.pk and second.duplicate_of == first
    record = DecisionRecord.objects.get(application=second)
    assert record.document["duplicate_confirmed_of"] == first.pk
    assert DecisionRecord.objects.get(application=first).document["duplicate_confirmed_of"] is None


def test_confirming_another_application_does_not_count():
    officer = UserFactory(role=roles.OFFICER)
    first = _submit(officer, applicant_reference="APP-1")
    unrelated = _submit(officer, applicant_reference="APP-2", loan_amnt="3000")
    with pytest.raises(PossibleDuplicate):
        _submit(officer, confirmed=unrelated.pk, applicant_reference="APP-1")
    assert LoanApplication.objects.filter(applicant_reference="APP-1").get() == first


def test_same_inputs_same_officer_within_ten_minutes():
    officer = UserFactory(role=roles.OFFICER)
    first = _submit(officer)
    with pytest.raises(PossibleDuplicate) as caught:
        _submit(officer)
    assert caught.value.earlier == first
    assert "exactly the same details less than a minute ago" in caught.value.why
    # Another officer entering the same details is not a duplicate of this one's.
    assert _submit(UserFactory(role=roles.OFFICER)).duplicate_of is None
    # Any input different: not a duplicate.
    assert _submit(officer, loan_int_rate="11.26").duplicate_of is None


def test_same_inputs_after_the_window_are_not_a_duplicate():
    officer = UserFactory(role=roles.OFFICER)
    first = _submit(officer)
    LoanApplication.objects.filter(pk=first.pk).update(
        created_at=first.created_at - DUPLICATE_WINDOW - dt.timedelta(seconds=1)
    )
    second = _submit(officer)
    assert second.duplicate_of is None
    # Just inside the window, the latest alike application is named.
    LoanApplication.objects.filter(pk=second.pk).update(
        created_at=second.created_at - DUPLICATE_WINDOW + dt.timedelta(seconds=30)
    )
    with pytest.raises(PossibleDuplicate) as caught:
        _submit(officer)
    assert caught.value.earlier == second and "9 minutes ago" in caught.value.why


def test_a_retried_form_returns_the_first_application_not_a_warning():
    officer = UserFactory(role=roles.OFFICER)
    first = _submit(officer, key="retry-token-0001", applicant_reference="APP-9")
    assert _submit(officer, key="retry-token-0001", applicant_reference="APP-9") == first
    assert LoanApplication.objects.count() == 1


def test_the_page_warns_with_a_link_and_stores_on_confirmation():
    officer = UserFactory(role=roles.OFFICER)
    client = Client()
    client.force_login(officer)
    data = application_form_data(applicant_reference="APP-1001")
    first = client.post("/applications/new/", {**data, "idempotency_key": "page-token-0001"})
    assert first.status_code == 303
    earlier = LoanApplication.objects.get()
    again = client.post("/applications/new/", {**data, "idempotency_key": "page-token-0002"})
    assert again.status_code == 409
    html = again.content.decode()
    assert 'data-testid="duplicate-warning"' in html
    assert f'href="/applications/{earlier.pk}/"' in html
    assert f'name="confirm_duplicate_of" value="{earlier.pk}"' in html
    assert LoanApplication.objects.count() == 1
    token = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    confirmed = client.post(
        "/applications/new/", {**data, "idempotency_key": token, "confirm_duplicate_of": str(earlier.pk)}
    )
    assert confirmed.status_code == 303
    second = LoanApplication.objects.exclude(pk=earlier.pk).get()
    assert second.duplicate_of == earlier


def test_the_admin_add_form_warns_and_stores_when_ticked():
    admin_user = UserFactory(role=roles.ADMIN, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    data = application_form_data(applicant_reference="ADM-1")
    assert client.post("/admin/applications/loanapplication/add/", data).status_code == 302
    earlier = LoanApplication.objects.get()
    page = client.post("/admin/applications/loanapplication/add/", data)
    assert page.status_code == 200
    assert f"already used by application #{earlier.pk}" in page.content.decode()
    assert LoanApplication.objects.count() == 1
    assert client.post("/admin/applications/loanapplication/add/", {**data, "store_anyway": "on"}).status_code == 302
    assert LoanApplication.objects.exclude(pk=earlier.pk).get().duplicate_of == earlier
