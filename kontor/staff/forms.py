"""Forms of the provider staff pages. They collect input; the services validate it and say what is wrong,
and `form_errors_from` puts those messages beside the fields."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms

from kontor.access.perms import StaffRole
from kontor.tenancy.models import CreditMode, Customer, Feature
from kontor.web.choices import country_choices

DEFAULT_TIME_ZONE = "Europe/Stockholm"
DEFAULT_COUNTRY = "SE"


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


def _text(label: str, *, required: bool = True, max_length: int = 200, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, required=required, max_length=max_length, **kwargs)


class OnboardForm(forms.Form):
    """The manual's "Add Enterprise Account" form, plus company name and country."""

    first_name = _text("First Name", max_length=80)
    last_name = _text("Last Name", max_length=80)
    email = forms.EmailField(
        label="Email Address",
        max_length=254,
        help_text="Also the user's login ID and the default contact email address.",
    )
    phone = _text(
        "Phone Number",
        required=False,
        max_length=40,
        help_text="The contact phone number (international form, e.g. +46701234567), not a DNIS.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    time_zone = forms.ChoiceField(label="Time Zone", choices=time_zone_choices, initial=DEFAULT_TIME_ZONE)
    billing_id = _text(
        "Billing ID",
        max_length=100,
        help_text="Must contain an entry, but any value is accepted: "
        "enter e.g. <code>not_used</code> if you do not use billing IDs.",
    )
    company_name = _text(
        "Company name",
        required=False,
        help_text="Optional; without one the customer is named after the person.",
    )
    country = forms.ChoiceField(label="Country", choices=country_choices, initial=DEFAULT_COUNTRY)


class CustomerEditForm(forms.Form):
    name = _text("Company name")
    billing_id = _text("Billing ID", max_length=100)
    time_zone = forms.ChoiceField(label="Time zone", choices=time_zone_choices)
    country = forms.ChoiceField(label="Country", choices=country_choices)
    status = forms.ChoiceField(label="Status", choices=Customer.Status.choices)

    @classmethod
    def for_customer(cls, customer: Customer, data: Any = None) -> CustomerEditForm:
        initial = {f: getattr(customer, f) for f in ("name", "billing_id", "time_zone", "country", "status")}
        return cls(data, initial=initial, prefix="edit")


class FeaturesForm(forms.Form):
    features = forms.MultipleChoiceField(label="Enabled features", required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["features"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(f.code, f.name) for f in Feature.objects.order_by("name")]

    @classmethod
    def for_customer(cls, customer: Customer, data: Any = None) -> FeaturesForm:
        codes = list(customer.features.values_list("code", flat=True))
        return cls(data, initial={"features": codes}, prefix="features")


class CreditModeForm(forms.Form):
    credit_mode = forms.ChoiceField(label="Credit mode", choices=CreditMode.choices, widget=forms.RadioSelect)

    @classmethod
    def for_customer(cls, customer: Customer, data: Any = None) -> CreditModeForm:
        return cls(data, initial={"credit_mode": customer.credit_mode}, prefix="credit")


class VerifyCallerForm(forms.Form):
    """The caller's user, and what they say: a PIN or the answer to their security question."""

    user = forms.TypedChoiceField(label="Caller", coerce=int)
    pin = _text(
        "PIN",
        required=False,
        max_length=8,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    answer = _text(
        "Security answer",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Compared without regard to case or extra spaces.",
    )

    def __init__(self, *args: Any, users: list[Any] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        kwargs.setdefault("prefix", "verify")
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (
                u.pk,
                f"{u.full_name} <{u.email}> · question: {u.security_question or '(none set)'}",
            )
            for u in users
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pin, answer = (data.get("pin") or "").strip(), (data.get("answer") or "").strip()
        if not pin and not answer:
            self.add_error("pin", "Enter the PIN or the security answer the caller gives.")
        elif pin and answer:
            self.add_error(None, "Check one thing at a time: the PIN or the security answer.")
        return data


class CostCenterForm(forms.Form):
    code = _text("Code", max_length=32)
    name = _text("Name", max_length=120)
    customer = forms.ModelChoiceField(
        label="Only for customer",
        queryset=Customer.objects.order_by("name"),
        required=False,
        empty_label="Any customer",
        help_text="Leave empty to let every customer's accounts use this cost center.",
    )


class FeatureForm(forms.Form):
    code = forms.SlugField(label="Code", max_length=64, help_text="A short stable identifier, e.g. ivr.")
    name = _text("Name", max_length=120)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea)


class StaffUserForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, help_text="Also the login ID.")
    first_name = _text("First name", max_length=80)
    last_name = _text("Last name", max_length=80)
    staff_role = forms.ChoiceField(label="Staff role", choices=[(r.value, r.label) for r in StaffRole])


class AllowlistClearForm(forms.Form):
    """Clearing a customer's IP allowlist: a reason for the audit log and the master users' mail, and an
    explicit confirmation, because it opens the customer's sign-in to every address."""

    reason = _text(
        "Reason",
        required=False,
        max_length=200,
        help_text="Recorded in the audit log and sent to the customer's master users.",
    )
    confirm = forms.BooleanField(
        label="I have verified the caller; the customer's users may sign in from any address until they set a new list",
        required=True,
        error_messages={"required": "Tick this to confirm; nothing was changed."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "allowlist")
        super().__init__(*args, **kwargs)
