"""One FilterSet drives the invoice list and its CSV export."""

from __future__ import annotations

import django_filters
from django import forms

from kontor.billing.models import Invoice


class InvoiceFilter(django_filters.FilterSet):
    number = django_filters.CharFilter(
        lookup_expr="icontains",
        label="Number",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "KON-2026-…"}),
    )
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices, empty_label="Any status")
    date_from = django_filters.DateFilter(
        field_name="issued_at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        field_name="issued_at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Invoice
        fields: list[str] = []
