"""Forms of the number pages. Choices of tenant rows are passed in by the views, already scoped."""

from __future__ import annotations

from typing import Any

from django import forms

from kontor.numbers.models import KEYWORD_MAX, Number
from kontor.web.choices import country_choices

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class NumberForm(forms.Form):
    value = forms.CharField(label="Number", max_length=30, help_text="E.164 (+46701234567) or short code digits")
    kind = forms.ChoiceField(label="Kind", choices=Number.Kind.choices)
    country = forms.ChoiceField(label="Country", choices=country_choices, initial="SE")
    operator = forms.CharField(label="Operator", max_length=80, required=False)
    two_way = forms.BooleanField(label="Activated for two-way traffic (can receive)", required=False)


class NumberEditForm(forms.Form):
    operator = forms.CharField(label="Operator", max_length=80, required=False)
    two_way = forms.BooleanField(label="Activated for two-way traffic (can receive)", required=False)
    suspended = forms.BooleanField(label="Suspended", required=False)


class NumberImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: <code>value,kind,country</code> and optionally <code>operator,two_way</code> "
        "(kind: short_code, long_code or dnis; two_way: yes or no).",
    )
    only_valid = forms.BooleanField(
        label="Import only the valid rows (otherwise nothing is imported while any row is bad)", required=False
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB; split it.")
        return upload


class AssignNumberForm(forms.Form):
    phone_number = forms.CharField(label="Phone Number", max_length=30)
    subscriber_id = forms.CharField(
        label="Subscriber ID", max_length=20, help_text="From Subscriber lookup, e.g. S000012 (or 12)"
    )
    force = forms.BooleanField(label="Unassign even while accounts use it", required=False)


class MoNumberForm(forms.Form):
    number = forms.ModelChoiceField(
        label="MO number",
        queryset=Number.objects.none(),
        required=False,
        empty_label="Default number (cannot receive messages or replies)",
    )

    def __init__(self, *args: Any, numbers: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["number"].queryset = numbers  # type: ignore[attr-defined]
        self.fields["number"].label_from_instance = _number_label  # type: ignore[attr-defined]


def _number_label(number: Number) -> str:
    receive = "two-way" if number.two_way else "cannot receive"
    return f"{number.value} · {number.get_kind_display()} · {receive}"


class KeywordForm(forms.Form):
    word = forms.CharField(label="Keyword", max_length=KEYWORD_MAX, help_text="Letters and digits, any case")


class UnmatchedForm(forms.Form):
    account = forms.TypedChoiceField(label="Receives unmatched messages", coerce=int)

    def __init__(self, *args: Any, accounts: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(a.pk, a.name) for a in accounts]  # type: ignore[attr-defined]


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason (the customer sees it)", max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )
