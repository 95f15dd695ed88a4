"""Forms: the one place an application's inputs are validated.

``LoanApplicationForm`` is used by the officer's page and the admin's add
page; both hand its ``cleaned_data`` to ``services.submit_application``, so
they accept and refuse exactly the same input with the same messages. The
rules themselves (ranges, choices) come from ``scoring.schema``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import (
    EMPTY_VALUES,
    DecimalValidator,
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
)

from accounts.validators import VisibleTextValidator
from applications.models import LoanApplication
from applications.services import possible_duplicate
from applications.validators import SchemaRangeValidator, format_bound
from scoring import schema
from scoring.features import derived_values


class _SchemaRangeMixin:
    """Check the schema range before the digit-count validators.

    Without this, ``1e309`` would be reported as "no more than 8 digits
    before the decimal point" instead of the range an officer can act on.
    """

    schema_name: str = ""

    def validate(self, value: Any) -> None:
        super().validate(value)  # type: ignore[misc]
        if value not in EMPTY_VALUES:
            SchemaRangeValidator(self.schema_name)(value)


def _shallow_copy(obj: Any) -> Any:
    """``copy.copy`` for an object that keeps its state in ``__dict__``, minus the pickle-protocol round trip."""
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    return clone


class _CheapCopyMixin:
    """Copy a form field as ``Field.__deepcopy__`` does, at a third of the cost.

    Django deep-copies every field (and its widget) for every form instance,
    so that one form's changes never reach the next; for the application
    form that cost is mostly ``copy.copy``'s ``__reduce_ex__`` machinery
    (docs/performance.md). Each copy here still gets its own field,
    widget, widget ``attrs``, ``error_messages``, ``validators`` and (choice
    fields) choice list, exactly the parts Django copies; everything else is
    shared, as with Django's own shallow copies. ``tests/applications/test_form_copies.py``
    checks that a change to one form's fields leaves the next form alone.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        result = _shallow_copy(self)
        memo[id(self)] = result
        widget = _shallow_copy(self.widget)  # type: ignore[attr-defined]
        widget.attrs = self.widget.attrs.copy()  # type: ignore[attr-defined]
        memo[id(self.widget)] = widget  # type: ignore[attr-defined]
        result.widget = widget
        result.error_messages = self.error_messages.copy()  # type: ignore[attr-defined]
        result.validators = self.validators[:]  # type: ignore[attr-defined]
        return result


# Officers type amounts as they write them ("50.000", "50,000"); the messages
# say how to write the number rather than "Enter a number." or Django's "no
# more than 2 decimal places", which "50.000" (fifty, to three places) gets.
_NO_SEPARATORS = "without thousands separators: for fifty thousand, type 50000"


