"""Forms of the review pages: the queue's filters, a case decision, a second reviewer's answer.

The forms check what a reviewer can correct beside a field (a reason code from the list for the
chosen decision, the explanation's length, with the services' own rules and messages); whether the
case still allows the action is the services' question, asked under the case's row lock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from audit import lifecycle
from reviews import services
from reviews.selectors import reason_code_choices

EXPLANATION_HELP = (
    f"At least {services.EXPLANATION_MIN_LENGTH} characters: what you checked and why this decision follows. "
    "Kept forever with the case for auditors."
)


class QueueFilterForm(forms.Form):
    SHOW_CHOICES = [
        ("", "All open cases"),
        ("waiting", "Waiting for a reviewer"),
        ("mine", "Claimed by me"),
        ("claimed", "Claimed by anyone"),
        ("second", "Awaiting second approval"),
    ]

    show = forms.ChoiceField(label="Show", required=False, choices=SHOW_CHOICES)
    amount_min = forms.DecimalField(label="Loan from", required=False, min_value=Decimal("0"), max_digits=12)
    amount_max = forms.DecimalField(label="Loan up to", required=False, min_value=Decimal("0"), max_digits=12)
    q = forms.CharField(
        label="Reference",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "Search reference", "type": "search"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "The upper amount is below the lower one.")
        return data

    def filters(self) -> dict[str, Any]:
        """The valid filters only: a bad value in one box never hides all rows."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {key: value for key, value in getattr(self, "cleaned_data", {}).items() if value not in (None, "")}


class _CaseActionForm(forms.Form):
    """Shared by both decision forms: a reason code, an explanation, and the case version the page showed."""

    # What the reviewer chooses, and which reason codes belong to each choice.
    DECISIONS: tuple[tuple[str, str], ...] = ()
    CODE_ACTIONS: dict[str, str] = {}

    reason_code = forms.ChoiceField(label="Reason code")
    explanation = forms.CharField(
        label="Explanation",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=services.EXPLANATION_MAX_LENGTH,
        strip=True,
        help_text=EXPLANATION_HELP,
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["decision"] = forms.ChoiceField(label="Decision", choices=self.DECISIONS, widget=forms.RadioSelect)
        self.order_fields(["decision", "reason_code", "explanation", "version"])
        self.fields["reason_code"].choices = [
            ("", "Choose a reason"),
            *reason_code_choices(actions=tuple(dict.fromkeys(self.CODE_ACTIONS.values()))),
        ]

    def clean_explanation(self) -> str:
        try:
            return services.clean_explanation(self.cleaned_data.get("explanation"))
        except forms.ValidationError as error:
            raise forms.ValidationError(error.message_dict["explanation"]) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        decision, code = data.get("decision"), data.get("reason_code")
        if decision and code:
            try:
                services.reason_code_for(code=code, action=self.CODE_ACTIONS[decision])
            except forms.ValidationError:
                self.add_error(
                    "reason_code", f"This reason explains another decision; choose one listed under {decision.title()}."
                )
        return data


class DecisionForm(_CaseActionForm):
    """A reviewer's decision on a case: APPROVE, DECLINE or REFER (keep in review)."""

    DECISIONS = (
        ("APPROVE", "Approve"),
        ("DECLINE", "Decline"),
        (lifecycle.REFER, "Refer: keep in review (e.g. documents requested)"),
    )
    CODE_ACTIONS = {"APPROVE": "APPROVE", "DECLINE": "DECLINE", lifecycle.REFER: lifecycle.REFER}


class SecondApprovalForm(_CaseActionForm):
    """The second reviewer's answer to a proposed approval."""

    DECISIONS = ((lifecycle.CONFIRM, "Confirm the approval"), (lifecycle.REJECT, "Reject the approval"))
    CODE_ACTIONS = {lifecycle.CONFIRM: lifecycle.CONFIRM, lifecycle.REJECT: lifecycle.REJECT}
