"""One FilterSet drives the transaction search page, its CSV export and the API list and export.
Support (search by mobile number only) gets a FilterSet with that one field, and no rows without it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from kontor.core import phone
from kontor.messaging.models import Campaign, Direction, InboundRejection, Message, Status
from kontor.web.filtering import DateFromFilter, DateToFilter


def normalise_mobile(value: str, region: str) -> str:
    """E.164 for anything phonenumbers can read (with the customer's country as default region), else
    "+" and the digits typed; matching is exact, so a partial number finds nothing."""
    number = phone.e164(value, region=region, check=phone.Check.NONE)
    if number is not None:
        return number
    digits = "".join(ch for ch in (value or "") if ch.isdigit())
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
    date_from = DateFromFilter(field_name="created_at", label="From")
    date_to = DateToFilter(field_name="created_at", label="To")
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


class InboundRejectionFilter(django_filters.FilterSet):
    reason = django_filters.ChoiceFilter(choices=InboundRejection.Reason.choices, empty_label="Any reason")
    to_number = django_filters.CharFilter(
        method="filter_to_number",
        label="To number",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "+46701234567 or 72000"}),
    )
    date_from = DateFromFilter(field_name="at", label="From")
    date_to = DateToFilter(field_name="at", label="To")

    class Meta:
        model = InboundRejection
        fields: list[str] = []

    def filter_to_number(self, qs: QuerySet[InboundRejection], name: str, value: str) -> QuerySet[InboundRejection]:
        # People type numbers with spaces and dashes; stored ones have none. A part of a number matches too.
        cleaned = "".join(ch for ch in value if not ch.isspace() and ch != "-")
        return qs.filter(to_number__icontains=cleaned) if cleaned else qs


class CampaignFilter(django_filters.FilterSet):
    """The campaign list's filters: the page and the API list."""

    name = django_filters.CharFilter(lookup_expr="icontains", label="Name")
    status = django_filters.ChoiceFilter(choices=Campaign.State.choices, empty_label="Any status")

    class Meta:
        model = Campaign
        fields = ["name", "status"]
