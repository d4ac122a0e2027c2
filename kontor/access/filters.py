"""The users FilterSet: it drives the users page, its htmx partial and its CSV export."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from kontor.access.models import Role, User
from kontor.core.scope import scoped
from kontor.tenancy.models import Account, Membership, Office, Team

YES_NO = [("", "Any"), ("true", "Yes"), ("false", "No")]


def _offices(request: HttpRequest) -> QuerySet[Office]:
    return scoped(request.scope, Office)  # type: ignore[attr-defined]


def _teams(request: HttpRequest) -> QuerySet[Team]:
    return scoped(request.scope, Team)  # type: ignore[attr-defined]


def _accounts(request: HttpRequest) -> QuerySet[Account]:
    return scoped(request.scope, Account).filter(status=Account.Status.ACTIVE)  # type: ignore[attr-defined]


def _roles(request: HttpRequest) -> QuerySet[Role]:
    # Nobody holds the Master user role through a membership: it comes with the master-user flag.
    roles = scoped(request.scope, Role).exclude(customer__isnull=True, slug="master")  # type: ignore[attr-defined]
    return roles.order_by("customer_id", "name")


class UserFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or email"}),
    )
    is_active = django_filters.BooleanFilter(label="Active", widget=forms.Select(choices=YES_NO))
    is_master = django_filters.BooleanFilter(label="Master user", widget=forms.Select(choices=YES_NO))
    office = django_filters.ModelChoiceFilter(label="Office", queryset=_offices, method="in_office", empty_label="Any")
    team = django_filters.ModelChoiceFilter(label="Team", queryset=_teams, empty_label="Any")
    # Account and role are applied together in filter_queryset: "role X in account Y" must be one
    # membership, not a role in one account and access to another.
    account = django_filters.ModelChoiceFilter(label="Account", queryset=_accounts, method="later", empty_label="Any")
    role = django_filters.ModelChoiceFilter(label="Role", queryset=_roles, method="later", empty_label="Any")

    class Meta:
        model = User
        fields: list[str] = []

    def search(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        for word in value.split()[:5]:
            queryset = queryset.filter(
                Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
            )
        return queryset

    def in_office(self, queryset: QuerySet[User], name: str, value: Office) -> QuerySet[User]:
        additional = scoped(self.request.scope, User).filter(additional_offices=value)  # type: ignore[union-attr]
        return queryset.filter(Q(primary_office=value) | Q(pk__in=additional.values("pk")))

    def later(self, queryset: QuerySet[User], name: str, value: Any) -> QuerySet[User]:
        return queryset

    def filter_queryset(self, queryset: QuerySet[User]) -> QuerySet[User]:
        queryset = super().filter_queryset(queryset)
        lookup = {}
        if self.form.cleaned_data.get("account") is not None:
            lookup["account"] = self.form.cleaned_data["account"]
        if self.form.cleaned_data.get("role") is not None:
            lookup["role"] = self.form.cleaned_data["role"]
        if lookup:
            members = scoped(self.request.scope, Membership).filter(**lookup)  # type: ignore[union-attr]
            queryset = queryset.filter(pk__in=members.values("user_id"))
        return queryset
