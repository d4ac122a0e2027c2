"""Forms of the credit pages. They collect input; the rules and services decide, and
`form_errors_from` puts a service's refusal beside the field it concerns."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import forms

from kontor.billing.forms import BillingDetailsForm, PaymentForm
from kontor.billing.payments import provider_choices
from kontor.billing.pricing import MAX_QUANTITY
from kontor.ledger.services import MAX_AMOUNT

SYSTEM = "system"
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")

TRANSFER_CONDITIONS = (
    "Transferred credits are applied at once. They can only come back by another transfer made by "
    "someone allowed to make it, and every transfer is logged for audit."
)


def new_idempotency_key() -> str:
    """A key for one confirmation page: submitting that page twice does the work once."""
    return "web-" + secrets.token_hex(16)


def clean_key(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if _KEY.match(text) else None


class PurchaseForm(BillingDetailsForm):
    """Step 1 of a purchase: for whom, how many, billing details and how to pay."""

    def __init__(self, *args: Any, targets: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        billing = dict(self.fields)
        self.fields.clear()
        self.fields["target"] = forms.ChoiceField(
            label="Purchase for",
            choices=targets,
            help_text="System credits (master users only) or the credits of one user.",
        )
        self.fields["quantity"] = forms.IntegerField(
            label="Quantity (SMS credits)", min_value=1, max_value=MAX_QUANTITY
        )
        self.fields.update(billing)
        self.fields["payment_method"] = forms.ChoiceField(
            label="Payment method", choices=provider_choices, widget=forms.RadioSelect
        )

    def billing_names(self) -> list[str]:
        return [n for n in self.fields if n not in ("target", "quantity", "payment_method")]


class CardForm(PaymentForm):
    """Card details for the test card provider (the provider checks them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["payment_method"]


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
