"""Reads of the provider staff pages and API."""

from __future__ import annotations

from django.db.models import Min, Q, QuerySet

from kontor.tenancy.models import Customer


def customers_with_master() -> QuerySet[Customer]:
    """The provider's customers, each with its (first) master user's email."""
    return Customer.objects.annotate(
        master_email=Min("users__email", filter=Q(users__is_master=True, users__is_active=True))
    ).order_by("name", "pk")
