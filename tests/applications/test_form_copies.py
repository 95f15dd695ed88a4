"""Each LoanApplicationForm gets its own fields, as with Django's own copies.

The form's fields copy themselves cheaply (``applications.forms._CheapCopyMixin``);
these tests pin down that the cheap copy still isolates every part Django
isolates, so a change made to one form (an error message, a widget
attribute, a validator, the choices) never reaches the next form.
"""

from __future__ import annotations

import copy

import pytest
from django import forms

from applications.forms import LoanApplicationForm, ReferenceField, SchemaChoiceField
from scoring import schema

pytestmark = pytest.mark.django_db


def test_every_field_of_the_form_uses_the_cheap_copy():
    # A field added later without the mixin would silently fall back to Django's
    # slow copy; this catches it.
    kinds = {name: type(field) for name, field in LoanApplicationForm.base_fields.items()}
    assert set(kinds) == {*schema.INPUT_NAMES, "applicant_reference", "confirm_duplicate_of"}
    assert all(
        hasattr(kind, "__deepcopy__") and kind.__deepcopy__ is not forms.Field.__deepcopy__ for kind in kinds.values()
    ), kinds
    assert kinds["applicant_reference"] is ReferenceField


@pytest.mark.parametrize("name", [*schema.INPUT_NAMES, "applicant_reference"])
def test_a_copy_owns_what_django_copies_and_shares_the_rest(name):
    original = LoanApplicationForm.base_fields[name]
    clone = copy.deepcopy(original)
    assert type(clone) is type(original)
    assert clone is not original and clone.widget is not original.widget
    assert type(clone.widget) is type(original.widget)
    # The parts Django's Field/Widget.__deepcopy__ copy are new objects with equal content.
    for attribute in ("error_messages", "validators"):
        assert getattr(clone, attribute) == getattr(original, attribute)
        assert getattr(clone, attribute) is not getattr(original, attribute)
    assert clone.widget.attrs == original.widget.attrs and clone.widget.attrs is not original.widget.attrs
    # Everything else is the same, value for value.
    assert {
        k: v for k, v in vars(clone).items() if k not in ("widget", "error_messages", "validators", "_choices")
    } == {k: v for k, v in vars(original).items() if k not in ("widget", "error_messages", "validators", "_choices")}
    if isinstance(original, SchemaChoiceField):
        assert clone.choices == original.choices and clone.choices is not original.choices
        # Field and widget share one list, as after Django's ``field.choices = ...``.
        assert clone.widget.choices is clone.choices


def test_changing_one_forms_fields_leaves_the_next_form_alone():
    first = LoanApplicationForm()
    first.fields["loan_amnt"].error_messages["invalid"] = "changed"
    first.fields["loan_amnt"].widget.attrs["data-unit"] = "changed"
    first.fields["loan_amnt"].validators.append(lambda value: None)
    first.fields["loan_grade"].choices.append(("Z", "Z"))
    first.fields["loan_grade"].widget.attrs["class"] = "changed"
    first.fields["applicant_reference"].widget.attrs["autocomplete"] = "on"

    second = LoanApplicationForm()
    assert second.fields["loan_amnt"].error_messages["invalid"].startswith("Enter digits only")
    assert second.fields["loan_amnt"].widget.attrs["data-unit"] == schema.FIELDS_BY_NAME["loan_amnt"].unit
    assert len(second.fields["loan_amnt"].validators) == len(LoanApplicationForm.base_fields["loan_amnt"].validators)
    assert ("Z", "Z") not in second.fields["loan_grade"].choices
    assert ("Z", "Z") not in list(second.fields["loan_grade"].widget.choices)
    assert "class" not in second.fields["loan_grade"].widget.attrs
    assert second.fields["applicant_reference"].widget.attrs["autocomplete"] == "off"
    # And the rendered select still offers exactly the schema's categories.
    options = [value for value, _ in second.fields["loan_grade"].widget.choices if value]
    assert options == [value for value, _ in schema.FIELDS_BY_NAME["loan_grade"].choices]
