"""Small builders for the workbench tests: valid inputs, users in a role."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from applications import roles

PASSWORD = "correct-horse-battery-staple-42"
_counter = itertools.count(1)


def valid_inputs(**overrides: Any) -> dict[str, Any]:
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


def scoring_inputs(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ten model inputs from form data, as the scoring engine takes them."""
    from scoring.schema import INPUT_NAMES, NUMERIC_INPUTS

    data = data or valid_inputs()
    return {name: float(data[name]) if name in NUMERIC_INPUTS else data[name] for name in INPUT_NAMES}


def make_user(
    role: str | None = roles.OFFICER, *, username: str | None = None, staff: bool | None = None, **extra: Any
):
    """A user in ``role``'s group (``None``: no role); admins are staff by default."""
    username = username or f"{role or 'nobody'}-{next(_counter)}"
    user = get_user_model().objects.create_user(
        username=username,
        password=PASSWORD,
        is_staff=(role == roles.ADMIN) if staff is None else staff,
        **extra,
    )
    if role is not None:
        user.groups.add(role_group(role))
    return user


def role_group(role: str) -> Group:
    """The role's group; recreated as the data migration does if a
    transactional test's flush removed it (flush keeps no migration data)."""
    group = Group.objects.filter(name=role).first()
    if group is None:
        from django.contrib.auth.models import Permission

        group = Group.objects.create(name=role)
        for perm in roles.ROLE_PERMISSIONS[role]:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group
