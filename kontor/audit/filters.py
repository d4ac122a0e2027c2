"""One FilterSet drives the audit list, its CSV export and the audit API list."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from kontor.audit.models import AuditEntry
from kontor.web.filtering import DateFromFilter, DateToFilter, OpenChoiceField


class _OpenChoiceFilter(django_filters.ChoiceFilter):
    field_class = OpenChoiceField


class AuditFilter(django_filters.FilterSet):
    action = _OpenChoiceFilter(
        choices=[],
        empty_label="Any action",
        method="filter_action",
    )
    actor = django_filters.CharFilter(
        field_name="actor_label",
        lookup_expr="icontains",
        label="Actor",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "email contains"}),
    )
    object_type = _OpenChoiceFilter(
        choices=[], empty_label="Any object", label="Object type", method="filter_object_type"
    )
    date_from = DateFromFilter(field_name="created_at", label="From")
    date_to = DateToFilter(field_name="created_at", label="To")
    q = django_filters.CharFilter(
        field_name="object_repr",
        lookup_expr="icontains",
        label="Object",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name contains"}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices come from the (already scoped) rows, so one customer never learns another's actions.
        base = self.queryset.order_by()
        for name in ("action", "object_type"):
            values = base.values_list(name, flat=True).distinct().order_by(name)
            self.filters[name].extra["choices"] = [(v, v) for v in values if v]

    def filter_action(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        # "account.create" exactly; "account" (as integrations ask) every account.* action.
        action = value.strip()
        if "." in action:
            return queryset.filter(action=action)
        return queryset.filter(action__startswith=f"{action}.")

    def filter_object_type(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        return queryset.filter(object_type=value.strip())
