"""One FilterSet drives the transaction search page, its CSV export and (by the same rules) the API.
Support (search by mobile number only) gets a FilterSet with that one field, and no rows without it."""

from __future__ import annotations

from typing import Any

import django_filters
import phonenumbers
from django import forms
from django.db.models import Q, QuerySet

from kontor.messaging.models import Direction, Message, Status


def normalise_mobile(value: str, region: str) -> str:
    """E.164 for anything phonenumbers can read (with the customer's country as default region), else
    "+" and the digits typed; matching is exact, so a partial number finds nothing."""
    text = (value or "").strip()
    try:
        number = phonenumbers.parse(text, region or None)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in text if ch.isdigit())
        return "+" + digits if digits else ""


def by_mobile(qs: QuerySet[Message], value: str, region: str) -> QuerySet[Message]:
    number = normalise_mobile(value, region)
    if not number:
        return qs.none()
    return qs.filter(Q(to_number=number) | Q(from_number=number))


class _Base(django_filters.FilterSet):
    mobile = django_filters.CharFilter(
        method="filter_mobile",
        label="Mobile number",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "+46701234567"}),
    )

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        scope = getattr(request, "scope", None)
        self.region = scope.customer.country if scope is not None else ""

    def filter_mobile(self, qs: QuerySet[Message], name: str, value: str) -> QuerySet[Message]:
        return by_mobile(qs, value, self.region) if value else qs


class MessageFilter(_Base):
    date_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="Any status")
    direction = django_filters.ChoiceFilter(choices=Direction.choices, empty_label="Both directions")
    q = django_filters.CharFilter(
        field_name="text",
        lookup_expr="icontains",
        label="Keyword",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Words in the message"}),
    )

    class Meta:
        model = Message
        fields: list[str] = []


class MobileOnlyFilter(_Base):
    """Support's search: one field, and nothing shown until a number is given."""

    class Meta:
        model = Message
        fields: list[str] = []

    @property
    def qs(self) -> QuerySet[Message]:
        if not (self.form.is_valid() and self.form.cleaned_data.get("mobile")):
            return self.queryset.none()  # type: ignore[no-any-return]
        return super().qs  # type: ignore[no-any-return]
