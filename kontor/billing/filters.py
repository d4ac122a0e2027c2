"""One FilterSet drives the invoice list, its CSV export and the invoices API list."""

from __future__ import annotations

import django_filters
from django import forms

from kontor.billing.models import Invoice
from kontor.web.filtering import DateFromFilter, DateToFilter


class InvoiceFilter(django_filters.FilterSet):
    number = django_filters.CharFilter(
        lookup_expr="icontains",
        label="Number",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "KON-2026-…"}),
    )
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices, empty_label="Any status")
    date_from = DateFromFilter(field_name="issued_at", label="From")
    date_to = DateToFilter(field_name="issued_at", label="To")

    class Meta:
        model = Invoice
        fields: list[str] = []
