"""Forms of the credit pages. They collect input; the rules and services decide, and
`form_errors_from` puts a service's refusal beside the field it concerns."""

from __future__ import annotations

from typing import Any

from django import forms

from kontor.ledger.services import MAX_AMOUNT

SYSTEM = "system"

TRANSFER_CONDITIONS = (
    "Transferred credits are applied at once. They can only come back by another transfer made by "
    "someone allowed to make it, and every transfer is logged for audit."
)


class TransferForm(forms.Form):
    other = forms.ChoiceField(label="Transfer to")
    amount = forms.IntegerField(label="Quantity (SMS credits)", min_value=1, max_value=MAX_AMOUNT)
    reason = forms.CharField(label="Reason", max_length=200, required=False, help_text="Shown in both logs.")
    agree = forms.BooleanField(
        label="I agree to the transfer conditions",
        required=True,
        error_messages={"required": "Tick the box to agree to the transfer conditions."},
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], side: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        other = self.fields["other"]
        assert isinstance(other, forms.ChoiceField)
        other.choices = [("", "— choose —"), *choices]
        self.fields["other"].label = "Transfer to" if side == "from" else "Transfer from"
        self.fields["agree"].help_text = TRANSFER_CONDITIONS


class ThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        label="Low-balance alert threshold",
        required=False,
        min_value=0,
        max_value=MAX_AMOUNT,
        help_text="When the balance falls to this number or below, the owner and the master users get one "
        "email. Leave empty for no alert.",
    )
