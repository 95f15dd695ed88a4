"""The simulator's form: cut-offs and a period. The cut-off rule lives in ``services.validate_cutoffs``."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from governance.services import validate_cutoffs


class CutoffForm(forms.Form):
    approve_below = forms.FloatField(
        label="Approve below",
        help_text="Probability of default between 0 and 1, e.g. 0.12: applications under it are approved.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "1"}),
    )
    decline_from = forms.FloatField(
        label="Decline from",
        help_text="Probability of default between 0 and 1: applications at or above it are declined; between the two, referred.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "1"}),
    )
    start = forms.DateField(
        label="From",
        required=False,
        help_text="First day (YYYY-MM-DD), optional.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.DateField(
        label="To",
        required=False,
        help_text="Last day, included (YYYY-MM-DD), optional.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        cleaned = super().clean()
        if "approve_below" in cleaned and "decline_from" in cleaned:
            try:
                validate_cutoffs(approve_below=cleaned["approve_below"], decline_from=cleaned["decline_from"])
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    self.add_error(field, messages)
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", "The last day is before the first.")
        return cleaned
