"""FilterSets of the number lists; each drives its page and its CSV export."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from kontor.numbers.models import KeywordOrder, Number
from kontor.tenancy.selectors import subscriber_pk
from kontor.web.choices import country_choices


class NumberFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Number",
        field_name="value",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search", "size": 16}),
    )
    kind = django_filters.ChoiceFilter(label="Kind", choices=Number.Kind.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(label="Status", choices=Number.Status.choices, empty_label="Any")
    country = django_filters.ChoiceFilter(label="Country", choices=country_choices, empty_label="Any")
    customer = django_filters.CharFilter(
        label="Customer",
        method="filter_customer",
        widget=forms.TextInput(attrs={"placeholder": "S000012 or name", "size": 14}),
    )

    class Meta:
        model = Number
        fields = ["q", "kind", "status", "country", "customer"]

    def filter_customer(self, queryset: QuerySet[Number], name: str, value: str) -> QuerySet[Number]:
        value = value.strip()
        match = Q(customer__name__icontains=value)
        pk = subscriber_pk(value)
        if pk is not None:
            match |= Q(customer_id=pk)
        return queryset.filter(match)


class KeywordOrderFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label="Status", choices=KeywordOrder.Status.choices, empty_label="Any")

    class Meta:
        model = KeywordOrder
        fields = ["status"]
