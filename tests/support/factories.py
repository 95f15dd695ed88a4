"""factory_boy factories for the suite: users in a role, role groups, and applications.

Applications are made the way the product makes them: form data validated by
``LoanApplicationForm`` and handed to ``submit_application``, so every
factory-made application is scored, stored and chained exactly as an
officer's would be.
"""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from accounts import roles
from applications.forms import LoanApplicationForm
from applications.models import LoanApplication
from applications.services import PossibleDuplicate, submit_application

PASSWORD = "correct-horse-battery-staple-42"


class RoleGroupFactory(factory.django.DjangoModelFactory):
    """A role's group holding the role map's permissions.

    Migrations create the groups; a transactional test's flush removes them
    (flush keeps no migration data), so this puts them back the same way.
    """

    class Meta:
        model = Group
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = roles.OFFICER

    @factory.post_generation
    def permissions(group: Group, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and not group.permissions.exists():
            roles.apply_role_map()


class UserFactory(factory.django.DjangoModelFactory):
    """A user in ``role``'s group (``role=None``: no role); admins are staff unless said otherwise."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    class Params:
        role = roles.OFFICER

    username = factory.LazyAttributeSequence(lambda user, n: f"{user.role or 'nobody'}-{n}")
    password = factory.django.Password(PASSWORD)
    is_staff = factory.LazyAttribute(lambda user: user.role == roles.ADMIN)
    role_name = factory.SelfAttribute("role")

    @classmethod
    def _create(cls, model_class: type, *args: Any, role_name: str | None = None, **kwargs: Any) -> Any:
        user = super()._create(model_class, *args, **kwargs)
        if role_name is not None:
            user.groups.add(RoleGroupFactory(name=role_name))
        return user


def application_form_data(**overrides: Any) -> dict[str, Any]:
    """Form data for an application the schema accepts (strings, as POSTed)."""
    data = {
        "person_age": "31",
        "person_income": "52000",
        "person_home_ownership": "RENT",
        "person_emp_length": "6.5",
        "loan_intent": "EDUCATION",
        "loan_grade": "B",
        "loan_amnt": "12000",
        "loan_int_rate": "11.25",
        "cb_person_default_on_file": "N",
        "cb_person_cred_hist_length": "7",
        "applicant_reference": "",
    }
    data.update(overrides)
    return data


# Training row 1988 as form data: DECLINE at 15,000 by the serving model, which approves up to 13,575
# (tests/scoring/test_counter_offer.py): a decline with a counter-offer and a notice.
DECLINED_FORM = dict(
    person_age="26",
    person_income="45000",
    person_home_ownership="RENT",
    person_emp_length="10",
    loan_intent="DEBTCONSOLIDATION",
    loan_grade="A",
    loan_amnt="15000",
    loan_int_rate="7.29",
    cb_person_default_on_file="N",
    cb_person_cred_hist_length="4",
)


# Training row 13164 as form data: REVIEW at 7,000 by the serving model, which approves 5,409 to 5,685 only.
REVIEW_FORM = dict(
    person_age="23",
    person_income="27000",
    person_home_ownership="RENT",
    person_emp_length="4",
    loan_intent="PERSONAL",
    loan_grade="C",
    loan_amnt="7000",
    loan_int_rate="13.79",
    cb_person_default_on_file="N",
    cb_person_cred_hist_length="2",
)


def scoring_inputs(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ten model inputs from form data, as the scoring engine takes them."""
    from scoring.schema import INPUT_NAMES, NUMERIC_INPUTS

    data = data or application_form_data()
    return {name: float(data[name]) if name in NUMERIC_INPUTS else data[name] for name in INPUT_NAMES}


def submit_form(*, officer: Any, data: dict[str, Any], idempotency_key: str | None = None) -> LoanApplication:
    """What a page does with posted data: validate with the form, then ``submit_application``.

    Raises ``ValidationError`` with the form's errors for bad input, as the
    page would show them; nothing is stored then.
    """
    form = LoanApplicationForm(data=data)
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    confirmed = None
    # Tests make many alike applications on purpose: confirm each warning, as an officer would (racing
    # processes may name a newer earlier application each time). tests/applications/test_duplicates.py
    # tests the warning itself.
    for _ in range(10):
        try:
            return submit_application(
                officer=officer,
                cleaned_data=form.cleaned_data,
                idempotency_key=idempotency_key,
                confirmed_duplicate_of=confirmed,
            )
        except PossibleDuplicate as duplicate:
            confirmed = duplicate.earlier.pk
    raise AssertionError("the duplicate warning kept naming another application")


class LoanApplicationFactory(factory.Factory):
    """An application entered through the form and the service: scored (or PENDING), stored, chained.

    ``LoanApplicationFactory(officer=user, loan_amnt="30000")``: any form
    field can be given as it would be posted.
    """

    class Meta:
        model = LoanApplication

    officer = factory.SubFactory(UserFactory, role=roles.OFFICER)

    @classmethod
    def _create(cls, model_class: type, *args: Any, officer: Any, **form_fields: Any) -> LoanApplication:
        return submit_form(officer=officer, data=application_form_data(**form_fields))

    _build = _create


def scored_application(officer: Any = None, **form_fields: Any) -> LoanApplication:
    """A SCORED application (fails the test, with the engine's reason, if the model could not score it)."""
    application = LoanApplicationFactory(officer=officer or UserFactory(role=roles.OFFICER), **form_fields)
    assert application.status == LoanApplication.Status.SCORED, application.scoring_error
    return application


# Form fields the serving model scores REVIEW (p ~ 10.5%) and DECLINE (p ~ 99.8%); the defaults score APPROVE.
REVIEW_FIELDS = {"loan_amnt": "14000", "loan_grade": "C", "loan_int_rate": "14"}
DECLINE_FIELDS = {"loan_amnt": "20000", "loan_grade": "D"}


def review_case(officer: Any = None, **form_fields: Any) -> LoanApplication:
    """A scored application the model sent to REVIEW: in the queue."""
    application = scored_application(officer, **{**REVIEW_FIELDS, **form_fields})
    assert application.decision == "REVIEW", application.probability_of_default
    return application


def declined_case(officer: Any = None, **form_fields: Any) -> LoanApplication:
    """A scored application the model DECLINEd: final unless overridden."""
    application = scored_application(officer, **{**DECLINE_FIELDS, **form_fields})
    assert application.decision == "DECLINE", application.probability_of_default
    return application
