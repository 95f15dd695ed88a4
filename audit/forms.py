from __future__ import annotations

from django import forms

from audit.services import REASON_MAX_LENGTH
from scoring.results import DECISIONS


class OverrideForm(forms.Form):
    final_decision = forms.ChoiceField(choices=[(d, d.title()) for d in DECISIONS], label="Final decision")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=REASON_MAX_LENGTH,
        strip=True,
        help_text="Mandatory. Why the model's decision is overridden; kept forever in the audit trail.",
    )
