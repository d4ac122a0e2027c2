"""Forms of the contact pages. They check shape only; the services check values against the account's
custom column types and their field errors are placed beside these fields by name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from kontor.core.errors import DomainError
from kontor.tenancy.models import CustomColumn

_WIDGETS: dict[str, type[forms.Widget]] = {
    CustomColumn.Type.TEXT: forms.TextInput,
    CustomColumn.Type.NUMBER: forms.TextInput,
    CustomColumn.Type.DATE: forms.DateInput,
    CustomColumn.Type.EMAIL: forms.EmailInput,
    CustomColumn.Type.PHONE: forms.TextInput,
}
_INPUT_TYPES: dict[str, dict[str, str]] = {
    CustomColumn.Type.NUMBER: {"inputmode": "decimal"},
    CustomColumn.Type.DATE: {"type": "date", "placeholder": "YYYY-MM-DD"},
    CustomColumn.Type.PHONE: {"type": "tel", "autocomplete": "off"},
}


class PhonebookForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class ContactForm(forms.Form):
    """The phone number and one field per custom column of the account (`col_<id>`); the service names
    a bad value by its column name, which `field_errors` maps back to the field."""

    phone = forms.CharField(
        max_length=40,
        label="Phone number",
        help_text="International (+46701234567) or national in your country (070-123 45 67).",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, columns: list[CustomColumn], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        for column in columns:
            widget = _WIDGETS.get(column.type, forms.TextInput)(attrs=_INPUT_TYPES.get(column.type, {}))
            # Values are checked by the service (one rule for forms, API and import): plain text here.
            self.fields[self.key(column)] = forms.CharField(
                required=False, max_length=500, label=column.name, widget=widget, help_text=column.get_type_display()
            )

    @classmethod
    def initial_for(cls, phone: str, values: dict[str, str], columns: list[CustomColumn]) -> dict[str, str]:
        initial = {"phone": phone}
        for column in columns:
            initial[cls.key(column)] = values.get(str(column.pk), "")
        return initial

    @staticmethod
    def key(column: CustomColumn) -> str:
        return f"col_{column.pk}"

    def column_values(self) -> dict[str, str]:
        """{column name: value} as the services take them."""
        return {c.name: self.cleaned_data.get(self.key(c), "") or "" for c in self.columns}

    def field_errors(self, exc: DomainError) -> DomainError:
        """`exc` with its column-name fields renamed to this form's field names."""
        names = {c.name: self.key(c) for c in self.columns}
        renamed: dict[str, list[str]] = {}
        for name, messages in exc.fields.items():
            renamed.setdefault(names.get(name, name), []).extend(messages)
        return DomainError(exc.message, code=exc.code, fields=renamed)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, separated by , or ;, with a header row.")
    only_valid = forms.BooleanField(required=False, label="If some rows are not valid, import the valid rows anyway")


class OptOutForm(forms.Form):
    phone = forms.CharField(max_length=40, label="Phone number", widget=forms.TextInput(attrs={"type": "tel"}))
    note = forms.CharField(max_length=200, required=False)


FILTER_PREFIX = "filter-"


class BulkContactsForm(forms.Form):
    """What to do with the selected contacts of a phonebook. The chosen rows come as `ids` (checkboxes of
    the list, outside this form's fields) or, with `selection=all`, as the list's filter parameters
    prefixed with `filter-`."""

    action = forms.ChoiceField(
        label=gettext_lazy("With the selected contacts"),
        choices=[
            ("delete", gettext_lazy("Delete them")),
            ("move", gettext_lazy("Move them to another phonebook")),
            ("copy", gettext_lazy("Copy them to another phonebook")),
        ],
    )
    target = forms.TypedChoiceField(label=gettext_lazy("Other phonebook"), coerce=int, required=False, empty_value=None)
    selection = forms.ChoiceField(
        label=gettext_lazy("Which contacts"),
        choices=[("ids", gettext_lazy("The ones ticked")), ("all", gettext_lazy("All matching the filter"))],
        widget=forms.RadioSelect,
        initial="ids",
    )

    def __init__(self, *args: Any, targets: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        target = self.fields["target"]
        assert isinstance(target, forms.TypedChoiceField)
        target.choices = [("", "—"), *targets]

    @staticmethod
    def ids(data: Any) -> list[int]:
        """The ticked contact ids; anything not a number is left out (it could name no contact)."""
        return [int(v) for v in data.getlist("ids") if str(v).isdigit()]

    @staticmethod
    def filter_data(data: Any) -> dict[str, str]:
        return {k[len(FILTER_PREFIX) :]: v for k, v in data.items() if k.startswith(FILTER_PREFIX)}
