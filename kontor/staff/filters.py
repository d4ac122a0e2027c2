"""FilterSets of the staff lists (customers, audit). Each drives its page, its CSV export and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Customer
from kontor.tenancy.selectors import subscriber_pk
from kontor.web.choices import country_choices
from kontor.web.filtering import DateFromFilter, DateToFilter


def search_customers(queryset: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Customers matched by one search box: the email or name of any of their users, the company name,
    the subscriber ID (S000012 or 12) or the billing ID."""
    text = (text or "").strip()
    if not text:
        return queryset
    match = Q(billing_id__icontains=text) | Q(users__email__icontains=text)
    pk = subscriber_pk(text)
    if pk is not None:
        match |= Q(pk=pk)
    # "Mia Master" or "acme mia": every word must be found in the company name or in the same user's name.
    words = text.split()[:6]
    by_name = Q()
    for word in words:
        by_name &= Q(name__icontains=word) | Q(users__first_name__icontains=word) | Q(users__last_name__icontains=word)
    match |= by_name
    # A subquery keeps the joins to users out of the outer query, so annotations there stay per customer.
    return queryset.filter(pk__in=Customer.objects.filter(match).values("pk"))


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_q",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Email, name, subscriber ID or billing ID", "size": 36}
        ),
    )
    status = django_filters.ChoiceFilter(label="Status", choices=Customer.Status.choices, empty_label="Any")
    country = django_filters.ChoiceFilter(label="Country", choices=country_choices, empty_label="Any")

    class Meta:
        model = Customer
        fields = ["q", "status", "country"]

    def filter_q(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return search_customers(queryset, value)


class AuditFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(
        label="Customer",
        method="filter_customer",
        widget=forms.TextInput(attrs={"placeholder": "S000012 or 12", "size": 10}),
    )
    action = django_filters.CharFilter(
        label="Action",
        lookup_expr="istartswith",
        widget=forms.TextInput(attrs={"placeholder": "e.g. customer. or user.create", "size": 18}),
    )
    actor = django_filters.CharFilter(
        label="Actor", field_name="actor_label", lookup_expr="icontains", widget=forms.TextInput(attrs={"size": 18})
    )
    object_type = django_filters.CharFilter(
        label="Object type",
        lookup_expr="iexact",
        widget=forms.TextInput(attrs={"placeholder": "e.g. user", "size": 10}),
    )
    date_from = DateFromFilter(label="From", field_name="created_at")
    date_to = DateToFilter(label="To", field_name="created_at")

    class Meta:
        model = AuditEntry
        fields = ["customer", "action", "actor", "object_type", "date_from", "date_to"]

    def filter_customer(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        pk = subscriber_pk(value)
        if pk is None:
            return queryset.none()
        return queryset.filter(customer_id=pk)
