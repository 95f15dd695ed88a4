"""infrastructure.rows: the precompiled statements store and read exactly what the ORM would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.backends import ProductionModelBackend
from accounts.sessions import SessionStore
from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from infrastructure.rows import RowLookup, _construction, insert_row, insert_rows, new_instance, prepare_insert
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


def _comparable_values(values):
    # Adapter objects (PostgreSQL's Jsonb) compare by what they wrap.
    return [
        (type(value).__name__, getattr(value, "obj", value) if hasattr(value, "obj") else value) for value in values
    ]


def _django_bound(instance) -> list:
    """What ``Model.save`` binds: ``pre_save`` + ``get_db_prep_save`` for every field, no shortcut."""
    fields = [field for field in instance._meta.concrete_fields if not field.primary_key]
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


def test_prepare_insert_binds_exactly_what_django_binds_for_every_field():
    import numpy as np

    from audit.models import DecisionRecord
    from batches.models import BatchJob, BatchRow

    officer = UserFactory()
    scored = _scored_application(officer, "bound", "bound-key-0001")
    pending = LoanApplication(officer=officer, person_age=30, person_income=Decimal("1.50"), loan_amnt=Decimal("7"))
    pending.interest_burden = None
    pending.loan_percent_income = np.float64(0.1)  # a numpy float: converted as Django converts it
    pending.person_emp_length = None
    pending.applicant_reference = ""
    pending.reasons = None
    flags = _scored_application(officer, "flags", "flags-key-0001")
    flags.case_version = 3
    flags.reasons = []
    insert_row(scored)
    record = DecisionRecord(
        sequence=10**9,
        previous_hash="0" * 64,
        record_hash="1" * 64,
        payload='{"a":1}',
        application_id=scored.pk,
        created_at=timezone.now(),
        officer_id=officer.pk,
        probability_of_default=0.25,
        decision="REVIEW",
        approve_below=0.1,
        decline_from=0.5,
        model_version="m",
        model_sha256="s" * 64,
        outside_experience=True,
    )
    job = BatchJob.objects.create(officer=officer, file_name="f.csv")
    outcomes = [
        BatchRow(job=job, row_number=1, application_id=scored.pk),
        BatchRow(job=job, row_number=2, rejection="loan_amnt: This field is required."),
    ]
    for instance in (scored, pending, flags, record, *outcomes):
        if instance.pk is not None:
            instance = _scored_application(officer, "again", "again-key-0001")
        assert _comparable_values(prepare_insert(instance).values) == _comparable_values(_django_bound(instance))


def test_insert_values_stores_what_the_orm_stores():
    from batches.models import BatchJob, BatchRow
    from infrastructure.rows import insert_values

    officer = UserFactory()
    application = _scored_application(officer, "v", "values-key-0001")
    insert_row(application)
    job = BatchJob.objects.create(officer=officer, file_name="f.csv")
    insert_values(
        BatchRow,
        [
            {"job_id": job.pk, "row_number": 1, "applicant_reference": "v", "application_id": application.pk},
            {"job_id": job.pk, "row_number": 2, "applicant_reference": "", "rejection": "person_age: Too old."},
        ],
    )
    stored = list(
        BatchRow.objects.filter(job=job)
        .order_by("row_number")
        .values_list("row_number", "applicant_reference", "application_id", "rejection")
    )
    assert stored == [(1, "v", application.pk, ""), (2, "", None, "person_age: Too old.")]
    # A row stored twice is refused as Django's IntegrityError (COPY on PostgreSQL, INSERT on SQLite).
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_values(BatchRow, [{"job_id": job.pk, "row_number": 2, "applicant_reference": "", "rejection": "x"}])


def _init_state(instance) -> tuple:
    """Everything ``Model.__init__`` leaves on an instance: attributes in order (values and types), state, cache."""
    attributes = [(k, v, type(v)) for k, v in instance.__dict__.items() if k != "_state"]
    state = instance._state
    return attributes, state.adding, state.db, dict(state.fields_cache)


@pytest.mark.parametrize(
    "values",
    [
        # The batch path's values (a related object, a time, the inputs as the form cleans them).
        {"with_officer": True, "idempotency_key": "batch1-row2", "applicant_reference": "R2", "created_at": True},
        # An id instead of the object, nothing else: every other field from its default.
        {"officer_id": True},
        {},
    ],
)
def test_new_instance_builds_exactly_what_the_model_constructor_builds(values):
    officer = UserFactory()
    form = LoanApplicationForm(data=application_form_data())
    assert form.is_valid(), form.errors
    now = timezone.now()
    given = {k: v for k, v in values.items() if k not in ("with_officer", "officer_id", "created_at")}
    if values.get("with_officer"):
        given["officer"] = officer
        given.update({k: v for k, v in form.cleaned_data.items() if k in COMPARED})
    if values.get("officer_id"):
        given["officer_id"] = officer.pk
    if values.get("created_at"):
        given["created_at"] = now
    assert _construction(LoanApplication) is not None  # the fast path, not the fallback, is what is compared
    built = new_instance(LoanApplication, dict(given))
    expected = LoanApplication(**dict(given))
    assert type(built) is LoanApplication
    built_state, expected_state = _init_state(built), _init_state(expected)
    if "created_at" not in given:  # its default is the time of construction: compare everything else
        built_state[0][:] = [a for a in built_state[0] if a[0] != "created_at"]
        expected_state[0][:] = [a for a in expected_state[0] if a[0] != "created_at"]
    assert built_state == expected_state
    # A per-row default is a new object per instance, as the constructor's (never shared between rows).
    assert new_instance(LoanApplication, dict(given)).reasons is not built.reasons
    if values.get("with_officer"):
        assert built.officer is officer  # cached, no query


def test_new_instance_falls_back_to_the_constructor_for_what_it_does_not_mirror():
    with pytest.raises(TypeError, match="unexpected keyword"):
        new_instance(LoanApplication, {"no_such_field": 1})
    # A property the model defines (settable or not) goes through Django's own handling too.
    with pytest.raises((AttributeError, TypeError)):
        new_instance(LoanApplication, {"probability_percent": 1})
