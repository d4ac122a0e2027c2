"""Filters of the contact lists; the same FilterSet drives the page and its CSV export."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from kontor.contacts.models import Contact, OptOut
from kontor.contacts.selectors import search_q


class ContactFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Phone or any value"}),
    )

    class Meta:
        model = Contact
        fields = ["q"]

    def search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(search_q(value)) if value.strip() else queryset


class OptOutFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(lookup_expr="icontains", label="Phone number")
    source = django_filters.ChoiceFilter(choices=OptOut.Source.choices, empty_label="Any source")

    class Meta:
        model = OptOut
        fields = ["phone", "source"]
