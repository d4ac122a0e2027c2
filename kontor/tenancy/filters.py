"""The accounts list's FilterSet: the page and the accounts API list."""

from __future__ import annotations

import django_filters

from kontor.tenancy.models import Account


class AccountFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name")
    status = django_filters.ChoiceFilter(choices=Account.Status.choices, empty_label="Any status")

    class Meta:
        model = Account
        fields = ["name", "status"]
