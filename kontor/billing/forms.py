"""Forms for billing: what a purchase asks for (billing details, payment) and the staff price editors.
They collect input; the services validate it and `form_errors_from` puts their messages by the fields."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from django import forms

from kontor.billing.invoices import BILLING_FIELDS
from kontor.billing.models import FALLBACK_COUNTRY, PriceList
from kontor.billing.payments import provider_choices
from kontor.billing.pricing import MAX_QUANTITY, MICRO
from kontor.web.choices import country_choices as countries

_AUTOCOMPLETE = {
    "company": "organization",
    "contact_name": "name",
    "address_line1": "address-line1",
    "address_line2": "address-line2",
    "postal_code": "postal-code",
    "city": "address-level2",
    "email": "email",
}


class BillingDetailsForm(forms.Form):
    """The billing details of a purchase, printed on the invoice. Checked by clean_billing_details."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (label, max_length) in BILLING_FIELDS.items():
            attrs = {"autocomplete": _AUTOCOMPLETE.get(name, "off")}
            if name == "email":
                attrs["type"] = "email"
            self.fields[name] = forms.CharField(
                label=label, required=False, max_length=max_length, widget=forms.TextInput(attrs=attrs)
            )
        self.fields["company"].help_text = "The company or a contact name is required."

    def details(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in BILLING_FIELDS}


class PaymentForm(forms.Form):
    """Payment method and, for the test card, the card details (checked by the provider)."""

    payment_method = forms.ChoiceField(label="Payment method", choices=provider_choices, widget=forms.RadioSelect)
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
        help_text="Test card: 4242 4242 4242 4242 is approved; 4000 0000 0000 0002 is declined.",
    )
    expiry = forms.CharField(
        label="Expiry (MM/YY)",
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "MM/YY"}),
    )
    cvc = forms.CharField(
        label="CVC",
        required=False,
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    def details(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in ("card_number", "expiry", "cvc")}


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


# --- staff: prices -------------------------------------------------------------------------------


class PriceListForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    currency = forms.CharField(label="Currency", max_length=3, help_text="ISO 4217, e.g. SEK, EUR, GBP.")
    is_active = forms.BooleanField(label="Active", required=False, initial=True)


class TierForm(forms.Form):
    min_quantity = forms.IntegerField(
        label="From quantity",
        min_value=1,
        max_value=MAX_QUANTITY,
        help_text="This price applies from this many credits.",
    )
    unit_price = forms.DecimalField(
        label="Price per credit",
        min_value=Decimal("0.000001"),
        max_digits=10,
        decimal_places=6,
        help_text="In the list's currency, up to six decimals, e.g. 0.35.",
    )

    def unit_price_micro(self) -> int:
        return int(self.cleaned_data["unit_price"] * MICRO)


@cache
def country_choices() -> list[tuple[str, str]]:
    return [(FALLBACK_COUNTRY, f"All other countries ({FALLBACK_COUNTRY})"), *countries()]


class CountryTaxForm(forms.Form):
    country = forms.ChoiceField(label="Country", choices=country_choices)
    vat_rate = forms.DecimalField(
        label="VAT rate (%)", min_value=Decimal(0), max_value=Decimal(100), max_digits=5, decimal_places=2
    )
    price_list = forms.ModelChoiceField(
        label="Price list", queryset=PriceList.objects.order_by("name"), help_text="Its currency is the country's."
    )

    def vat_rate_bp(self) -> int:
        return int(self.cleaned_data["vat_rate"] * 100)