class SchemaDecimalField(_CheapCopyMixin, _SchemaRangeMixin, forms.DecimalField):
    default_error_messages = {"invalid": f"Enter digits only, with a point for any decimals, {_NO_SEPARATORS}."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        places = self.decimal_places or 0
        self.error_messages["max_decimal_places"] = (
            f"Enter at most {places} digit{'' if places == 1 else 's'} after the decimal point, {_NO_SEPARATORS}."
        )


class SchemaIntegerField(_CheapCopyMixin, _SchemaRangeMixin, forms.IntegerField):
    default_error_messages = {"invalid": "Enter a whole number, digits only (for example 35)."}


class ReferenceField(_CheapCopyMixin, forms.CharField):
    """The applicant reference: a ``CharField``, cheap to copy."""


class DuplicateConfirmationField(_CheapCopyMixin, forms.IntegerField):
    """The hidden id of the earlier application a duplicate warning named, cheap to copy."""


class SchemaSelect(forms.Select):
    """The widget of ``SchemaChoiceField``, which copies it (and its choices)."""


class SchemaChoiceField(_CheapCopyMixin, forms.TypedChoiceField):
    """A schema category, cheap to copy.

    For a choice field Django also re-normalises the choices twice per copy
    (field and widget), on every submission, for four short lists of
    immutable (value, label) pairs. Here each copy gets a new list of the
    same pairs, shared by the field and its widget as after ``choices = ``.
    """

    widget = SchemaSelect

    def __deepcopy__(self, memo: dict[int, Any]) -> SchemaChoiceField:
        result = super().__deepcopy__(memo)
        # The lists are already normalised: assign them past the re-normalising setters.
        result._choices = list(self._choices)
        result.widget._choices = result._choices
        return result


def schema_formfield(db_field, **kwargs):
    """Build form fields for the schema inputs with units and schema ranges."""
    name = db_field.name
    field = schema.FIELDS_BY_NAME.get(name)
    if isinstance(field, schema.NumericField):
        form_class = SchemaIntegerField if field.integer else SchemaDecimalField
        formfield = db_field.formfield(form_class=form_class, **kwargs)
        formfield.schema_name = name
        formfield.widget.attrs.update(
            {
                "inputmode": "numeric" if field.integer else "decimal",
                "data-unit": field.unit,
                "min": format_bound(field.min_value).replace(",", ""),
                "max": format_bound(field.max_value).replace(",", ""),
                "step": "1" if field.integer else f"{10**-field.decimal_places:.{field.decimal_places}f}",
            }
        )
        formfield.unit = field.unit
        return formfield
    if isinstance(field, schema.CategoricalField):
        kwargs.setdefault("choices_form_class", SchemaChoiceField)
        formfield = db_field.formfield(**kwargs)
        # No pre-selected value: an officer must choose, never inherit a default.
        formfield.choices = [("", "— choose —"), *field.choices]
        formfield.unit = ""
        return formfield
    if name == "applicant_reference":
        kwargs.setdefault("form_class", ReferenceField)
    formfield = db_field.formfield(**kwargs)
    if formfield is not None:
        formfield.unit = ""
    return formfield


# The ten inputs and the optional reference, in the order the page shows them.
APPLICATION_FORM_FIELDS = (*schema.INPUT_NAMES, "applicant_reference")


class _ApplicationFormMixin:
    """What the officer's form and the admin's add form share beyond their fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reference = self.fields.get("applicant_reference")  # absent on the admin's read-only page
        if reference is not None:
            # Django adds this for CharField already; kept explicit because a
            # NUL in a reference would otherwise reach the database driver.
            if not any(isinstance(v, ProhibitNullCharactersValidator) for v in reference.validators):
                reference.validators.append(ProhibitNullCharactersValidator())
            # No direction overrides, zero-width or other invisible characters: look-alike references.
            reference.validators.append(VisibleTextValidator())
            reference.widget.attrs.setdefault("autocomplete", "off")

    def derived_preview(self) -> tuple[float | None, float | None]:
        """``(loan_percent_income, interest_burden)`` for a re-shown form, if computable."""
        data = getattr(self, "cleaned_data", {}) or {}
        try:
            return derived_values(
                loan_amnt=float(data["loan_amnt"]),
                loan_int_rate=float(data["loan_int_rate"]),
                person_income=float(data["person_income"]),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None, None


class LoanApplicationForm(_ApplicationFormMixin, forms.Form):
    """The officer's form: every rule of ``scoring.schema`` applied once, here.

    A plain form rather than a ``ModelForm``: a ModelForm validates each
    field, then validates the model instance, which runs the same schema
    ranges through the model fields' validators a second time on every
    submission. Here the fields are the model's own form fields (built by
    ``schema_formfield`` from the model, below), ``clean`` applies the one
    rule that spans several inputs, and ``submit_application`` takes the
    cleaned data. The database still enforces every range (CHECK constraints).
    """

    # Set by the page after a duplicate warning: the officer confirms that this
    # is not a second entry of that earlier application (services.PossibleDuplicate).
    confirm_duplicate_of = DuplicateConfirmationField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, message in _cross_field_errors(cleaned).items():
            self.add_error(name, message)
        return cleaned


def _cross_field_errors(cleaned: Mapping[str, Any]) -> dict[str, str]:
    """``scoring.schema``'s rule spanning several inputs, on cleaned values, for fields that are still valid."""
    values = {
        name: None if cleaned.get(name) is None else float(cleaned[name])
        for name in ("person_age", "person_emp_length", "cb_person_cred_hist_length")
    }
    return {name: message for name, message in schema.cross_field_errors(values).items() if name in cleaned}


# Form.base_fields is the documented place a form's fields live; built once.
LoanApplicationForm.base_fields.update(
    {name: schema_formfield(LoanApplication._meta.get_field(name)) for name in APPLICATION_FORM_FIELDS}
)


