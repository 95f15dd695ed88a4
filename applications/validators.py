"""Validators built from ``scoring.schema``, so the form, the admin and the
model refuse exactly what the scoring engine refuses, with no range typed twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from scoring import schema


def format_bound(value: float) -> str:
    """A bound as an officer reads it: ``10,000,000`` rather than ``1e+07``."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,}"


def unit_suffix(field: schema.NumericField) -> str:
    """The unit as it reads after a bound: "18 years", "100%"; rates like
    "per year" on money are left out ("above 0 per year" reads as nonsense)."""
    if field.unit.startswith("%"):
        return "%"
    if field.unit and not field.unit.startswith("per "):
        return f" {field.unit}"
    return ""


@deconstructible
class SchemaRangeValidator:
    """Checks a numeric input against its ``scoring.schema.NumericField`` range.

    Only the field name is stored in migrations; the bounds are read from the
    schema at validation time, so changing the schema changes the rule.
    """

    def __init__(self, field_name: str):
        self.field_name = field_name

    @property
    def field(self) -> schema.NumericField:
        return schema.FIELDS_BY_NAME[self.field_name]

    def __call__(self, value: int | Decimal | float | None) -> None:
        if value is None:
            return
        field = self.field
        number = float(value)
        if field.min_exclusive and number <= field.min_value:
            raise ValidationError(
                f"Must be above {format_bound(field.min_value)}{unit_suffix(field)}.",
                code="min_value",
            )
        if not field.min_exclusive and number < field.min_value:
            raise ValidationError(
                f"Must be at least {format_bound(field.min_value)}{unit_suffix(field)}.",
                code="min_value",
            )
        if number > field.max_value:
            raise ValidationError(
                f"Must be at most {format_bound(field.max_value)}{unit_suffix(field)}.",
                code="max_value",
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SchemaRangeValidator) and other.field_name == self.field_name

    def __hash__(self) -> int:
        return hash(self.field_name)
