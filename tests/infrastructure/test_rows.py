"""infrastructure.rows: the precompiled statements store and read exactly what the ORM would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from accounts.backends import ProductionModelBackend
from accounts.sessions import SessionStore
from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from infrastructure.rows import RowLookup, insert_row, insert_rows, prepare_insert
from tests.support.factories import UserFactory, application_form_data

pytestmark = pytest.mark.django_db

COMPARED = [
    field.attname
    for field in LoanApplication._meta.concrete_fields
    if field.attname not in ("id", "applicant_reference", "idempotency_key")
]


def _scored_application(officer, reference: str, key: str) -> LoanApplication:
    form = LoanApplicationForm(data=application_form_data(applicant_reference=reference))
    assert form.is_valid(), form.errors
    application = LoanApplication(**{k: v for k, v in form.cleaned_data.items() if k != "confirm_duplicate_of"})
    application.officer = officer
    application.idempotency_key = key
    application.loan_percent_income = 0.23076923076923078
    application.interest_burden = 0.025961538461538463
    application.status = LoanApplication.Status.SCORED
    application.probability_of_default = 0.1234567890123456789
    application.decision = application.final_decision = "REVIEW"
    application.risk_label = "SAFE"
    application.reasons = [{"feature": "loan_grade", "text": "Loan grade B", "contribution": 0.5}]
    application.model_version = "test-model"
    application.model_sha256 = "ab" * 32
    application.scored_at = dt.datetime(2026, 11, 27, 3, 4, 5, 678901, tzinfo=dt.UTC)
    application.created_at = dt.datetime(2026, 11, 27, 3, 4, 5, 123456, tzinfo=dt.UTC)
    return application


def test_insert_row_stores_the_same_row_as_model_save():
    officer = UserFactory()
    through_orm = _scored_application(officer, "orm", "orm-key-0001")
    through_orm.save(force_insert=True)
    through_rows = _scored_application(officer, "rows", "rows-key-0001")
    insert_row(through_rows)

    assert through_rows.pk is not None and through_rows.pk != through_orm.pk
    assert not through_rows._state.adding and through_rows._state.db == "default"
    stored = LoanApplication.objects.values(*COMPARED, "applicant_reference", "idempotency_key")
    orm_row, rows_row = stored.get(pk=through_orm.pk), stored.get(pk=through_rows.pk)
    assert (rows_row["applicant_reference"], rows_row["idempotency_key"]) == ("rows", "rows-key-0001")
    assert {name: rows_row[name] for name in COMPARED} == {name: orm_row[name] for name in COMPARED}
    # Full precision and exact decimals, as typed.
    assert rows_row["probability_of_default"] == 0.1234567890123456789
    assert rows_row["loan_int_rate"] == Decimal("11.25")
    assert rows_row["scored_at"] == dt.datetime(2026, 11, 27, 3, 4, 5, 678901, tzinfo=dt.UTC)


def test_insert_row_refuses_a_saved_instance():
    officer = UserFactory()
    application = _scored_application(officer, "twice", "twice-key-001")
    insert_row(application)
    with pytest.raises(ValueError, match="without a primary key"):
        insert_row(application)
    assert LoanApplication.objects.filter(applicant_reference="twice").count() == 1


def test_row_lookup_returns_what_queryset_get_returns():
    user = UserFactory(first_name="Ada", email="ada@example.com")
    user.last_login = timezone.now()
    user.save()
    lookup = RowLookup(get_user_model(), "pk")

    found = lookup.get(user.pk)
    expected = get_user_model().objects.get(pk=user.pk)
    fields = [field.attname for field in get_user_model()._meta.concrete_fields]
    assert {name: getattr(found, name) for name in fields} == {name: getattr(expected, name) for name in fields}
    assert found.last_login.tzinfo is not None and found.is_active is True
    assert not found._state.adding and found._state.db == "default"
    assert lookup.get(user.pk + 1000) is None


def test_row_lookup_binds_extra_conditions_in_order():
    session = Session.objects.create(
        session_key="k" * 32, session_data="x", expire_date=timezone.now() + dt.timedelta(hours=1)
    )
    lookup = RowLookup(Session, "session_key", extra=("expire_date__gt",))
    assert lookup.get(session.session_key, timezone.now()).session_data == "x"
    assert lookup.get(session.session_key, timezone.now() + dt.timedelta(hours=2)) is None
    assert lookup.get("nope" * 8, timezone.now()) is None
    with pytest.raises(TypeError):
        lookup.get(session.session_key)


def test_backend_get_user_matches_model_backend_rules():
    user = UserFactory()
    backend = ProductionModelBackend()
    assert backend.get_user(user.pk) == user
    user.is_active = False
    user.save()
    assert backend.get_user(user.pk) is None
    assert backend.get_user(user.pk + 1000) is None


def test_session_store_loads_like_django_and_forgets_expired_keys():
    store = SessionStore()
    store["_auth_user_id"] = "7"
    store["note"] = "ü"
    store.create()
    assert SessionStore(store.session_key).load() == DjangoSessionStore(store.session_key).load()
    assert SessionStore(store.session_key).load()["note"] == "ü"

    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    expired = SessionStore(store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None

    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None


def test_a_prepared_insert_stores_the_values_bound_when_it_was_prepared():
    from infrastructure.rows import prepare_insert

    officer = UserFactory()
    application = _scored_application(officer, "prepared", "prepared-key-01")
    prepared = prepare_insert(application)
    application.applicant_reference = "changed after prepare"
    insert_row(application, prepared=prepared)
    assert LoanApplication.objects.get(pk=application.pk).applicant_reference == "prepared"


def test_insert_rows_stores_what_insert_row_stores_and_pairs_each_key_by_its_row(monkeypatch):
    officer = UserFactory()
    single = _scored_application(officer, "single", "single-key-0001")
    insert_row(single)
    many = [_scored_application(officer, f"many-{n}", f"many-key-{n:04d}") for n in range(7)]
    # Batches of three: several statements, the last one short.
    monkeypatch.setattr(type(connection.ops), "bulk_batch_size", lambda self, fields, objs: 3)
    insert_rows(many, prepared=[prepare_insert(a) for a in many], match="idempotency_key")

    assert all(not a._state.adding and a._state.db == "default" for a in many)
    assert len({a.pk for a in many}) == 7
    stored = LoanApplication.objects.values(*COMPARED, "applicant_reference", "idempotency_key")
    expected = {name: stored.get(pk=single.pk)[name] for name in COMPARED}
    for n, application in enumerate(many):
        row = stored.get(pk=application.pk)
        assert (row["applicant_reference"], row["idempotency_key"]) == (f"many-{n}", f"many-key-{n:04d}")
        assert {name: row[name] for name in COMPARED} == expected


def test_insert_rows_refuses_rows_it_could_not_pair():
    officer = UserFactory()
    first, second = (_scored_application(officer, "dup", "same-key-0001") for _ in range(2))
    with pytest.raises(ValueError, match="unique, non-null 'idempotency_key'"):
        insert_rows([first, second], prepared=[prepare_insert(first), prepare_insert(second)], match="idempotency_key")
    assert not LoanApplication.objects.filter(applicant_reference="dup").exists()