class LoanApplicationAdminForm(_ApplicationFormMixin, forms.ModelForm):
    """The admin's add form: the same fields, as the ``ModelForm`` Django's admin requires.

    It also validates the model instance (the model's ``clean`` applies the
    same cross-field rule); the admin is rarely used and not on the hot path.
    """

    # The admin binds the signed-in user here (LoanApplicationAdmin.get_form) for the duplicate check.
    officer: Any = None
    store_anyway = forms.BooleanField(
        required=False,
        label="Store anyway",
        help_text="Only after a duplicate warning: this is a different application (recorded with it).",
    )

    class Meta:
        model = LoanApplication
        fields = APPLICATION_FORM_FIELDS
        formfield_callback = schema_formfield

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.duplicate_of = None
        if self.officer is not None and not self.errors:
            candidate = LoanApplication(officer=self.officer, **{n: cleaned.get(n) for n in APPLICATION_FORM_FIELDS})
            candidate.applicant_reference = candidate.applicant_reference or ""
            earlier, why = possible_duplicate(candidate)
            if earlier is not None and not cleaned.get("store_anyway"):
                raise forms.ValidationError(f"{why} Tick 'Store anyway' if this is a different application.")
            self.duplicate_of = earlier
        return cleaned


class HistoryFilterForm(forms.Form):
    """Query-string filters for the decision history and its CSV export."""

    # Dates outside these bounds are refused with a message: the selector
    # turns a "to" day into the next midnight, which overflows on 9999-12-31,
    # and no application was entered before the product existed.
    DATE_MIN = dt.date(2000, 1, 1)
    DATE_MAX = dt.date(2999, 12, 31)
    DATE_RANGE_MESSAGE = f"Enter a date between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}."

    SORTS = {
        "newest": ("-created_at", "-id"),
        "oldest": ("created_at", "id"),
        "pd_high": ("-probability_of_default", "-id"),
        "pd_low": ("probability_of_default", "id"),
        "amount_high": ("-loan_amnt", "-id"),
        "amount_low": ("loan_amnt", "id"),
        "reference": ("applicant_reference", "id"),
    }
    SORT_CHOICES = [
        ("newest", "Newest first"),
        ("oldest", "Oldest first"),
        ("pd_high", "Highest risk first"),
        ("pd_low", "Lowest risk first"),
        ("amount_high", "Largest loan first"),
        ("amount_low", "Smallest loan first"),
        ("reference", "Reference A–Z"),
    ]

    q = forms.CharField(
        label="Reference",
        required=False,
        max_length=64,
        help_text="Finds references that start with what you type (upper or lower case alike).",
        widget=forms.TextInput(attrs={"placeholder": "Reference starts with…", "type": "search"}),
    )
    decision = forms.ChoiceField(
        required=False,
        choices=[("", "Any decision"), *LoanApplication.Decision.choices, ("PENDING", "Pending")],
    )
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    officer = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Any officer"
    )
    model_version = forms.ChoiceField(required=False, choices=[("", "Any model")])
    overridden = forms.ChoiceField(
        label="Overridden",
        required=False,
        choices=[("", "Either"), ("yes", "Overridden"), ("no", "Not overridden")],
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, officers=None, model_versions=(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if officers is None:
            del self.fields["officer"]
        else:
            self.fields["officer"].queryset = officers
        self.fields["model_version"].choices = [("", "Any model"), *((v, v) for v in model_versions)]

    def _clean_date(self, name: str) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get(name)
        if day is not None and not self.DATE_MIN <= day <= self.DATE_MAX:
            raise forms.ValidationError(self.DATE_RANGE_MESSAGE, code="date_range")
        return day

    def clean_date_from(self) -> dt.date | None:
        return self._clean_date("date_from")

    def clean_date_to(self) -> dt.date | None:
        return self._clean_date("date_to")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict[str, Any]:
        """The valid filters only: a bad value in one box never hides all rows."""
        if not self.is_bound:
            return {}
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {key: value for key, value in cleaned.items() if value not in (None, "")}


_ROW_FIELDS: dict[str, forms.Field] | None = None


def _row_fields() -> dict[str, forms.Field]:
    global _ROW_FIELDS
    if _ROW_FIELDS is None:
        _ROW_FIELDS = LoanApplicationForm().fields
    return _ROW_FIELDS


def clean_application_data(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate one application given as a mapping of texts: ``(cleaned_data, errors by field)``.

    The very fields and rules of ``LoanApplicationForm`` (one form built
    once, its fields reused) for callers that validate many rows or JSON
    bodies: a batch file row, an API request. Building a form per row costs
    more than scoring it. ``errors`` is empty when the data is valid.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, field in _row_fields().items():
        try:
            cleaned[name] = field.clean(data.get(name))
        except forms.ValidationError as error:
            errors[name] = list(error.messages)
    for name, message in _cross_field_errors(cleaned).items():
        errors.setdefault(name, []).append(message)
        del cleaned[name]
    return cleaned, errors


# --- Many rows at once (batch files) ------------------------------------------
#
# ``clean_application_rows`` gives, row for row, what ``clean_application_data``
# gives, at a fraction of the cost: each field's column is validated in one
# pass, and a cell in the plain form almost every cell of a bank's export
# takes ("35", "52000.50", "RENT", "REF-123") is accepted by a shortcut built
# from that form field's own settings (digits and decimal places, choices,
# maximum length, validators), then checked against the same schema range
# (``SchemaRangeValidator``). Every other cell (blank, signs, exponents,
# spaces, separators, any character outside printable ASCII, too many
# digits, out of range, not a text) goes through the form field's own
# ``clean``, so every message is the form's. A shortcut exists only for a
# field whose validators it knows; any other field always takes ``clean``.
# ``tests/applications/test_clean_rows.py`` checks that both accept and reject
# the same rows with the same messages and the same cleaned values.

_SLOW = object()


def _plain_number(field: forms.Field, pattern: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """A number cell written plainly (``pattern``) converted and range-checked as the field would; else ``_SLOW``."""
    plain = re.compile(pattern).fullmatch
    in_range = SchemaRangeValidator(field.schema_name)

    def number(text: str) -> Any:
        if plain(text) is None:
            return _SLOW
        value = convert(text)
        in_range(value)
        return value

    return number


def _shortcut(field: forms.Field) -> Callable[[str], Any] | None:
    """For a text cell: the value ``field.clean`` returns for it, or ``_SLOW`` (ask ``field.clean``)."""
    known = tuple(type(v) for v in field.validators)
    if isinstance(field, SchemaIntegerField) and not known:
        return _plain_number(field, r"[0-9]{1,9}", int)
    if isinstance(field, SchemaDecimalField) and set(known) <= {DecimalValidator} and field.decimal_places:
        whole = field.max_digits - field.decimal_places
        # No more digits before or after the point than the field takes: DecimalValidator accepts it.
        return _plain_number(field, rf"[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{field.decimal_places}}})?", Decimal)
    if isinstance(field, SchemaChoiceField) and not known:
        allowed = frozenset(str(value) for value, _ in field.choices if value not in EMPTY_VALUES)
        coerce = field.coerce

        def choice(text: str) -> Any:
            return coerce(text) if text in allowed else _SLOW

        return choice
    if (
        isinstance(field, ReferenceField)
        and field.strip
        and field.max_length
        and set(known) <= {MaxLengthValidator, ProhibitNullCharactersValidator, VisibleTextValidator}
    ):
        # Printable ASCII with no space at either end: nothing to strip, no NUL, nothing invisible.
        plain = re.compile(rf"[!-~](?:[ -~]{{0,{field.max_length - 2}}}[!-~])?").fullmatch
        empty = field.empty_value

        def reference(text: str) -> Any:
            if text == "":
                return empty
            return text if plain(text) is not None else _SLOW

        return reference
    return None


_SHORTCUTS: dict[str, Callable[[str], Any] | None] | None = None


def clean_application_rows(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[dict[str, Any], dict[str, list[str]]]]:
    """``clean_application_data`` for many rows, column by column: for each row exactly its result.

    ``rows`` are mappings of texts (a batch file's rows); any other value is
    validated by the form field itself, as ``clean_application_data`` does.
    """
    global _SHORTCUTS
    fields = _row_fields()
    if _SHORTCUTS is None:
        _SHORTCUTS = {name: _shortcut(field) for name, field in fields.items()}
    results: list[tuple[dict[str, Any], dict[str, list[str]]]] = [({}, {}) for _ in rows]
    for name, field in fields.items():
        shortcut = _SHORTCUTS[name]
        for row, (cleaned, errors) in zip(rows, results):
            value = row.get(name)
            try:
                if shortcut is not None and value.__class__ is str:
                    clean = shortcut(value)
                    if clean is not _SLOW:
                        cleaned[name] = clean
                        continue
                cleaned[name] = field.clean(value)
            except forms.ValidationError:
                # Out of range (or any refusal): the field's own clean says so, in the form's words.
                try:
                    cleaned[name] = field.clean(value)
                except forms.ValidationError as error:
                    errors[name] = list(error.messages)
    for cleaned, errors in results:
        for name, message in _cross_field_errors(cleaned).items():
            errors.setdefault(name, []).append(message)
            del cleaned[name]
    return results
