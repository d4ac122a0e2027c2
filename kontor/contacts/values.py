"""Checking one contact's values against the account's custom columns. Shared by the form services and
the CSV import, so a value accepted one way is accepted the other way too."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from kontor.core.errors import Invalid
from kontor.core.validation import e164
from kontor.tenancy.models import CustomColumn

MAX_VALUE_LENGTH = 500
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def clean_phone(value: str, region: str, *, field: str = "phone") -> str:
    """E.164, reading national numbers in `region` (the customer's country)."""
    text = (value or "").strip()
    if not text:
        raise Invalid.field(field, "A phone number is required.")
    if len(text) > 40:
        raise Invalid.field(field, "A phone number can be at most 40 characters.")
    return e164(text, region=region, field=field)


def clean_value(column: CustomColumn, value: str | None, region: str) -> str:
    """The canonical text of `value` for `column`, "" for blank; Invalid (field = the column name)."""
    text = ("" if value is None else str(value)).strip()
    if not text:
        return ""
    name = column.name
    if len(text) > MAX_VALUE_LENGTH:
        raise Invalid.field(name, f"{name}: at most {MAX_VALUE_LENGTH} characters.")
    if "\x00" in text:
        raise Invalid.field(name, f"{name}: contains a NUL character.")
    kind = column.type
    if kind == CustomColumn.Type.NUMBER:
        try:
            number = Decimal(text.replace(" ", ""))
        except InvalidOperation:
            raise Invalid.field(name, f"{name}: “{text}” is not a number (use digits and a . for decimals).") from None
        if not number.is_finite() or abs(number.adjusted()) > 30:
            raise Invalid.field(name, f"{name}: “{text}” is not a usable number.")
        return format(number, "f")
    if kind == CustomColumn.Type.DATE:
        try:
            if not _DATE.match(text):
                raise ValueError
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise Invalid.field(name, f"{name}: “{text}” is not a date in the form YYYY-MM-DD.") from None
    if kind == CustomColumn.Type.EMAIL:
        try:
            validate_email(text)
        except ValidationError:
            raise Invalid.field(name, f"{name}: “{text}” is not an email address.") from None
        return text
    if kind == CustomColumn.Type.PHONE:
        try:
            return e164(text, region=region, field=name)
        except Invalid:
            raise Invalid.field(name, f"{name}: “{text}” is not a valid phone number.") from None
    return text


def search_text(phone: str, values: Mapping[str, str], keys: Collection[str] | None = None) -> str:
    """What "search any value" matches; with `keys` (the account's columns in use), the values a removed
    column still holds for its 30 days of grace are left out, so a hidden value finds nothing."""
    return "\n".join([phone, *(v for k, v in values.items() if v and (keys is None or k in keys))]).lower()


def columns_by_name(columns: Iterable[CustomColumn]) -> dict[str, CustomColumn]:
    return {c.name.lower(): c for c in columns}
