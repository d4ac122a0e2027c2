"""Forms of the account, office/team and security pages. They only shape input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from kontor.numbers.models import Number
from kontor.tenancy.models import MAX_CUSTOM_COLUMNS, CostCenter, CustomColumn, Customer, Office
from kontor.tenancy.services import ColumnSpec

OFFICE_HOURS_HELP = (
    "If this is selected, campaigns can only be sent from 10:00 to 17:00 on weekdays. "
    "Sending during public holidays will also be blocked."
)
COST_CENTER_HELP = (
    "The cost center billed for all costs incurred by this account. Accounts are billed separately only "
    "when they use different cost centers. Cost centers are set up by your Technical Account Manager."
)
MO_NUMBER_HELP = (
    "The number this account sends from and receives on. Without an activated two-way MO number, the "
    "provider's default number is used: that number cannot receive SMS messages or replies. To have an "
    "activated MO number, contact your Technical Account Manager."
)


def _number_label(number: Number) -> str:
    receive = "two-way" if number.two_way else "cannot receive"
    return f"{number.value} · {number.get_kind_display()} · {receive}"


class AccountForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=120)
    cost_center = forms.ModelChoiceField(
        queryset=CostCenter.objects.none(),
        required=False,
        empty_label="— none —",
        help_text=COST_CENTER_HELP,
    )
    mo_number = forms.ModelChoiceField(
        label="MO number",
        queryset=Number.objects.none(),
        required=False,
        empty_label="Default number (cannot receive messages or replies)",
        help_text=MO_NUMBER_HELP,
    )
    office_hours_only = forms.BooleanField(
        label="Only send during office hours", required=False, help_text=OFFICE_HOURS_HELP
    )
    # Not an input: it carries the custom-column errors the service reports, shown above the columns.
    custom_columns = forms.CharField(required=False, widget=forms.HiddenInput)
    # Offered once the service said a column change would hide or clear contact values.
    confirm_column_changes = forms.BooleanField(
        label="Yes, change the columns: hide or clear these values as described", required=False
    )

    def __init__(self, *args: Any, customer: Customer, numbers: QuerySet[Number] | None = None, **kwargs: Any) -> None:
        """`numbers`: the MO numbers to offer, already scoped to the customer by the view."""
        super().__init__(*args, **kwargs)
        field = self.fields["cost_center"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = CostCenter.objects.filter(CostCenter.available_q(customer))
        mo = self.fields["mo_number"]
        assert isinstance(mo, forms.ModelChoiceField)
        mo.queryset = numbers if numbers is not None else Number.objects.none()
        mo.label_from_instance = _number_label  # type: ignore[assignment]
        for i in range(1, MAX_CUSTOM_COLUMNS + 1):
            self.fields[f"col_{i}_name"] = forms.CharField(label=f"Column {i} name", max_length=40, required=False)
            self.fields[f"col_{i}_type"] = forms.ChoiceField(
                label=f"Column {i} type", choices=CustomColumn.Type.choices, required=False, initial="text"
            )

    def column_rows(self) -> list[tuple[int, forms.BoundField, forms.BoundField]]:
        return [(i, self[f"col_{i}_name"], self[f"col_{i}_type"]) for i in range(1, MAX_CUSTOM_COLUMNS + 1)]

    def column_specs(self) -> list[ColumnSpec]:
        specs = []
        for i in range(1, MAX_CUSTOM_COLUMNS + 1):
            name = (self.cleaned_data.get(f"col_{i}_name") or "").strip()
            if name:
                specs.append(ColumnSpec(name=name, type=self.cleaned_data.get(f"col_{i}_type") or "text"))
        return specs

    @staticmethod
    def initial_for(account: Any, columns: list[CustomColumn], mo_number: Number | None = None) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "mo_number": mo_number.pk if mo_number else None,
            "name": account.name,
            "cost_center": account.cost_center_id,
            "office_hours_only": account.office_hours_only,
        }
        for i, col in enumerate(columns, start=1):
            initial[f"col_{i}_name"] = col.name
            initial[f"col_{i}_type"] = col.type
        return initial


class OfficeForm(forms.Form):
    name = forms.CharField(label="Office name", max_length=120)
    address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000)


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=120)
    office: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, required=False, empty_label="— no office —")

    def __init__(self, *args: Any, offices: QuerySet[Office], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["office"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = offices


class AllowlistForm(forms.Form):
    entries = forms.CharField(
        label="Allowed addresses",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            "One IPv4 or IPv6 address or CIDR subnet per line, e.g. <code>203.0.113.7</code>, "
            "<code>198.51.100.0/24</code>, <code>2001:db8::/32</code>. Text after <code>#</code> is a "
            "comment. Leave the list empty to allow sign-in from any address."
        ),
    )
    confirm_lockout = forms.BooleanField(label="I understand I will be locked out", required=False)

    def lines(self) -> list[str]:
        return (self.cleaned_data.get("entries") or "").splitlines()
